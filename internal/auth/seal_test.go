package auth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	bbolt "go.etcd.io/bbolt"

	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/secrets"
)

// server is the part of a Haven server start that matters for TOTP at
// rest, wired as cmd/haven does: the store file, the secrets store under
// the data directory's master key, the "totp-seal" system key and a
// KeySealer under it, and auth with that sealer.
type server struct {
	db      *bbolt.DB
	secrets *secrets.Store
	auth    *auth.Service
}

func start(t *testing.T, dir string, clock func() time.Time, sealed bool) *server {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(dir, "haven.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secrets.LoadKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := secrets.Open(db, kr)
	if err != nil {
		t.Fatal(err)
	}
	var opts []auth.Option
	if sealed {
		key, err := st.SystemKey(context.Background(), "totp-seal")
		if err != nil {
			t.Fatal(err)
		}
		sealer, err := secrets.NewKeySealer(key, "auth.totp-secret")
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, auth.WithSealer(sealer))
	}
	svc, err := auth.New(db, clock, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &server{db: db, secrets: st, auth: svc}
}

// TestTOTPSealedAtRestAcrossRestartAndRotation: after an enrolment the
// store file does not hold the base32 secret anywhere, and the same
// authenticator still logs in after a restart and after a master key
// rotation (which re-wraps the sealing key, not the sealed secrets). A
// data directory whose secrets an older server stored in the clear is
// sealed at the first start with sealing and keeps working.
func TestTOTPSealedAtRestAcrossRestartAndRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var mu sync.Mutex
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	step := func() { mu.Lock(); now = now.Add(30 * time.Second); mu.Unlock() }
	code := func(secret string) string {
		c, err := totp.GenerateCode(secret, clock())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const pw = "correct horse battery staple"

	// An older server, without sealing: carl's secret is stored in the clear.
	old := start(t, dir, clock, false)
	if err := old.auth.AddUser("carl", pw, nil); err != nil {
		t.Fatal(err)
	}
	_, carl, err := old.auth.EnableMFA(ctx, "carl", pw, "", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := old.auth.ConfirmMFA("carl", code(carl), "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	old.db.Close()

	s := start(t, dir, clock, true)
	if err := s.auth.AddUser("alice", pw, nil); err != nil {
		t.Fatal(err)
	}
	_, secret, err := s.auth.EnableMFA(ctx, "alice", pw, "", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.auth.ConfirmMFA("alice", code(secret), "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	s.db.Close()
	raw, err := os.ReadFile(filepath.Join(dir, "haven.db"))
	if err != nil {
		t.Fatal(err)
	}
	// An unsealed secret is stored as JSON's base64 of its bytes; look
	// for both spellings.
	for _, spelling := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret))} {
		if bytes.Contains(raw, []byte(spelling)) {
			t.Fatalf("the store file holds the TOTP secret in the clear (as %q)", spelling)
		}
	}

	login := func(s *server, user, secret, when string) {
		t.Helper()
		step() // the previous code's step is used up
		if _, _, err := s.auth.Login(ctx, user, pw, code(secret), "192.0.2.1"); err != nil {
			t.Errorf("%s: login of %s with their authenticator: %v", when, user, err)
		}
	}
	s = start(t, dir, clock, true)
	login(s, "alice", secret, "after a restart")
	login(s, "carl", carl, "after sealing a secret stored in the clear")
	if _, err := s.secrets.RotateKey(ctx, dir); err != nil {
		t.Fatal(err)
	}
	login(s, "alice", secret, "after a key rotation, same process")
	s.db.Close()

	s = start(t, dir, clock, true) // loads the new master key
	defer s.db.Close()
	login(s, "alice", secret, "after a key rotation and a restart")
	login(s, "carl", carl, "after a key rotation and a restart")
}
