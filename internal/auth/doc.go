// Package auth says who a request is and what it may do: users with
// argon2id passwords, TOTP MFA, login sessions and API tokens, login rate
// limiting, and roles bound per environment. The api package calls
// Authenticate (or Login) once per request and asks Identity.Can for the
// permission its route declared.
//
// # Roles and permissions
//
// A user holds bindings: a role in one environment, or in every one ("*").
// The grant table (grants in role.go; pinned by testdata/grants.txt):
//
//	permission     viewer   developer   devops     admin
//	app.read       bound    every env   every env  every env
//	app.logs       -        bound       bound      every env
//	app.deploy     -        bound       bound      every env
//	env.manage     -        -           bound      every env
//	secret.list    -        -           bound      every env
//	secret.read    -        -           bound      every env
//	secret.write   -        -           bound      every env
//	token.self     every authenticated identity, no environment
//	admin          -        -           -          yes (no environment)
//
// "bound" means in the environments of the user's bindings of that role
// (all of them for a "*" binding). Asking Can about an env-scoped
// permission with env "" (a request across all environments) needs a grant
// that covers every environment. Roles are nested (each grants what the
// one before grants), so a token can be narrowed to a weaker role as well
// as to fewer environments. Admin bindings are always admin@*.
//
// # Credentials
//
// Passwords: argon2id, m=19 MiB, t=2, p=1 (OWASP's minimum; RFC 9106's
// settings are too heavy for 2-core hosts), 16-byte random salt, stored as
// a PHC string; at least 12 characters. A login for an unknown user still
// runs argon2 against a dummy hash, so it answers like a wrong password, in
// about the same time.
//
// Tokens: hvn_<id>_<secret>, id 8 random bytes in hex, secret 32 random
// bytes in base64url, shown once. Only the SHA-256 of the secret is stored.
// A token carries bindings (a subset of its user's at creation) and acts
// with those bindings intersected with its user's current ones. API tokens
// expire in 90 days by default, at most 1 year; login sessions in 12 hours.
// Removing a user deletes their tokens in the same transaction.
//
// MFA: TOTP per RFC 6238 (SHA-1, 6 digits, 30 s), ±1 step accepted. The
// last accepted time step is stored per user and no code of that step or
// an earlier one is accepted again, so a code cannot be replayed. TOTP
// secrets are sealed with the Sealer given to New (the secrets package's
// envelope encryption); without one they are stored in the clear inside
// the 0600 store file.
//
// Rate limiting: failed logins (wrong password, unknown user, wrong code)
// are counted in memory over a sliding 5-minute window per (user, source
// address) (5), per source address (20) and per user across all sources
// (50). An IPv6 source counts per /64. At a limit, logins are refused with
// ErrRateLimited, without checking the password, until the oldest failure
// leaves the window. One source reaches its per-user limit long before the
// user's total, so a flood from one address throttles that address only:
// locking a user out everywhere takes failures from at least 10 sources.
// An attempt counts as a failure from the moment it starts and is forgiven
// if it succeeds (which also clears that user's count from that source,
// not the user's total), so parallel guesses get no more tries than
// sequential ones. A right password answered by ErrMFARequired is not a
// failure. Every password check counts, not only Login's: the MFA changes
// re-check the password through the same limiter. A server restart
// forgets the counts.
//
// # Storage
//
// Records are JSON in the server's bbolt file, in buckets auth_users (by
// name), auth_tokens (by token id) and auth_meta (schema version). Every
// change is one bbolt transaction.
//
// May import: spec, stdlib, bbolt, x/crypto, pquerna/otp.
package auth
