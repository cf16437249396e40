package secrets

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// SystemEnv is the namespace of the keys Haven keeps for itself (the audit
// trail's MAC key, the key TOTP secrets are sealed with). It contains a
// dot, which no environment name may (they are DNS labels), so no user
// binding can ever reach it through the secrets API. Its values are
// ordinary secret versions: sealed under the master key and re-wrapped by
// RotateKey with everything else.
const SystemEnv = "haven.system"

// systemKeySize is the size of every system key: 256 bits, for HMAC-SHA256
// and AES-256-GCM alike.
const systemKeySize = 32

// SystemKey returns Haven's own key called name, creating it from
// crypto/rand on first use. The key lives only sealed in the store, so
// whoever lacks the master key cannot read it, and so cannot forge what it
// authenticates or open what it seals.
func (s *Store) SystemKey(ctx context.Context, name string) ([]byte, error) {
	key, _, err := s.get(ctx, SystemEnv, name, 0)
	if err == nil {
		if len(key) != systemKeySize {
			return nil, fmt.Errorf("system key %s is %d bytes, want %d", name, len(key), systemKeySize)
		}
		return key, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	key = make([]byte, systemKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate system key %s: %w", name, err)
	}
	if _, err := s.set(ctx, SystemEnv, name, key, "haven"); err != nil {
		return nil, err
	}
	// Two servers racing on first use would each have set a version; the
	// latest wins for both once they read it back.
	key, _, err = s.get(ctx, SystemEnv, name, 0)
	return key, err
}

// MarkSystem records, under SystemEnv, that something happened once and
// for all (the audit trail became keyed). Marks cannot be removed through
// any API; removing one needs editing the store file itself.
func (s *Store) MarkSystem(ctx context.Context, name string) error {
	if ok, err := s.SystemMarked(ctx, name); err != nil || ok {
		return err
	}
	_, err := s.set(ctx, SystemEnv, name, []byte{1}, "haven")
	return err
}

// SystemMarked reports whether MarkSystem(name) ever ran on this store.
func (s *Store) SystemMarked(ctx context.Context, name string) (bool, error) {
	_, _, err := s.get(ctx, SystemEnv, name, 0)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	default:
		return false, err
	}
}

// KeySealer encrypts small values (a TOTP secret, a token) with AES-256-GCM
// under one key, binding each to a purpose so that a value sealed for one
// use cannot be replayed as another. It satisfies auth.Sealer.
type KeySealer struct {
	aead    cipher.AEAD
	purpose []byte
}

// NewKeySealer returns a sealer under key (32 bytes, typically a
// SystemKey) for values of one purpose.
func NewKeySealer(key []byte, purpose string) (*KeySealer, error) {
	if len(key) != systemKeySize {
		return nil, fmt.Errorf("sealer key is %d bytes, want %d", len(key), systemKeySize)
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return &KeySealer{aead: aead, purpose: []byte(purpose)}, nil
}

// Seal encrypts plaintext under a fresh nonce; the result is nonce ‖
// ciphertext.
func (k *KeySealer) Seal(plaintext []byte) ([]byte, error) {
	nonce, ct, err := seal(k.aead, plaintext, k.purpose)
	if err != nil {
		return nil, err
	}
	return append(nonce, ct...), nil
}

// Open decrypts what Seal returned. A value that was altered, or sealed
// under another key or purpose, gives an error wrapping ErrDecrypt.
func (k *KeySealer) Open(sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, fmt.Errorf("%w: sealed value is %d bytes, shorter than its nonce", ErrDecrypt, len(sealed))
	}
	pt, err := open(k.aead, sealed[:n], sealed[n:], k.purpose)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	return pt, nil
}
