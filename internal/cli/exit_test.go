package cli

import (
	"errors"
	"fmt"
	"testing"

	"github.com/haven-platform/haven/internal/api"
	"github.com/haven-platform/haven/internal/client"
	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("boom"), ExitFailure},
		{fmt.Errorf("compose.yaml:3:5: %w", spec.ErrInvalid), ExitInvalid},
		{&client.Error{Kind: api.KindInvalid}, ExitInvalid},
		{&client.Error{Kind: api.KindConflict}, ExitInvalid},
		{&client.Error{Kind: api.KindUnavailable}, ExitUnreachable},
		{&client.Error{Kind: api.KindInternal}, ExitFailure},
		{&client.Error{Kind: api.KindForbidden}, ExitDenied},
		{&client.Error{Kind: api.KindUnauthenticated}, ExitDenied},
		{fmt.Errorf("%w at /x.sock", client.ErrUnreachable), ExitUnreachable},
		{fmt.Errorf("docker: %w", driver.ErrUnavailable), ExitUnreachable},
		{fmt.Errorf("ingress: %w", driver.ErrPortInUse), ExitInvalid},
		{&ExitError{Code: ExitNotReady, Err: errors.New("crash loop")}, ExitNotReady},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
