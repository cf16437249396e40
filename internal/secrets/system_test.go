package secrets

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestSystemKeyIsStableSealedAndOutOfUsersReach(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, _ := openStore(t, dir)
	k1, err := s.SystemKey(ctx, "audit-mac")
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 {
		t.Fatalf("key is %d bytes", len(k1))
	}
	k2, err := s.SystemKey(ctx, "audit-mac")
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second SystemKey = %x, %v; want the first key %x", k2, err, k1)
	}
	other, err := s.SystemKey(ctx, "totp-seal")
	if err != nil || bytes.Equal(other, k1) {
		t.Fatalf("another name gave %x, %v; want a different key", other, err)
	}
	if _, _, err := s.Get(ctx, SystemEnv, "audit-mac", 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Get of a system key = %v, want ErrInvalid", err)
	}
	if _, err := s.Set(ctx, SystemEnv, "audit-mac", make([]byte, 32), "mallory"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Set of a system key = %v, want ErrInvalid", err)
	}
	if _, err := s.List(ctx, SystemEnv); !errors.Is(err, ErrInvalid) {
		t.Errorf("List of the system env = %v, want ErrInvalid", err)
	}
	if err := s.DeleteEnv(ctx, SystemEnv); !errors.Is(err, ErrInvalid) {
		t.Errorf("DeleteEnv of the system env = %v, want ErrInvalid", err)
	}

	// A rotation re-wraps system keys with the rest: the same key after it.
	if _, err := s.RotateKey(ctx, dir); err != nil {
		t.Fatal(err)
	}
	k3, err := s.SystemKey(ctx, "audit-mac")
	if err != nil || !bytes.Equal(k1, k3) {
		t.Fatalf("after rotation SystemKey = %x, %v; want %x", k3, err, k1)
	}
}

func TestKeySealer(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	a, err := NewKeySealer(key, "totp")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := a.Seal([]byte("JBSWY3DPEHPK3PXP"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatal("sealed value holds the plaintext")
	}
	if pt, err := a.Open(sealed); err != nil || string(pt) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	b, _ := NewKeySealer(key, "other")
	if _, err := b.Open(sealed); !errors.Is(err, ErrDecrypt) {
		t.Errorf("another purpose opened it: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := a.Open(sealed); !errors.Is(err, ErrDecrypt) {
		t.Errorf("a flipped byte opened: %v", err)
	}
	if _, err := a.Open([]byte{1, 2}); !errors.Is(err, ErrDecrypt) {
		t.Errorf("a short value: %v", err)
	}
	if _, err := NewKeySealer(key[:16], "x"); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}

func TestMarkSystem(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, t.TempDir())
	if ok, err := s.SystemMarked(ctx, "audit-keyed"); err != nil || ok {
		t.Fatalf("SystemMarked before MarkSystem = %v, %v", ok, err)
	}
	for range 2 { // marking twice is marking once
		if err := s.MarkSystem(ctx, "audit-keyed"); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.SystemMarked(ctx, "audit-keyed"); err != nil || !ok {
		t.Fatalf("SystemMarked after MarkSystem = %v, %v", ok, err)
	}
	if err := s.Delete(ctx, SystemEnv, "audit-keyed"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Delete of a mark = %v, want ErrInvalid", err)
	}
}
