package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v4"
)

// The raw YAML is parsed with the same parser compose-go uses (go.yaml.in/yaml/v4
// rather than gopkg.in/yaml.v3): both then accept and reject exactly the same
// files, anchors and merge keys resolve the same way, and syntax errors carry
// columns, which yaml.v3 does not report.

// sourceFile is one compose file as written, kept to put file:line:col on
// problems found anywhere in the pipeline.
type sourceFile struct {
	// name is how the file is shown to the user (relative to the current
	// directory when it lies below it).
	name string
	// path is the file's path as given, to resolve what it references.
	path string
	// root is the top-level mapping; nil for an empty file.
	root *yaml.Node
	// extended, when not nil, marks a file read only for the services
	// other files extend (`extends: {file: ..., service: ...}`): only
	// those services are checked, as only they are loaded.
	extended map[string]bool
}

// sources are the compose files of one project, in merge order.
type sources struct {
	files []*sourceFile
}

// names returns the display names in merge order.
func (s *sources) names() []string {
	names := make([]string, len(s.files))
	for i, f := range s.files {
		names[i] = f.name
	}
	return names
}

// parseSources reads and parses every file. A file that cannot be read or
// parsed is a Problem placed at the offending line and column.
func parseSources(paths []string) (*sources, problems) {
	var errs problems
	s := &sources{}
	for _, p := range paths {
		f := &sourceFile{name: displayName(p), path: p}
		s.files = append(s.files, f)
		data, err := readBounded(p)
		if err != nil {
			switch {
			case errors.Is(err, os.ErrNotExist):
				errs.add(Position{}, "compose file %s does not exist; pass the right path with --file or run where compose.yaml is", f.name)
			case errors.Is(err, errTooLarge):
				errs.add(Position{}, "compose file %s is larger than %d KiB, the most Haven reads (the largest allowed app is a few hundred KiB of compose); check that --file names a compose file", f.name, MaxFileBytes>>10)
			default:
				errs.add(Position{}, "cannot read compose file %s: %v", f.name, err)
			}
			continue
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			line, col, msg := yamlErrorPos(err, data)
			errs.add(Position{File: f.name, Line: line, Column: col}, "%s; fix the YAML syntax (indent with spaces, quote values containing ': ' or '#')", msg)
			continue
		}
		if doc.Kind == 0 || len(doc.Content) == 0 {
			continue // an empty file is a valid, empty override
		}
		root := resolve(doc.Content[0])
		if root.Kind != yaml.MappingNode {
			if !(root.Kind == yaml.ScalarNode && root.Tag == "!!null") {
				errs.add(posOf(f, root), "a compose file must be a mapping with a `services:` key, not a %s", kindName(root))
			}
			continue
		}
		f.root = root
		errs = append(errs, duplicateKeys(f, root)...)
	}
	return s, errs
}

// maxReferenced bounds the files reached through include and extends, so a
// loop of includes (which compose-go refuses too) cannot keep us reading.
const maxReferenced = 64

// addReferenced parses the local files the project's files include
// (top-level `include:`) or extend (`extends.file`), so their keys are
// checked and their problems placed like the main files'. Included files
// come before the including one: the main file is the one to edit when
// both define a key. Remote includes are refused by the loader itself.
func (s *sources) addReferenced() problems {
	var errs problems
	seen := map[string]*sourceFile{}
	for _, f := range s.files {
		if abs, err := filepath.Abs(f.path); err == nil {
			seen[abs] = f
		}
	}
	queue := append([]*sourceFile(nil), s.files...)
	for len(queue) > 0 && len(seen) < maxReferenced+len(s.files) {
		f := queue[0]
		queue = queue[1:]
		if f.root == nil {
			continue
		}
		dir := filepath.Dir(f.path)
		// add reads the file rel, named at node of f by key (include or
		// extends.file).
		add := func(rel, service, key string, node *yaml.Node) {
			if rel == "" || strings.Contains(rel, "$") || strings.Contains(rel, "://") {
				return // interpolated or remote: compose-go reports what it cannot load
			}
			p := rel
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			abs, err := filepath.Abs(p)
			if err != nil {
				return
			}
			if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
				errs.add(posOf(f, node), "`%s` names %s, which does not exist; fix the path (it is relative to %s)", key, rel, displayName(dir))
				return
			}
			if g, ok := seen[abs]; ok {
				if g.extended != nil && service != "" {
					g.extended[service] = true
				} else if service == "" {
					g.extended = nil
				}
				return
			}
			parsed, perrs := parseSources([]string{p})
			errs = append(errs, perrs...)
			g := parsed.files[0]
			if service != "" {
				g.extended = map[string]bool{service: true}
			}
			seen[abs] = g
			s.files = append([]*sourceFile{g}, s.files...)
			queue = append(queue, g)
		}
		if inc, ok := get(f.root, "include"); ok && f.extended == nil {
			for _, it := range content(inc.value) {
				it = resolve(it)
				switch it.Kind {
				case yaml.ScalarNode:
					add(it.Value, "", "include", it)
				case yaml.MappingNode:
					if p, ok := get(it, "path"); ok {
						if v := resolve(p.value); v.Kind == yaml.ScalarNode {
							add(v.Value, "", "include", v)
						}
						for _, item := range content(p.value) {
							add(resolve(item).Value, "", "include", resolve(item))
						}
					}
				}
			}
		}
		services, _ := get(f.root, "services")
		for _, svc := range pairs(services.value) {
			ext, ok := get(svc.value, "extends")
			if !ok {
				continue
			}
			file, ok := get(ext.value, "file")
			name, _ := get(ext.value, "service")
			if ok && name.value != nil {
				add(resolve(file.value).Value, resolve(name.value).Value, "extends.file", resolve(file.value))
			}
		}
	}
	return errs
}

