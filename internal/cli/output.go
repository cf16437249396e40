package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// printData writes v as JSON or YAML when -o asks for it and returns true;
// for the table format it returns false and the command prints its table.
func (g *globals) printData(v any) (bool, error) {
	switch g.output {
	case "json":
		enc := json.NewEncoder(g.out())
		enc.SetIndent("", "  ")
		return true, enc.Encode(v)
	case "yaml":
		return true, writeYAML(g.out(), v)
	case "table", "":
		return false, nil
	}
	return true, &ExitError{Code: ExitInvalid, Err: fmt.Errorf("unknown output format %q: use table, json or yaml", g.output)}
}

// writeYAML renders v through its JSON form, so YAML keys are the same as
// the JSON field names.
func writeYAML(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	defer enc.Close()
	return enc.Encode(generic)
}

// table writes aligned columns. Every cell goes through cell: what a table
// shows comes from the server (names, routes, messages, other people's
// input), and a cell must not be able to move the cursor, recolor the
// terminal, rewrite the line before it or break the columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(toAny(headers)...)
	return t
}

func (t *table) row(cols ...any) {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = cell(fmt.Sprint(c))
	}
	fmt.Fprintln(t.tw, strings.Join(s, "\t"))
}

// cell makes s safe to print as one table cell: every control character
// (C0 including tab and newline, DEL, C1), every bidirectional-text
// control and every byte that is not UTF-8 is written as a Go escape
// (\x1b, \r, \u202e), so what is printed is visible text only.
func cell(s string) string { return escape(s, false) }

// text is cell for multi-line text (error messages, log lines shown by
// status): newlines are kept, everything else is escaped as in cell.
func text(s string) string { return escape(s, true) }

func escape(s string, keepNewlines bool) string {
	clean := true
	for _, r := range s {
		if unsafeRune(r) && !(keepNewlines && r == '\n') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case keepNewlines && r == '\n':
			b.WriteByte('\n')
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case unsafeRune(r) && r < 0x80:
			fmt.Fprintf(&b, "\\x%02x", r)
		case unsafeRune(r):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// unsafeRune reports runes a terminal acts on instead of showing: C0
// controls, DEL, C1 controls (0x9b is a one-byte CSI), the bidi controls
// that reorder what is shown, and the replacement rune an invalid byte
// decodes to.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	case r == utf8.RuneError:
		return true
	}
	return false
}

func (t *table) flush() error { return t.tw.Flush() }

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// ago renders a time as a short age ("3s", "5m", "2h").
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
