package auth

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTokenLifecycle(t *testing.T) {
	clk := newClock()
	s := newService(t, clk)
	ctx := t.Context()
	mustAddUser(t, s, "bob", b(RoleDevOps, "staging"), b(RoleViewer, "prod"))

	secret, info, err := s.CreateToken(t.Context(), cred(t, s, "bob"), "", "ci deploys", nil, 0, Proof{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "hvn_"+info.ID+"_") || len(info.ID) != 16 || len(secret) != tokenLen {
		t.Errorf("token %q (id %s) is not hvn_<16 hex>_<43 base64url>", secret, info.ID)
	}
	if got := info.Expires.Sub(info.Created); got != DefaultTokenTTL {
		t.Errorf("default lifetime %v, want %v", got, DefaultTokenTTL)
	}
	want := []Binding{b(RoleViewer, "prod"), b(RoleDevOps, "staging")}
	if !slices.Equal(info.Bindings, want) {
		t.Errorf("no bindings asked: got %v, want the user's %v", info.Bindings, want)
	}
	// The secret is not at rest anywhere.
	if raw := rawToken(t, s, info.ID); containsBytes(raw, secret[len(secret)-43:]) {
		t.Error("token secret stored in the clear")
	}

	id, err := s.Authenticate(ctx, "Bearer-less "+secret)
	if !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("garbage accepted: %+v, %v", id, err)
	}
	id, err = s.Authenticate(ctx, secret)
	if err != nil || id.User != "bob" || id.TokenID != info.ID || !id.Can(PermSecretWrite, "staging") || id.Can(PermSecretWrite, "prod") {
		t.Fatalf("identity %+v, %v", id, err)
	}
	if got, _ := s.GetToken(info.ID); !got.LastUsed.Equal(clk.now()) {
		t.Errorf("last used %v, want %v", got.LastUsed, clk.now())
	}

	// Wrong secret with a right id; a flipped character; unknown id.
	for _, bad := range []string{
		secret[:len(secret)-1] + flip(secret[len(secret)-1]), // also the spare bits
		secret[:30] + flip(secret[30]) + secret[31:],
		"hvn_0000000000000000_" + secret[21:],
		"",
		"hvn_" + info.ID,
	} {
		if _, err := s.Authenticate(ctx, bad); err != ErrUnauthenticated {
			t.Errorf("Authenticate(%q) = %v, want ErrUnauthenticated", bad, err)
		}
	}

	// Narrowing applies at once to the user's tokens.
	if err := s.SetBindings("bob", []Binding{b(RoleDeveloper, "staging")}); err != nil {
		t.Fatal(err)
	}
	id, _ = s.Authenticate(ctx, secret)
	if !slices.Equal(id.Bindings, []Binding{b(RoleDeveloper, "staging")}) || id.Can(PermSecretRead, "staging") || !id.Can(PermAppDeploy, "staging") {
		t.Errorf("after demotion: %+v", id.Bindings)
	}
	// Giving the role back restores the token's bindings, never more.
	if err := s.SetBindings("bob", []Binding{b(RoleAdmin, "*")}); err != nil {
		t.Fatal(err)
	}
	id, _ = s.Authenticate(ctx, secret)
	if !slices.Equal(id.Bindings, want) || id.Can(PermAdmin, "") {
		t.Errorf("after promotion the token gained: %+v", id.Bindings)
	}

	// Expiry by the clock.
	clk.advance(DefaultTokenTTL)
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, ErrTokenExpired) || !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("expired token: %v, want ErrTokenExpired", err)
	}
	// Pruned a retention period later.
	clk.advance(tokenRetention + time.Second)
	if _, _, err := s.CreateToken(t.Context(), cred(t, s, "bob"), "", "next", nil, time.Hour, Proof{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetToken(info.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("long-expired token not pruned: %v", err)
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestTokenRevokeAndUserRemoval(t *testing.T) {
	clk := newClock()
	s := newService(t, clk)
	ctx := t.Context()
	mustAddUser(t, s, "root", b(RoleAdmin, "*"))
	mustAddUser(t, s, "carol", b(RoleDeveloper, "dev"))

	carol := cred(t, s, "carol")
	clk.advance(time.Second) // listings are oldest first
	sec1, t1, _ := s.CreateToken(t.Context(), carol, "", "one", nil, time.Hour, Proof{})
	clk.advance(time.Second)
	sec2, _, _ := s.CreateToken(t.Context(), carol, "", "two", nil, time.Hour, Proof{})
	_, _, _ = s.CreateToken(t.Context(), cred(t, s, "root"), "", "root's", nil, time.Hour, Proof{})

	if err := s.RevokeToken(t1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, sec1); err != ErrUnauthenticated {
		t.Errorf("revoked token: %v", err)
	}
	if _, err := s.Authenticate(ctx, sec2); err != nil {
		t.Errorf("a sibling of the revoked token: %v", err)
	}
	if err := s.RevokeToken("ffffffffffffffff"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}
	carols, _ := s.ListTokens("carol")
	all, _ := s.ListTokens("")
	// carol's root credential, "one", "two"; and root's two.
	if len(carols) != 3 || len(all) != 5 || carols[1].Revoked.IsZero() || carols[1].Name != "one" {
		t.Errorf("list: carol %+v, all %d", carols, len(all))
	}

	if err := s.RemoveUser("carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, sec2); err != ErrUnauthenticated {
		t.Errorf("token of a removed user: %v", err)
	}
	// A new carol does not inherit the old one's tokens.
	mustAddUser(t, s, "carol", b(RoleDeveloper, "dev"))
	if _, err := s.Authenticate(ctx, sec2); err != ErrUnauthenticated {
		t.Errorf("token of a removed user revived by a namesake: %v", err)
	}
	if ts, _ := s.ListTokens("carol"); len(ts) != 0 {
		t.Errorf("new carol has tokens %+v", ts)
	}
}

func TestCreateTokenBindings(t *testing.T) {
	clk := newClock()
	s := newService(t, clk)
	mustAddUser(t, s, "dora", b(RoleDevOps, "*"), b(RoleViewer, "prod"))
	mustAddUser(t, s, "eve", b(RoleDeveloper, "dev"))
	for _, c := range []struct {
		user     string
		bindings []Binding
		ttl      time.Duration
		ok       bool
	}{
		{"dora", []Binding{b(RoleDevOps, "staging")}, 0, true}, // narrower env
		{"dora", []Binding{b(RoleViewer, "staging")}, 0, true}, // weaker role
		{"dora", []Binding{b(RoleDevOps, "*")}, MaxTokenTTL, true},
		{"dora", []Binding{b(RoleAdmin, "*")}, 0, false},       // a role the user lacks
		{"eve", []Binding{b(RoleDeveloper, "prod")}, 0, false}, // an env the user lacks
		{"eve", []Binding{b(RoleDeveloper, "*")}, 0, false},    // wider env
		{"eve", []Binding{b(RoleDevOps, "dev")}, 0, false},     // stronger role
		{"eve", nil, MaxTokenTTL + time.Hour, false},           // must expire within a year
		{"eve", nil, -time.Hour, false},
		{"nobody", nil, 0, false},
		// dora's credential, not eve's roles, bounds what she may create
		// for eve: within both.
		{"eve", []Binding{b(RoleViewer, "dev")}, 0, true},
	} {
		_, info, err := s.CreateToken(t.Context(), cred(t, s, "dora"), c.user, "t", c.bindings, c.ttl, Proof{})
		if (err == nil) != c.ok {
			t.Errorf("%s %v ttl %v: err %v, want ok=%v", c.user, c.bindings, c.ttl, err, c.ok)
		}
		if err == nil && c.bindings != nil && !slices.Equal(info.Bindings, c.bindings) {
			t.Errorf("%s %v: stored %v", c.user, c.bindings, info.Bindings)
		}
	}
	if _, _, err := s.CreateToken(t.Context(), cred(t, s, "dora"), "", "", nil, 0, Proof{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unnamed token: %v", err)
	}
}
