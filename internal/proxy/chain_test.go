package proxy

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// TestChainOrder: the first middleware sees the request first and the
// response last, and a nil middleware is left out.
func TestChainOrder(t *testing.T) {
	var seen []string
	mark := func(name string) middleware {
		return func(next handler) handler {
			return handlerFunc(func(w http.ResponseWriter, r *http.Request, ex *exchange) error {
				seen = append(seen, name+" in")
				err := next.serve(w, r, ex)
				seen = append(seen, name+" out")
				return err
			})
		}
	}
	end := handlerFunc(func(http.ResponseWriter, *http.Request, *exchange) error {
		seen = append(seen, "end")
		return nil
	})
	h := chain(end, mark("a"), nil, mark("b"))
	if err := h.serve(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), &exchange{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"a in", "b in", "end", "b out", "a out"}
	if !slices.Equal(seen, want) {
		t.Errorf("order %q, want %q", seen, want)
	}
}
