package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argonParams are the argon2id cost parameters. Stored hashes carry their
// own parameters, so raising these later only affects new hashes.
type argonParams struct {
	time    uint32
	memory  uint32 // KiB
	threads uint8
}

// defaultArgon is OWASP's minimum argon2id setting (19 MiB, 2 passes, 1
// lane). RFC 9106's recommendations (64 MiB or 2 GiB) cost too much on the
// small 2-core machines Haven targets, where a login must not stall
// deploys; at about 20 ms per hash this still makes offline guessing of a
// stolen store file expensive.
var defaultArgon = argonParams{time: 2, memory: 19 * 1024, threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

var b64 = base64.RawStdEncoding // the PHC string format's base64

// hashPassword returns a PHC-format argon2id hash with a fresh random salt:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func hashPassword(password string, p argonParams) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// verifyPassword reports whether password matches the PHC hash encoded. It
// always runs argon2 with the stored parameters when encoded parses, and
// compares in constant time, so its time does not depend on how much of
// the password was right.
func verifyPassword(password, encoded string) bool {
	p, salt, want, ok := parsePHC(encoded)
	if !ok {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

func parsePHC(s string) (p argonParams, salt, key []byte, ok bool) {
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, false
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil ||
		p.time == 0 || p.threads == 0 || p.memory < 8*uint32(p.threads) {
		return p, nil, nil, false
	}
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) == 0 || len(key) == 0 {
		return p, nil, nil, false
	}
	return p, salt, key, true
}
