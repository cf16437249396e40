package compose

import (
	"errors"
	"fmt"
	"sort"

	"github.com/haven-platform/haven/internal/spec"
)

// Position is a place in a compose file. Line and Column are 1-based; a zero
// Position means "not from a file" (a flag, or the merged project).
type Position struct {
	File   string
	Line   int
	Column int
}

// IsZero reports whether p names no place.
func (p Position) IsZero() bool { return p.File == "" }

// String renders "file:line:col", the form editors and terminals link.
func (p Position) String() string {
	if p.IsZero() {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Problem is one thing wrong with the compose input. Every Problem matches
// spec.ErrInvalid with errors.Is, so callers can tell bad input (exit code 2)
// from failures of the machine.
type Problem struct {
	// Pos is where the problem is; zero when it has no place in a file.
	Pos Position
	// Msg says what is wrong and how to fix it.
	Msg string
}

// Error renders "file:line:col: message", or the message alone.
func (p *Problem) Error() string {
	if p.Pos.IsZero() {
		return p.Msg
	}
	return p.Pos.String() + ": " + p.Msg
}

// Unwrap makes every Problem an spec.ErrInvalid.
func (p *Problem) Unwrap() error { return spec.ErrInvalid }

// problems collects Problems so one run reports all of them, not the first.
type problems []*Problem

func (ps *problems) add(pos Position, format string, args ...any) {
	*ps = append(*ps, &Problem{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// err joins the problems, ordered by file (in the order files were given,
// unlocated problems last), line and column.
func (ps problems) err(files []string) error {
	if len(ps) == 0 {
		return nil
	}
	sorted := ps.sorted(files)
	errs := make([]error, len(sorted))
	for i, p := range sorted {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// sorted orders the problems by file (in the order files were given,
// unlocated problems last), line and column, each said once.
func (ps problems) sorted(files []string) []*Problem {
	if len(ps) == 0 {
		return nil
	}
	rank := func(file string) int {
		for i, f := range files {
			if f == file {
				return i
			}
		}
		return len(files)
	}
	sorted := append(problems(nil), ps...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i].Pos, sorted[j].Pos
		if ra, rb := rank(a.File), rank(b.File); ra != rb {
			return ra < rb
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	// Two layers can find the same fault; say it once.
	seen := map[string]bool{}
	out := make([]*Problem, 0, len(sorted))
	for _, p := range sorted {
		if s := p.Error(); !seen[s] {
			seen[s] = true
			out = append(out, p)
		}
	}
	return out
}
