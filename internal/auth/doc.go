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
//	permission             viewer   developer   devops     admin
//	app.read               bound    every env   every env  every env
//	app.logs               -        bound       bound      every env
//	app.deploy             -        bound       bound      every env
//	app.deploy-privileged  -        -           bound      every env
//	env.manage             -        -           bound      every env
//	secret.list            -        -           bound      every env
//	secret.read            -        -           bound      every env
//	secret.write           -        -           bound      every env
//	token.self             every authenticated identity, no environment
//	admin                  -        -           -          yes (no environment)
//
// app.deploy-privileged is asked for by the deploy route, beside
// app.deploy, when a service of the app can take its node over
// (spec.ContainerOptions.PrivilegedKeys: privileged, cap_add of SYS_ADMIN
// and the like, pid, ipc, uts or userns_mode host, devices, seccomp or apparmor unconfined).
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
// A token acts with its own bindings intersected with its user's current
// ones. API tokens expire in 90 days by default, at most 1 year; login
// sessions in 12 hours. Removing a user deletes their tokens in the same
// transaction.
//
// Delegation never widens. Login (password and code) and EnsureAdmin make
// root credentials; every other credential is created with one, and
// Delegate, one pure function, decides what it may carry: at most what
// both the creating credential acts as now and the new credential's user
// holds, expiring no later than the creating credential. CreateToken takes
// the caller's Identity for that, whether the token is the caller's own or
// (for an admin) another user's, and re-reads the caller's token inside
// its transaction. Asks beyond the bound are refused with ErrInvalid and a
// message naming what was refused and what would pass ("the token would
// outlive the credential creating it (expires 2030-01-02 10:12 UTC): ask
// for --ttl 9m or less"); they are never silently narrowed. Defaults are
// the widest allowed: no bindings means the creator's (cut to the user's),
// no ttl means 90 days or the creator's expiry, whichever is sooner. So a
// token made from a 12-hour session alone lives at most 12 hours.
// Revoking a token does not revoke those created with it; they expire no
// later than it would have. No route lets a token extend itself, and a
// non-admin revokes only their own tokens (the api checks ownership).
//
// Sudo mode: CreateToken may be given a Proof, the caller's password again
// (and a current code when MFA is on), as GitHub asks before sensitive
// actions. The creating credential is then the password itself, exactly
// what Login accepts: the bound is the caller's current roles and
// MaxTokenTTL from now, as for a login, and the calling token's scope and
// expiry no longer bound it. This is how a remote user's 12-hour session
// creates a 90-day CI token (haven token create --reauth). It means a
// narrowed token (say viewer@prod for 10 minutes) plus the user's
// password may create a token with all of that user's roles: that is what
// the password grants anyway, since it logs in with them. Never more: the
// token is still cut to its user's roles, and the proof is always the
// calling user's own password (a token of A with B's password is a wrong
// password), so an admin creating a token for B proves the admin's
// password and gets at most the admin's roles cut to B's. The calling
// token must still authenticate. The proof goes through prove, from the
// request's source address, so wrong passwords and codes count in the
// login limiter, a missing code is ErrMFARequired, and the code's time
// step is used up with the token in one transaction. The bootstrap admin
// token (a year) remains the other source of long-lived tokens.
//
// MFA: TOTP per RFC 6238 (SHA-1, 6 digits, 30 s), ±1 step accepted. The
// last accepted time step is stored per user and no code of that step or
// an earlier one is accepted again, so a code cannot be replayed.
// Enrolling, moving to a new device and turning MFA off need the password
// and, when MFA is on, a current code: a token alone changes nothing. They
// go through the same check as Login (prove), so wrong passwords and codes
// there count in the login limiter. A new secret stays pending, and the
// active one in force, until a code of the new one confirms it (ConfirmMFA,
// whose wrong codes count too). ResetMFA is the admin's way back for a lost
// device. TOTP secrets are sealed with the Sealer given to New: the server
// passes a secrets.KeySealer under the "totp-seal" system key, which is
// itself sealed under the master key and re-wrapped by key rotation, so a
// copied haven.db alone yields no secret. New seals secrets an older start
// stored in the clear (bbolt does not scrub freed pages, so such an old
// value may linger in the file until its page is reused). Without a Sealer
// (tests) they are stored in the clear inside the 0600 store file.
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
// and token creation with a Proof re-check the password through the same
// limiter. A server restart
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
