package api

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store"
)

func TestErrorKind(t *testing.T) {
	for _, tc := range []struct {
		err    error
		kind   string
		status int
	}{
		{fmt.Errorf("%w: bad port", spec.ErrInvalid), KindInvalid, http.StatusBadRequest},
		{fmt.Errorf("service x: %w", driver.ErrImageNotFound), KindInvalid, http.StatusBadRequest},
		{badRequest("tail must be a number"), KindInvalid, http.StatusBadRequest},
		{fmt.Errorf("deployment a/b: %w", store.ErrNotFound), KindNotFound, http.StatusNotFound},
		{fmt.Errorf("x: %w", store.ErrConflict), KindConflict, http.StatusConflict},
		{fmt.Errorf("port 80: %w", driver.ErrPortInUse), KindConflict, http.StatusConflict},
		{fmt.Errorf("docker: %w", driver.ErrUnavailable), KindUnavailable, http.StatusServiceUnavailable},
		{errors.New("boom"), KindInternal, http.StatusInternalServerError},
	} {
		kind, status := errorKind(tc.err)
		if kind != tc.kind || status != tc.status {
			t.Errorf("errorKind(%v) = %s %d, want %s %d", tc.err, kind, status, tc.kind, tc.status)
		}
	}
}
