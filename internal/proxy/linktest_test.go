package proxy

import (
	"net/http"
	"testing"
)

// next is a chain's end for the tests of one link: it notes that it ran
// and what it saw, and returns err.
type next struct {
	called bool
	w      http.ResponseWriter
	r      *http.Request
	err    error
	run    func(w http.ResponseWriter, r *http.Request, ex *exchange)
}

func (n *next) serve(w http.ResponseWriter, r *http.Request, ex *exchange) error {
	n.called, n.w, n.r = true, w, r
	if n.run != nil {
		n.run(w, r, ex)
	}
	return n.err
}

// asRefusal returns err as a refusal with the status want, or fails.
func asRefusal(t *testing.T, err error, want int) *refusal {
	t.Helper()
	rf, ok := err.(*refusal)
	if !ok || rf.status != want {
		t.Fatalf("error %v (%T), want a refusal with status %d", err, err, want)
	}
	return rf
}
