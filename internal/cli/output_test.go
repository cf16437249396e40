package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestTableEscapesTerminalControls: a cell carrying an escape sequence, a
// carriage return, a tab, a newline, a one-byte CSI, a bidi override or an
// invalid byte is printed as visible escapes; the bytes written contain no
// control character but the row separators.
func TestTableEscapesTerminalControls(t *testing.T) {
	var out bytes.Buffer
	tb := newTable(&out, "NAME", "ROUTE")
	tb.row("web\x1b[31m", "shop.test/api\rOK")
	tb.row("a\tb\nc", "\u009b2J\u202egnp.exe \xff")
	tb.row("café", "plain")
	if err := tb.flush(); err != nil {
		t.Fatal(err)
	}
	got := out.Bytes()
	lines := bytes.Split(bytes.TrimSuffix(got, []byte("\n")), []byte("\n"))
	if len(lines) != 4 {
		t.Fatalf("want a header and 3 rows, got %d lines:\n%s", len(lines), got)
	}
	for i, c := range got {
		if (c < 0x20 && c != '\n') || c == 0x7f {
			t.Fatalf("byte %d of the output is the control character %#x:\n%q", i, c, got)
		}
	}
	for _, want := range []string{`web\x1b[31m`, `shop.test/api\rOK`, `a\tb\nc`, `\u009b2J\u202egnp.exe \xff`, "café"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if bytes.Contains(got, []byte("\u009b")) || bytes.Contains(got, []byte("\u202e")) || bytes.Contains(got, []byte{0xff}) {
		t.Errorf("output carries a C1 control, a bidi override or an invalid byte raw: %q", got)
	}
}

// TestTextKeepsLinesOnly: multi-line text (errors) keeps its newlines and
// nothing else a terminal acts on.
func TestTextKeepsLinesOnly(t *testing.T) {
	got := text("deploy refused:\n  route /api\x1b[2J\r is held")
	if want := "deploy refused:\n  route /api\\x1b[2J\\r is held"; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	if s := "nothing to escape, ünïcode too"; cell(s) != s || !strings.EqualFold(text(s), s) {
		t.Errorf("clean text was changed")
	}
}