// MaxFileBytes bounds one compose file. The largest app Haven accepts
// (spec.MaxServices services) is far smaller; the bound keeps a wrong
// --file (a log, a device) from being read into memory whole. The API
// bounds a deploy request the same way.
const MaxFileBytes = 1 << 20

var errTooLarge = errors.New("file too large")

// readBounded reads at most MaxFileBytes of p, or fails with errTooLarge.
func readBounded(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		return nil, errTooLarge
	}
	return data, nil
}

// duplicateKeys reports keys given twice in one mapping. YAML forbids them
// and compose-go rejects them, but without saying where; a duplicated
// service is an easy slip in a long file.
func duplicateKeys(f *sourceFile, n *yaml.Node) problems {
	var errs problems
	switch n.Kind {
	case yaml.MappingNode:
		first := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && k.Tag != "!!merge" {
				if prev, dup := first[k.Value]; dup {
					errs.add(posOf(f, k), "key %q is already defined at line %d; remove or rename one of them", k.Value, prev.Line)
				} else {
					first[k.Value] = k
				}
			}
			errs = append(errs, duplicateKeys(f, n.Content[i+1])...)
		}
	case yaml.SequenceNode:
		for _, it := range n.Content {
			errs = append(errs, duplicateKeys(f, it)...)
		}
	}
	return errs
}

// displayName shows p relative to the current directory when it lies below
// it, so messages read "compose.yaml:3:5" rather than a long absolute path.
func displayName(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return abs
}

func posOf(f *sourceFile, n *yaml.Node) Position {
	return Position{File: f.name, Line: n.Line, Column: n.Column}
}

// resolve follows aliases to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// content returns the items of a sequence (or the key/value nodes of a
// mapping); nil for anything else, including a missing node.
func content(n *yaml.Node) []*yaml.Node {
	if n = resolve(n); n == nil {
		return nil
	}
	return n.Content
}

// pair is one key/value entry of a mapping.
type pair struct{ key, value *yaml.Node }

// pairs lists a mapping's entries, expanding `<<` merge keys the way YAML
// does: the mapping's own keys first, then merged ones it does not override.
// Merged keys keep their own position, which is where the user must edit.
func pairs(m *yaml.Node) []pair {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	var own, merged []pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Value == "<<" && k.Tag == "!!merge" {
			v = resolve(v)
			var srcs []*yaml.Node
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			} else {
				srcs = []*yaml.Node{v}
			}
			for _, src := range srcs {
				merged = append(merged, pairs(src)...)
			}
			continue
		}
		seen[k.Value] = true
		own = append(own, pair{k, v})
	}
	for _, p := range merged {
		if !seen[p.key.Value] {
			seen[p.key.Value] = true
			own = append(own, p)
		}
	}
	return own
}

// get returns the value of key in mapping m.
func get(m *yaml.Node, key string) (pair, bool) {
	for _, p := range pairs(m) {
		if p.key.Value == key {
			return p, true
		}
	}
	return pair{}, false
}

