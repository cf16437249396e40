package corpus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/compose"
	"github.com/haven-platform/haven/internal/spec"
)

// corpusDir holds one directory per compose file, named after the
// published stack it is modelled on; README.md there lists the compose
// constructs each one exercises.
const corpusDir = "../testdata/compose-corpus"

// minFiles guards against the corpus silently shrinking (a rename that
// hides files from the glob below would otherwise pass).
const minFiles = 30

// composeFile returns the one compose file in dir: the top-level
// *.yml/*.yaml file. Companion files (.env, Dockerfile stubs, secret
// files) have other names.
func composeFile(t *testing.T, dir string) string {
	t.Helper()
	var found []string
	for _, pat := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, m...)
	}
	if len(found) != 1 {
		t.Fatalf("%s: want exactly one compose file (*.yml or *.yaml), found %v", dir, found)
	}
	return found[0]
}

// corpusFiles lists the corpus's compose files, sorted.
func corpusFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if e.IsDir() {
			files = append(files, composeFile(t, filepath.Join(corpusDir, e.Name())))
		}
	}
	sort.Strings(files)
	if len(files) < minFiles {
		t.Fatalf("corpus has %d compose files, want at least %d", len(files), minFiles)
	}
	return files
}

// validate loads file as `haven validate -f file` does (compose.Load with
// that one file), except that the interpolation environment is empty
// rather than the shell's, so the result does not depend on who runs the
// test: only the project's .env, which the loader reads either way, sets
// variables.
func validate(file string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := compose.Load(ctx, compose.Options{Files: []string{file}, Environment: map[string]string{}})
	return err
}

// The summary sorts the loader's problems by what they are about; the
// assertion is only that Load succeeds, so these patterns matching less
// than they should would blur the table, never hide a failure.
var (
	// position is the "file:line:col: " a located problem starts with.
	position = regexp.MustCompile(`^\S*:\d+:\d+: `)
	// subject is the "service web: " (volume, network, …) that follows.
	subject = regexp.MustCompile(`^(service|volume|network|secret|config) [^ :]+: `)
	// unsupported is Haven's refusal of a key ("key `deploy.placement` is
	// not supported…") or of a value ("`type: tmpfs` is not supported…").
	unsupported = regexp.MustCompile("^(?:key )?`([^`]+)` is not supported by Haven yet")
	// userNamed are the levels whose keys the user names, in a dotted path.
	userNamed = regexp.MustCompile(`^(networks|depends_on)\.[^.]+\.`)
)

// blocker names what one problem line is about, in compose's own terms:
// "services.*.container_name", "volumes.*.driver",
// "services.*.networks.*.ipv4_address"; a problem that is not about one
// key is named by its message without file, position and service.
func blocker(line string) string {
	line = position.ReplaceAllString(line, "")
	kind := ""
	if m := subject.FindStringSubmatch(line); m != nil {
		kind = m[1] + "s.*."
		line = line[len(m[0]):]
	}
	switch m := unsupported.FindStringSubmatch(line); {
	case m != nil:
		return kind + userNamed.ReplaceAllString(m[1], "$1.*.")
	case strings.HasPrefix(line, "anonymous volume at "):
		return "services.*.volumes: anonymous volume (`- /path`, no source)"
	case strings.HasPrefix(line, "service name ") && strings.Contains(line, "must be a lowercase DNS label"):
		return "service name not a DNS label (e.g. `_` in it)"
	}
	return line
}

// TestCorpusValidates: every compose file in the corpus loads
// with Haven's loader, as `haven validate` would load it. Each file that
// does not fails its own subtest with the loader's first problem; the
// parent then logs how many files load and which keys block how many.
func TestCorpusValidates(t *testing.T) {
	files := corpusFiles(t)
	ok := 0
	blocks := map[string]map[string]bool{} // blocker → files it blocks
	for _, file := range files {
		name := filepath.Base(filepath.Dir(file))
		err := validate(file)
		var lines, mine []string
		if err != nil {
			lines = strings.Split(strings.TrimSpace(err.Error()), "\n")
			for _, l := range lines {
				b := blocker(l)
				if blocks[b] == nil {
					blocks[b] = map[string]bool{}
				}
				if !blocks[b][name] {
					mine = append(mine, b)
				}
				blocks[b][name] = true
			}
		} else {
			ok++
		}
		t.Run(name, func(t *testing.T) {
			if err == nil {
				return
			}
			if !errors.Is(err, spec.ErrInvalid) {
				t.Errorf("%s: the loader's error is not a spec.ErrInvalid (bad input) but %T: a loader fault, not a missing key", file, err)
			}
			more := ""
			if len(lines) > 1 {
				more = fmt.Sprintf(" (and %d more problems, all below)", len(lines)-1)
			}
			t.Errorf("%s does not validate: %s%s", file, lines[0], more)
			for _, l := range lines[1:] {
				t.Log("  " + l)
			}
			t.Logf("blocked by: %s", strings.Join(mine, "; "))
		})
	}
	t.Logf("corpus: %d of %d files validate", ok, len(files))
	if len(blocks) > 0 {
		t.Log(summary(blocks))
	}
}

// summary is the table of blockers, the one blocking most files first.
func summary(blocks map[string]map[string]bool) string {
	type row struct {
		what  string
		files []string
	}
	rows := make([]row, 0, len(blocks))
	for what, fs := range blocks {
		r := row{what: what}
		for f := range fs {
			r.files = append(r.files, f)
		}
		sort.Strings(r.files)
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool {
		if len(rows[i].files) != len(rows[j].files) {
			return len(rows[i].files) > len(rows[j].files)
		}
		return rows[i].what < rows[j].what
	})
	var b strings.Builder
	b.WriteString("what blocks the files that do not validate (files blocked: which):\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-40s %2d: %s\n", r.what, len(r.files), strings.Join(r.files, ", "))
	}
	return b.String()
}
