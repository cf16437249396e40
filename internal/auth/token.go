package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	bbolt "go.etcd.io/bbolt"
)

// Token lifetimes.
const (
	SessionTTL      = 12 * time.Hour      // a login session
	DefaultTokenTTL = 90 * 24 * time.Hour // an API token when none is asked for
	MaxTokenTTL     = 365 * 24 * time.Hour
)

const (
	tokenPrefix = "hvn_"
	idBytes     = 8
	secretBytes = 32

	// tokenRetention is how long an expired or revoked token stays listed
	// (so `haven token list` can still explain why a CI job fails) before
	// it is pruned.
	tokenRetention = 7 * 24 * time.Hour

	// lastUsedEvery bounds how often Authenticate writes a token's LastUsed:
	// a write transaction (an fsync) per API request would cost more than
	// the request, and minute precision is enough to spot an unused token.
	lastUsedEvery = time.Minute
)

var (
	// Strict: a secret has exactly one spelling. Lax decoding ignores the
	// last character's two spare bits, so four spellings would be accepted.
	secretEncoding = base64.RawURLEncoding.Strict()
	// tokenLen is the length of hvn_<16 hex>_<43 base64url>.
	tokenLen = len(tokenPrefix) + 2*idBytes + 1 + secretEncoding.EncodedLen(secretBytes)
)

// TokenInfo describes a token or login session; it never holds the secret
// or its hash.
type TokenInfo struct {
	ID       string    `json:"id"`
	User     string    `json:"user"`
	Name     string    `json:"name"`
	Bindings []Binding `json:"bindings"`
	Session  bool      `json:"session,omitempty"` // issued by Login
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	LastUsed time.Time `json:"last_used,omitzero"`
	Revoked  time.Time `json:"revoked,omitzero"`
}

// tokenRecord is a token as stored in auth_tokens.
type tokenRecord struct {
	TokenInfo
	// Hash is the hex SHA-256 of the secret part. A fast, unsalted hash is
	// right here, unlike for passwords: the secret is 256 random bits, so
	// there is nothing to guess from a leaked hash and no dictionary to
	// precompute, and Authenticate runs on every request.
	Hash string `json:"hash"`
}

func hashSecret(secret []byte) []byte {
	h := sha256.Sum256(secret)
	return h[:]
}

// parseToken splits hvn_<id>_<secret>. The secret's base64url alphabet
// contains '_', so the parts are cut by position, not by separator.
func parseToken(s string) (id string, secret []byte, ok bool) {
	if len(s) != tokenLen || !strings.HasPrefix(s, tokenPrefix) || s[len(tokenPrefix)+2*idBytes] != '_' {
		return "", nil, false
	}
	id = s[len(tokenPrefix) : len(tokenPrefix)+2*idBytes]
	if _, err := hex.DecodeString(id); err != nil || strings.ToLower(id) != id {
		return "", nil, false
	}
	secret, err := secretEncoding.DecodeString(s[len(tokenPrefix)+2*idBytes+1:])
	if err != nil || len(secret) != secretBytes {
		return "", nil, false
	}
	return id, secret, true
}

func validTokenName(name string) error {
	if name == "" || len(name) > 100 || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return fmt.Errorf("%w: token name %q must be 1 to 100 printable characters", ErrInvalid, name)
	}
	return nil
}

// Proof is a credential given again when creating a token ("sudo mode",
// as GitHub asks for sensitive actions): the calling user's password and,
// when MFA is on, a current TOTP code, exactly what Login accepts. Source
// is the client address (ip or ip:port), for the login limiter. The zero
// Proof means none: the calling token alone creates the token.
type Proof struct {
	Password string
	Code     string
	Source   string
}

