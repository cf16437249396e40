package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestAddUserRules(t *testing.T) {
	s := newService(t, newClock())
	for _, c := range []struct {
		name, pw string
		bindings []Binding
		err      error
	}{
		{"ann", "twelve-chars", []Binding{b(RoleViewer, "prod")}, nil},
		{"ann", "twelve-chars", nil, ErrExists},
		{"short", "elevenchars", nil, ErrInvalid},
		{"Bad_Name", "long-enough-password", nil, ErrInvalid},
		{"", "long-enough-password", nil, ErrInvalid},
		{"selfish-name", "selfish-name", nil, ErrInvalid},
		{"big", strings.Repeat("x", MaxPasswordLen+1), nil, ErrInvalid},
		{"role", "long-enough-password", []Binding{{Role: "root", Env: "prod"}}, ErrInvalid},
		{"noenv", "long-enough-password", []Binding{{Role: RoleViewer}}, ErrInvalid},
	} {
		err := s.AddUser(c.name, c.pw, c.bindings)
		if c.err == nil && err != nil || c.err != nil && !errors.Is(err, c.err) {
			t.Errorf("AddUser(%q): %v, want %v", c.name, err, c.err)
		}
	}
}

func TestUsersNeverExposeSecrets(t *testing.T) {
	s := newService(t, newClock())
	mustAddUser(t, s, "zed", b(RoleViewer, "prod"), b(RoleViewer, "prod"))
	mustAddUser(t, s, "amy")
	if _, _, err := s.EnableMFA(t.Context(), "amy", "amy-correct-horse", "", "192.0.2.9"); err != nil {
		t.Fatal(err)
	}
	users, err := s.ListUsers()
	if err != nil || len(users) != 2 || users[0].Name != "amy" || users[1].Name != "zed" {
		t.Fatalf("users %+v, %v", users, err)
	}
	if len(users[1].Bindings) != 1 {
		t.Errorf("duplicate bindings kept: %v", users[1].Bindings)
	}
	if users[0].MFA {
		t.Error("pending MFA shown as on")
	}
	// User carries no secret fields at all: the type is the guarantee.
	if raw := rawUser(t, s, "zed"); !containsBytes(raw, "$argon2id$v=19$m=19456,t=2,p=1$") && !containsBytes(raw, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("stored hash is not PHC argon2id: %s", raw)
	}
}

func TestLastAdminKept(t *testing.T) {
	s := newService(t, newClock())
	mustAddUser(t, s, "root", b(RoleAdmin, "*"))
	if err := s.RemoveUser("root"); !errors.Is(err, ErrInvalid) {
		t.Errorf("removing the last admin: %v", err)
	}
	if err := s.SetBindings("root", []Binding{b(RoleDevOps, "*")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("demoting the last admin: %v", err)
	}
	mustAddUser(t, s, "root2", b(RoleAdmin, ""))
	if err := s.RemoveUser("root"); err != nil {
		t.Errorf("removing one of two admins: %v", err)
	}
	if err := s.RemoveUser("root"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing twice: %v", err)
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("correct horse battery", defaultArgon)
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := hashPassword("correct horse battery", defaultArgon)
	if h == h2 {
		t.Error("two hashes of one password are equal: no per-user salt")
	}
	if !verifyPassword("correct horse battery", h) || verifyPassword("correct horse batterY", h) {
		t.Error("verify is wrong")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5", strings.Replace(h, "v=19", "v=16", 1), h[:len(h)-50]} {
		if verifyPassword("correct horse battery", bad) {
			t.Errorf("verified against %q", bad)
		}
	}
}

func TestEnsureAdmin(t *testing.T) {
	s := newService(t, newClock())
	tok, created, err := s.EnsureAdmin()
	if err != nil || !created || tok == "" {
		t.Fatalf("first: %q, %v, %v", tok, created, err)
	}
	id, err := s.Authenticate(t.Context(), tok)
	if err != nil || id.User != BootstrapUser || !id.Can(PermAdmin, "") || !id.Can(PermSecretWrite, "prod") {
		t.Fatalf("bootstrap identity %+v, %v", id, err)
	}
	info, _ := s.GetToken(id.TokenID)
	if info.Expires.Sub(info.Created) != MaxTokenTTL {
		t.Errorf("bootstrap token lives %v", info.Expires.Sub(info.Created))
	}
	tok2, created, err := s.EnsureAdmin()
	if err != nil || created || tok2 != "" {
		t.Errorf("second: %q, %v, %v", tok2, created, err)
	}
	// The password is unknown to everyone, including an empty guess.
	if _, _, err := s.Login(t.Context(), BootstrapUser, "", "", "127.0.0.1"); err != ErrUnauthenticated {
		t.Errorf("login with no password: %v", err)
	}
}

func TestReopen(t *testing.T) {
	clk := newClock()
	db := openDB(t)
	s1, err := New(db, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, _ := s1.EnsureAdmin()
	s2, err := New(db, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Authenticate(t.Context(), tok); err != nil {
		t.Errorf("token lost across New: %v", err)
	}
}
