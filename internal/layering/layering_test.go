package layering

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/haven-platform/haven/"

// pkg is one package of the module: its directory and its non-test imports.
type pkg struct {
	path    string // relative to the module root, e.g. internal/store/bolt
	dir     string
	imports []string
}

func modulePackages(t *testing.T, root string) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{.Dir}}|{{join .Imports \" \"}}", root+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var ps []pkg
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "|", 3)
		ps = append(ps, pkg{path: strings.TrimPrefix(f[0], module), dir: f[1], imports: strings.Fields(f[2])})
	}
	return ps
}

var notes = regexp.MustCompile(`\([^)]*\)`)

// mayImport reads the items of the "May import:" line of dir's doc.go
// (which may wrap onto the next comment lines, up to a blank one). ok is
// false when there is no doc.go or no such line.
func mayImport(t *testing.T, dir string) (items []string, line string, ok bool) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, "doc.go"), nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil || f.Doc == nil {
		return nil, "", false
	}
	text := "\n" + f.Doc.Text()
	i := strings.Index(text, "\nMay import:")
	if i < 0 {
		return nil, "", false
	}
	i++ // the line starts after the newline
	para, _, _ := strings.Cut(text[i+len("May import:"):], "\n\n")
	para = strings.Join(strings.Fields(para), " ")
	line = "May import: " + para
	if first, _, found := strings.Cut(para, ". "); found {
		para = first // "stdlib only. Used only from tests."
	}
	para = strings.TrimSuffix(notes.ReplaceAllString(para, ""), ".")
	for _, part := range strings.Split(para, ",") {
		for _, item := range strings.Split(part, " and ") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
	}
	return items, line, true
}

// TestDocImportLinesAreTrue: each package's "May import:" line names every
// project package it imports (a name covers its subpackages: "store"
// covers store/bolt), only packages it imports, and a fragment of each
// third-party module's path; "stdlib only" allows neither.
func TestDocImportLinesAreTrue(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found from %s: %v", root, err)
	}
	for _, p := range modulePackages(t, root) {
		items, line, ok := mayImport(t, p.dir)
		if !ok {
			if strings.HasPrefix(p.path, "internal/") {
				t.Errorf("%s: doc.go has no \"May import:\" line", p.path)
			}
			continue
		}
		var internal, external []string // what the line names
		stdlibOnly := false
		for _, it := range items {
			switch {
			case it == "stdlib":
			case it == "stdlib only":
				stdlibOnly = true
			case isProjectName(root, it):
				internal = append(internal, it)
			default:
				external = append(external, it)
			}
		}
		used := make(map[string]bool)
		var missing []string
		for _, imp := range p.imports {
			if rel, ok := strings.CutPrefix(imp, module); ok {
				rel = strings.TrimPrefix(rel, "internal/")
				name := coveringName(rel, internal)
				if name == "" || stdlibOnly {
					missing = append(missing, rel)
					continue
				}
				used[name] = true
				continue
			}
			if !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
				continue // stdlib
			}
			found := false
			for _, e := range external {
				if strings.Contains(imp, e) {
					found, used[e] = true, true
				}
			}
			if !found || stdlibOnly {
				missing = append(missing, imp)
			}
		}
		var stale []string
		for _, n := range append(append([]string(nil), internal...), external...) {
			if !used[n] {
				stale = append(stale, n)
			}
		}
		if len(missing) > 0 || len(stale) > 0 {
			sort.Strings(missing)
			t.Errorf("%s/doc.go: %q\n\timports but does not name: %v\n\tnames but does not import: %v", p.path, line, missing, stale)
		}
	}
}

// isProjectName reports whether item names a directory under internal/
// (spec, store/bolt) rather than a third-party module fragment.
func isProjectName(root, item string) bool {
	if strings.ContainsAny(item, " .") {
		return false
	}
	st, err := os.Stat(filepath.Join(root, "internal", item))
	return err == nil && st.IsDir()
}

// coveringName returns the named package that covers rel: rel itself or
// one of its parents.
func coveringName(rel string, names []string) string {
	for _, n := range names {
		if rel == n || strings.HasPrefix(rel, n+"/") {
			return n
		}
	}
	return ""
}