// CreateToken issues an API token for user ("" = creator's own user) and
// returns its secret, which is shown this once and never stored. creator
// is the identity of the request (from Authenticate): a token is derived
// from the credential that asks for it and never carries more (see
// Delegate). Only an admin identity may name another user; the api checks
// that before calling. More than MaxTokenTTL is always refused, because
// every token must expire.
//
// Without a proof (the zero Proof), the creating credential is creator's
// token: the new token's bindings are cut to what both that token acts as
// now and user holds, and it expires no later than that token (ttl 0
// means DefaultTokenTTL cut to that; asks beyond either bound are
// refused). The token is read again inside the transaction, so a token
// revoked or narrowed since Authenticate cannot still delegate.
//
// With a proof, the creating credential is creator's own password (and
// code): proof is checked like a login (prove, so wrong ones count in the
// login limiter from proof.Source, and a missing code is ErrMFARequired),
// and the bound is then what a login would carry: creator's user's current
// roles and a lifetime of up to MaxTokenTTL, whatever the calling token's
// scope and expiry. It is always the caller's password: an admin creating
// a token for someone else proves their own, and the token carries at
// most the admin's roles cut to that user's. The calling token must still
// authenticate (not revoked, not expired, the same user), so a proof
// cannot be used with a dead token.
func (s *Service) CreateToken(ctx context.Context, creator Identity, user, name string, bindings []Binding, ttl time.Duration, proof Proof) (secret string, info TokenInfo, err error) {
	if user == "" {
		user = creator.User
	}
	if err := validTokenName(name); err != nil {
		return "", TokenInfo{}, err
	}
	if ttl != 0 && (ttl < time.Minute || ttl > MaxTokenTTL) {
		return "", TokenInfo{}, fmt.Errorf("%w: token lifetime %s must be between 1m and %dd", ErrInvalid, ttl, MaxTokenTTL/(24*time.Hour))
	}
	// create derives the token under bound inside tx, at now.
	create := func(tx *bbolt.Tx, bound Delegation, now time.Time) error {
		var u userRecord
		ok, err := get(tx.Bucket(usersBucket), user, &u)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("user %s: %w", user, ErrNotFound)
		}
		bs, expires, err := Delegate(bound, u.Bindings, bindings, ttl, DefaultTokenTTL, now)
		if err != nil {
			return err
		}
		secret, info, err = s.issueToken(tx, user, name, bs, now, expires, false)
		return err
	}
	switch {
	case proof.Password == "" && strings.TrimSpace(proof.Code) != "":
		err = fmt.Errorf("%w: a one-time code without the password proves nothing: give the password too (haven token create --reauth)", ErrInvalid)
	case proof.Password == "":
		err = s.db.Update(func(tx *bbolt.Tx) error {
			bound, err := s.delegation(tx, creator)
			if err != nil {
				return err
			}
			return create(tx, bound, s.now().UTC())
		})
	default:
		err = s.createWithProof(ctx, creator, proof, create)
	}
	if err != nil {
		return "", TokenInfo{}, fmt.Errorf("create token %q for %s: %w", name, user, err)
	}
	return secret, info, nil
}

// errCallerGone stands for a calling token that no longer authenticates,
// found after the password was proven right: prove must not count it as a
// wrong guess, which it would if it saw ErrUnauthenticated.
var errCallerGone = errors.New("calling token no longer authenticates")

// createWithProof runs create under the bound of creator's password (see
// CreateToken), inside prove's transaction, so the password check, the
// code's replay rule and the new token are one commit.
func (s *Service) createWithProof(ctx context.Context, creator Identity, proof Proof, create func(*bbolt.Tx, Delegation, time.Time) error) error {
	var gone error
	err := s.prove(ctx, creator.User, proof.Password, proof.Code, proof.Source, func(tx *bbolt.Tx, u *userRecord) error {
		// The bound is the password's, but the request is still the
		// calling token's: it must be alive and be this user's.
		if _, err := s.delegation(tx, creator); err != nil {
			gone = err
			return errCallerGone
		}
		now := s.now().UTC()
		return create(tx, Delegation{Bindings: u.Bindings, NotAfter: now.Add(MaxTokenTTL)}, now)
	})
	if errors.Is(err, errCallerGone) {
		return gone
	}
	return err
}

