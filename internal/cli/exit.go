package cli

import (
	"errors"

	"github.com/haven-platform/haven/internal/api"
	"github.com/haven-platform/haven/internal/client"
	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// Exit codes of every haven command.
const (
	ExitOK          = 0 // done
	ExitFailure     = 1 // an unexpected failure
	ExitInvalid     = 2 // bad input: usage, compose file, image, port — fix and retry
	ExitNotReady    = 3 // deployed, but the app did not become healthy (crash loop, timeout)
	ExitUnreachable = 4 // no server, or the runtime (Docker) is not available
	ExitDenied      = 5 // not authenticated, or not permitted (log in, or ask an admin for a role)
	ExitRolledBack  = 6 // a release failed and was rolled back: the previous revision serves
)

// ExitError carries the exit code a command ends with.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode maps any error a command returns to its exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		switch ce.Kind {
		case api.KindInvalid, api.KindConflict, api.KindNotFound:
			return ExitInvalid
		case api.KindUnavailable:
			return ExitUnreachable
		case api.KindUnauthenticated, api.KindForbidden, api.KindRateLimited:
			return ExitDenied
		}
		return ExitFailure
	}
	switch {
	case errors.Is(err, spec.ErrInvalid), errors.Is(err, errUsage), errors.Is(err, driver.ErrPortInUse):
		return ExitInvalid
	case errors.Is(err, client.ErrUnreachable), errors.Is(err, driver.ErrUnavailable):
		return ExitUnreachable
	}
	return ExitFailure
}

// errUsage marks a command line that cannot be acted on.
var errUsage = errors.New("usage")