// lookup walks path from the file's root: mapping keys by name, sequence
// items by index or by scalar value (so "depends_on", "db" finds both
// `depends_on: [db]` and `depends_on: {db: ...}`). It returns the node to
// point at: the key for a mapping entry, the item for a sequence entry.
func (f *sourceFile) lookup(path []string) (*yaml.Node, bool) {
	if f.root == nil {
		return nil, false
	}
	cur := f.root
	var at *yaml.Node
	for _, elem := range path {
		cur = resolve(cur)
		switch {
		case cur == nil:
			return nil, false
		case cur.Kind == yaml.MappingNode:
			p, ok := get(cur, elem)
			if !ok {
				return nil, false
			}
			at, cur = p.key, p.value
		case cur.Kind == yaml.SequenceNode:
			var item *yaml.Node
			if i, err := strconv.Atoi(elem); err == nil && i >= 0 && i < len(cur.Content) {
				item = cur.Content[i]
			} else {
				for _, it := range cur.Content {
					if r := resolve(it); r.Kind == yaml.ScalarNode && r.Value == elem {
						item = it
						break
					}
				}
			}
			if item == nil {
				return nil, false
			}
			at, cur = item, item
		default:
			return nil, false
		}
	}
	return at, at != nil
}

// find locates path in the project's files. Later files override earlier
// ones when compose merges them, so the last file that has the path is the
// one the user must edit.
func (s *sources) find(path ...string) (Position, bool) {
	for i := len(s.files) - 1; i >= 0; i-- {
		if n, ok := s.files[i].lookup(path); ok {
			return posOf(s.files[i], n), true
		}
	}
	return Position{}, false
}

// best locates the longest prefix of path that exists: a problem with an
// item the files do not spell out (say, after a merge) is still placed on
// its nearest parent key.
func (s *sources) best(path ...string) Position {
	for n := len(path); n > 0; n-- {
		if pos, ok := s.find(path[:n]...); ok {
			return pos
		}
	}
	return Position{}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return fmt.Sprintf("scalar (%q)", n.Value)
	}
	return "document"
}

var yamlMarkRE = regexp.MustCompile(`line (\d+)(?:, column (\d+))?: `)

// yamlErrorPos extracts a 1-based line and column and a clean message from a
// YAML parse error. The parser's error types are internal to the yaml
// package, so their fields are read by reflection, with the printed form as
// a fallback. The v4 parser reports parser (not scanner) marks with 0-based
// lines; that is corrected here so the position names the offending line.
func yamlErrorPos(err error, data []byte) (line, col int, msg string) {
	v := reflect.ValueOf(err)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		mark := v.FieldByName("Mark")
		message := v.FieldByName("Message")
		if mark.IsValid() && message.IsValid() && message.Kind() == reflect.String {
			line = int(mark.FieldByName("Line").Int())
			col = int(mark.FieldByName("Column").Int()) + 1
			msg = message.String()
			isParser := v.Type().Name() == "ParserError"
			if isParser && !strings.HasPrefix(msg, "unknown anchor") {
				line++
			} else if isParser {
				col-- // the composer reports node positions, already 1-based
			}
			if ctx := v.FieldByName("ContextMessage"); ctx.IsValid() && ctx.String() != "" {
				// "while parsing a flow sequence" points at where the
				// unfinished construct began: often the real mistake.
				cm := v.FieldByName("ContextMark")
				cl, cc := int(cm.FieldByName("Line").Int()), int(cm.FieldByName("Column").Int())+1
				if isParser {
					cl++
				}
				switch {
				case line > lineCount(data):
					// The file ended inside the construct: its start is
					// the place to look.
					line, col = cl, cc
					msg += " (" + ctx.String() + ")"
				case cl != line || cc != col:
					msg += fmt.Sprintf(" (%s started at line %d, column %d)", ctx.String(), cl, cc)
				}
			}
			return clampPos(line, col, data, msg)
		}
	}
	// Construct errors ("mapping key already defined") and anything else:
	// take the last "line N[, column M]: " mark from the text.
	text := strings.TrimPrefix(err.Error(), "yaml: ")
	text = strings.TrimPrefix(text, "construct errors:\n  ")
	ms := yamlMarkRE.FindAllStringSubmatchIndex(text, -1)
	if len(ms) == 0 {
		return 1, 1, text
	}
	last := ms[len(ms)-1]
	line, _ = strconv.Atoi(text[last[2]:last[3]])
	col = 1
	if last[4] >= 0 {
		col, _ = strconv.Atoi(text[last[4]:last[5]])
	}
	return clampPos(line, col, data, text[last[1]:])
}

// clampPos keeps a position inside the file: errors at end of input are
// reported one line past the last.
func clampPos(line, col int, data []byte, msg string) (int, int, string) {
	if lines := lineCount(data); line > lines {
		line = lines
	}
	if line < 1 {
		line = 1
	}
	if col < 1 {
		col = 1
	}
	return line, col, msg
}

// lineCount is the number of lines in data, at least 1.
func lineCount(data []byte) int {
	n := bytes.Count(data, []byte("\n")) + 1
	if len(data) > 0 && data[len(data)-1] == '\n' {
		n--
	}
	return max(n, 1)
}