// delegation returns what creator's credential may pass on, from the
// stored token and user as they are now, intersected with what creator
// says (which can only narrow it). ErrUnauthenticated if the credential no
// longer authenticates.
func (s *Service) delegation(tx *bbolt.Tx, creator Identity) (Delegation, error) {
	var (
		t tokenRecord
		u userRecord
	)
	ok, err := get(tx.Bucket(tokensBucket), creator.TokenID, &t)
	if err != nil || !ok || t.User != creator.User {
		return Delegation{}, errors.Join(err, ErrUnauthenticated)
	}
	if found, err := get(tx.Bucket(usersBucket), t.User, &u); err != nil || !found {
		return Delegation{}, errors.Join(err, ErrUnauthenticated)
	}
	switch now := s.now(); {
	case !t.Revoked.IsZero():
		return Delegation{}, ErrUnauthenticated
	case !now.Before(t.Expires):
		return Delegation{}, ErrTokenExpired
	}
	return Delegation{Bindings: intersect(intersect(t.Bindings, u.Bindings), creator.Bindings), NotAfter: t.Expires}, nil
}

// issueToken stores a new token created at now and expiring at expires
// inside tx, and prunes long-dead ones. It takes both times rather than a
// lifetime so that an expiry decided against a bound (Delegate) is the
// one stored, not a later clock reading plus the lifetime.
func (s *Service) issueToken(tx *bbolt.Tx, user, name string, bindings []Binding, now, expires time.Time, session bool) (string, TokenInfo, error) {
	raw := make([]byte, idBytes+secretBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", TokenInfo{}, fmt.Errorf("token randomness: %w", err)
	}
	id, sec := hex.EncodeToString(raw[:idBytes]), raw[idBytes:]
	tokens := tx.Bucket(tokensBucket)
	if tokens.Get([]byte(id)) != nil {
		// 64 random bits: never in practice, but never overwrite a token.
		return "", TokenInfo{}, fmt.Errorf("token id collision, try again")
	}
	now, expires = now.UTC(), expires.UTC()
	if err := pruneTokens(tokens, now); err != nil {
		return "", TokenInfo{}, err
	}
	rec := tokenRecord{
		TokenInfo: TokenInfo{ID: id, User: user, Name: name, Bindings: bindings, Session: session,
			Created: now, Expires: expires},
		Hash: hex.EncodeToString(hashSecret(sec)),
	}
	if err := put(tokens, id, &rec); err != nil {
		return "", TokenInfo{}, err
	}
	return tokenPrefix + id + "_" + secretEncoding.EncodeToString(sec), rec.TokenInfo, nil
}

// pruneTokens deletes tokens expired or revoked more than tokenRetention
// ago, so sessions from daily logins do not pile up forever.
func pruneTokens(tokens *bbolt.Bucket, now time.Time) error {
	var dead [][]byte
	err := tokens.ForEach(func(k, v []byte) error {
		var t tokenRecord
		if err := decode(k, v, &t); err != nil {
			return err
		}
		end := t.Expires
		if !t.Revoked.IsZero() && t.Revoked.Before(end) {
			end = t.Revoked
		}
		if now.Sub(end) > tokenRetention {
			dead = append(dead, k)
		}
		return nil
	})
	for _, k := range dead { // never delete while ForEach iterates
		if err == nil {
			err = tokens.Delete(k)
		}
	}
	return err
}

func deleteTokensOf(tx *bbolt.Tx, user string) error {
	tokens := tx.Bucket(tokensBucket)
	var dead [][]byte
	err := tokens.ForEach(func(k, v []byte) error {
		var t tokenRecord
		if err := decode(k, v, &t); err != nil {
			return err
		}
		if t.User == user {
			dead = append(dead, k)
		}
		return nil
	})
	for _, k := range dead {
		if err == nil {
			err = tokens.Delete(k)
		}
	}
	return err
}

