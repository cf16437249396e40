package auth

import (
	"errors"
	"fmt"
)

// The errors this package returns; callers match them with errors.Is. Only
// the api package turns them into HTTP statuses.
var (
	// ErrUnauthenticated means the credentials (password, code or token)
	// were wrong, unknown, revoked, or belong to a removed user. It is one
	// error with one message on purpose: the answer must not tell which part
	// was wrong, nor whether the user exists. (401)
	ErrUnauthenticated = errors.New("authentication failed: wrong user name, password, code or token")

	// ErrMFARequired means the password was right but the user has MFA
	// enabled and no code was given: ask for one and log in again. It wraps
	// ErrUnauthenticated, so it is 401-class; it is only returned after the
	// password was verified, so it reveals nothing to someone without it.
	ErrMFARequired = fmt.Errorf("%w: a one-time code from your authenticator app is required (haven login --code)", ErrUnauthenticated)

	// ErrTokenExpired means a token was right but has expired. It wraps
	// ErrUnauthenticated and is only returned once the token's secret
	// matched, so only its holder learns that it expired.
	ErrTokenExpired = fmt.Errorf("%w: the token has expired; run haven login or create a new token", ErrUnauthenticated)

	// ErrRateLimited means too many failed logins for this user or from
	// this address; the caller should wait (see doc.go for the limits). (429)
	ErrRateLimited = errors.New("too many failed logins: wait a few minutes and try again")

	// ErrNotFound means the named user or token does not exist. (404)
	ErrNotFound = errors.New("not found")

	// ErrExists means a user of that name already exists. (409)
	ErrExists = errors.New("already exists")

	// ErrInvalid means the input broke a rule (a short password, a bad
	// name, an unknown role, a token binding the user does not hold, …);
	// the wrapping message says which. (400)
	ErrInvalid = errors.New("invalid")
)
