package compose

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// The docs' tables must decide the fate of every compose key: a key
// compose-go learns in an update, and Haven does not document, fails here.

// docFile is the table of compose keys, relative to this package.
const docFile = "../../docs/compose.md"

// composeKeys lists every key compose-go's types know, as dotted paths
// from the top of a compose file; list items and map entries add no step.
// include and version are read by the loader, not by types.Project.
func composeKeys() []string {
	keys := []string{"include", "version"}
	keys = append(keys, prefixed("include.", yamlKeys(typeOf[types.IncludeConfig]()))...)
	var walk func(prefix string, t reflect.Type, depth int)
	walk = func(prefix string, t reflect.Type, depth int) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || depth > 8 {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if strings.Contains(opts, "inline") && !strings.HasPrefix(name, "#") {
				walk(prefix, f.Type, depth)
				continue
			}
			if name == "" || name == "-" || strings.HasPrefix(name, "#") {
				continue
			}
			keys = append(keys, prefix+name)
			walk(prefix+name+".", f.Type, depth+1)
		}
	}
	walk("", topKnown, 0)
	keys = append(keys, "services.x-haven")
	sort.Strings(keys)
	return slices.Compact(keys)
}

func prefixed(p string, keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = p + k
	}
	return out
}

// docRow is one key's row.
type docRow struct {
	file, fate string
}

// refused reports whether the row's fate refuses the key. Fates are
// written "supported", "differs" (or "supported with a stated
// difference", "supported, …"), "warned" or "refused".
func (r docRow) refused() bool { return strings.HasPrefix(r.fate, "refused") }

var (
	reRow  = regexp.MustCompile(`^\|([^|]*)\|([^|]*)\|`)
	reCode = regexp.MustCompile("`([^`]+)`")
	// topLevel are the first steps of a key's path; a key starting with
	// none of them is a service key (`cap_add`, `restart: on-failure:N`).
	topLevel = []string{"services", "volumes", "networks", "secrets", "configs", "include", "jobs", "models", "name", "version"}
)

// docKey turns a row's backticked key into a path: the key alone (without
// a value, "restart: on-failure:N" is restart), from the top of the file.
func docKey(s string) string {
	s, _, _ = strings.Cut(s, ":")
	s = strings.TrimSpace(s)
	first, _, _ := strings.Cut(s, ".")
	if !slices.Contains(topLevel, first) {
		return "services." + s
	}
	return s
}

// readDocRows reads every markdown table row of docs/compose.md: the
// keys (in backticks) of the first cell, and the second cell's fate. A key
// may have more than one row only with the same verdict.
func readDocRows(t *testing.T) map[string]docRow {
	t.Helper()
	rows := map[string]docRow{}
	data, err := os.ReadFile(docFile)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		m := reRow.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		fate := strings.ToLower(strings.TrimSpace(m[2]))
		for _, c := range reCode.FindAllStringSubmatch(m[1], -1) {
			key := docKey(c[1])
			row := docRow{file: filepath.Base(docFile), fate: fate}
			if prev, dup := rows[key]; dup && prev.refused() != row.refused() {
				t.Errorf("%s:%d: key %s is %s here and %s above; give it one fate", row.file, i+1, key, row.fate, prev.fate)
			}
			rows[key] = row
		}
	}
	return rows
}

// covering returns the row that decides key: its own; the nearest
// `parent.*` row above it; or the nearest parent's row when no key just
// below that parent has a row of its own (a row for `ulimits` decides
// ulimits.soft, unless the file lists ulimits' keys one by one).
func covering(rows map[string]docRow, key string) (docRow, bool) {
	if r, ok := rows[key]; ok {
		return r, true
	}
	for p := key; strings.Contains(p, "."); {
		p = p[:strings.LastIndex(p, ".")]
		if r, ok := rows[p+".*"]; ok {
			return r, true
		}
		if r, ok := rows[p]; ok && p != "services" && !hasChildRows(rows, p) {
			return r, true
		}
	}
	return docRow{}, false
}

func hasChildRows(rows map[string]docRow, parent string) bool {
	for k := range rows {
		if strings.HasPrefix(k, parent+".") {
			return true
		}
	}
	return false
}

func TestDocsCoverEveryComposeKey(t *testing.T) {
	rows := readDocRows(t)
	fates := []string{"supported", "differs", "warned", "refused"}
	for key, r := range rows {
		if !slices.ContainsFunc(fates, func(f string) bool { return strings.HasPrefix(r.fate, f) }) {
			t.Errorf("%s: key %s has fate %q; begin it with one of %s", r.file, key, r.fate, strings.Join(fates, ", "))
		}
	}
	known := composeKeys()
	for _, key := range known {
		if strings.HasPrefix(key, "jobs.") || strings.HasPrefix(key, "models.") {
			continue // under a refused top-level key (the `.*` row)
		}
		if _, ok := covering(rows, key); !ok {
			t.Errorf("compose key %s has no row in docs/compose.md: say whether Haven supports it, how it differs, or why it is refused", key)
		}
	}
	// A row for a key compose does not know is a typo.
	for key, r := range rows {
		k := strings.TrimSuffix(key, ".*")
		if !slices.Contains(known, k) {
			t.Errorf("%s: row for %s, which is not a compose key", r.file, key)
		}
	}
}

// TestDocsMatchTheLoader checks each documented fate against the rules the
// loader applies: a refused key is one checkKeys refuses, and a key
// documented as supported, differing or warned is one it lets through.
func TestDocsMatchTheLoader(t *testing.T) {
	rows := readDocRows(t)
	tops := map[string]*keyRule{
		"services": serviceRule, "volumes": volumeRule, "networks": networkRule,
		"secrets": secretRule, "configs": configRule, "include": includeRule,
	}
	for key, r := range rows {
		path := strings.Split(strings.TrimSuffix(key, ".*"), ".")
		rule, ok := tops[path[0]]
		if !ok || len(path) == 1 {
			continue // top-level keys: checkKeys' switch
		}
		accepted, parent, prefix := acceptedBy(rule, path[1:])
		if refused := r.refused(); refused == accepted {
			t.Errorf("%s: %s is documented %s, but the loader %s it", r.file, key, r.fate, map[bool]string{true: "accepts", false: "refuses"}[accepted])
		}
		// A refusal says why and what to write instead.
		if !accepted && hintFor(parent, prefix, path[len(path)-1]) == "" {
			t.Errorf("%s: %s is refused without a hint: add one to keyHints or its rule's hints", r.file, key)
		}
	}
}

// acceptedBy reports whether rule lets the key at path through; when it
// does not, it returns the rule of the level that refuses it and that
// level's dotted prefix, as checkMapping sees them.
func acceptedBy(rule *keyRule, path []string) (bool, *keyRule, string) {
	prefix := ""
	for _, k := range path {
		if rule == nil {
			return true, nil, "" // nothing below is checked
		}
		for rule.items != nil || rule.entries != nil {
			if rule.items != nil {
				rule = rule.items
			} else {
				rule = rule.entries
			}
		}
		if rule.fields == nil {
			return true, nil, ""
		}
		sub, ok := rule.fields[k]
		if !ok {
			return false, rule, prefix
		}
		rule = sub
		prefix += k + "."
	}
	return true, nil, ""
}