// ListTokens returns the tokens and sessions of user ("" = everyone's),
// oldest first, including expired and revoked ones not yet pruned.
func (s *Service) ListTokens(user string) ([]TokenInfo, error) {
	var out []TokenInfo
	err := s.db.View(func(tx *bbolt.Tx) error {
		tokens := tx.Bucket(tokensBucket)
		return tokens.ForEach(func(k, v []byte) error {
			var t tokenRecord
			if err := decode(k, v, &t); err != nil {
				return err
			}
			if user == "" || t.User == user {
				out = append(out, t.TokenInfo)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	sortTokens(out)
	return out, nil
}

func sortTokens(ts []TokenInfo) {
	// Created, then id: ids are random, so equal times still order stably.
	slices.SortFunc(ts, func(a, b TokenInfo) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// GetToken returns one token's description, e.g. for the API to check who
// owns a token before a non-admin revokes it; ErrNotFound if none.
func (s *Service) GetToken(id string) (TokenInfo, error) {
	var t tokenRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		ok, err := get(tx.Bucket(tokensBucket), id, &t)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return TokenInfo{}, fmt.Errorf("token %s: %w", id, err)
	}
	return t.TokenInfo, nil
}

// RevokeToken ends a token or session at once (logout is revoking the
// session's id). The record stays, marked revoked, until pruned, so listings
// show what happened to it. Revoking twice keeps the first time.
func (s *Service) RevokeToken(id string) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		tokens := tx.Bucket(tokensBucket)
		var t tokenRecord
		ok, err := get(tokens, id, &t)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if !t.Revoked.IsZero() {
			return nil
		}
		t.Revoked = s.now().UTC()
		return put(tokens, id, &t)
	})
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return nil
}

// zeroHash stands in for the stored hash of an unknown token id, so that
// path compares too; its value cannot match a SHA-256 output in practice.
var zeroHash = make([]byte, sha256.Size)

// Authenticate resolves a bearer token (a session from Login or an API
// token) to an Identity. The identity's bindings are the token's narrowed
// to what its user holds now, so taking a role from a user takes it from
// every token of theirs at once. Errors: ErrTokenExpired once the secret
// matched but the token is past its expiry; ErrUnauthenticated for
// anything else (malformed, unknown, wrong secret, revoked, user removed).
func (s *Service) Authenticate(ctx context.Context, bearer string) (Identity, error) {
	if err := ctx.Err(); err != nil {
		return Identity{}, err
	}
	id, secret, ok := parseToken(strings.TrimSpace(bearer))
	if !ok {
		return Identity{}, ErrUnauthenticated
	}
	var (
		t     tokenRecord
		u     userRecord
		found bool
		user  bool
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		if found, err = get(tx.Bucket(tokensBucket), id, &t); err != nil || !found {
			return err
		}
		user, err = get(tx.Bucket(usersBucket), t.User, &u)
		return err
	})
	if err != nil {
		return Identity{}, fmt.Errorf("authenticate: %w", err)
	}
	want := zeroHash
	if found {
		if want, err = hex.DecodeString(t.Hash); err != nil {
			want = zeroHash
		}
	}
	now := s.now()
	switch {
	case subtle.ConstantTimeCompare(hashSecret(secret), want) != 1 || !found:
		return Identity{}, ErrUnauthenticated
	case !t.Revoked.IsZero() || !user:
		// A removed user's tokens are deleted with them; checking here too
		// costs nothing and keeps a half-failed removal from mattering.
		return Identity{}, ErrUnauthenticated
	case !now.Before(t.Expires):
		return Identity{}, ErrTokenExpired
	}
	if now.Sub(t.LastUsed) >= lastUsedEvery {
		s.touch(id, now)
	}
	return Identity{User: t.User, TokenID: id, Bindings: intersect(t.Bindings, u.Bindings), Expires: t.Expires}, nil
}

// touch records a token's last use. It is best effort: failing a request
// because a usage timestamp could not be written (a full disk, say) would
// turn bookkeeping into an outage.
func (s *Service) touch(id string, now time.Time) {
	_ = s.db.Update(func(tx *bbolt.Tx) error {
		tokens := tx.Bucket(tokensBucket)
		var t tokenRecord
		if ok, err := get(tokens, id, &t); err != nil || !ok {
			return err
		}
		t.LastUsed = now.UTC()
		return put(tokens, id, &t)
	})
}
