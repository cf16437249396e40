package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// newGCM returns AES-GCM with the standard 96-bit nonce and 128-bit tag.
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts under a fresh random nonce. Random nonces are safe here:
// every data key seals exactly one value, and the master key seals one
// data key per secret version, far below the 2^32 messages per key at
// which random 96-bit nonces start to risk a collision.
func seal(aead cipher.AEAD, plaintext, aad []byte) (nonce, ciphertext []byte, err error) {
	nonce = make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, fmt.Errorf("generate nonce: %w", err)
	}
	return nonce, aead.Seal(nil, nonce, plaintext, aad), nil
}

// open is seal's inverse. It checks the nonce length itself because
// cipher.AEAD.Open panics on a wrong-sized nonce, and a stored record may
// have been edited.
func open(aead cipher.AEAD, nonce, ciphertext, aad []byte) ([]byte, error) {
	if len(nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("nonce is %d bytes, want %d", len(nonce), aead.NonceSize())
	}
	return aead.Open(nil, nonce, ciphertext, aad)
}
