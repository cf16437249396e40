package secrets

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const (
	// EnvMasterKey names the environment variable that, when set, holds the
	// master key as base64 of 32 bytes (`openssl rand -base64 32`). It wins
	// over the key file, which is then neither read nor written.
	EnvMasterKey = "HAVEN_MASTER_KEY"
	// EnvMasterKeyNext names the variable holding the key that RotateKey
	// re-wraps to when the master key comes from EnvMasterKey. Haven never
	// invents a key it cannot write down, so with environment keys the
	// operator supplies the new one.
	EnvMasterKeyNext = "HAVEN_MASTER_KEY_NEXT"

	// KeyFile and NextKeyFile are the key files' names inside the data
	// directory. NextKeyFile exists only while a rotation is under way or
	// after a crash interrupted one; see Open for how it is resolved.
	KeyFile     = "master.key"
	NextKeyFile = "master.key.next"

	masterKeySize = 32 // AES-256
)

// Keyring holds the master key candidates found at start: the current key
// and, after an interrupted rotation, the next one. Open decides which of
// them this data directory was sealed with; a Keyring is not usable for
// encryption by itself.
//
// Key files hold the key as one line of standard base64, the same text
// HAVEN_MASTER_KEY takes, so an operator can move a key between the file
// and the variable by copy and paste.
type Keyring struct {
	dir     string // data directory; "" when the key comes from the environment
	fromEnv bool

	current *masterKey // nil when only master.key.next exists
	next    *masterKey // master.key.next or HAVEN_MASTER_KEY_NEXT, if any

	// generated means current was made by LoadKeyring because no key file
	// existed. It is written to disk by Open, and only once Open knows the
	// store is new: a data directory whose key file was lost must not get
	// a plausible-looking wrong key file that later ends up in a backup.
	generated bool
}

// masterKey is one AES-256 master key with its id and cipher.
type masterKey struct {
	key  []byte
	id   string
	aead cipher.AEAD
}

func newMasterKey(key []byte) (*masterKey, error) {
	if len(key) != masterKeySize {
		return nil, fmt.Errorf("master key is %d bytes, want %d", len(key), masterKeySize)
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return &masterKey{key: key, id: keyID(key), aead: aead}, nil
}

// keyID names a key without revealing it: the first 8 bytes of its SHA-256,
// in hex. With a uniformly random 256-bit key the hash gives nothing away,
// and 64 bits are plenty to tell an operator's keys apart.
func keyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// LoadKeyring finds the master key: from HAVEN_MASTER_KEY if it is set,
// else from <dataDir>/master.key. When neither the key file nor
// master.key.next exists a new key is generated with crypto/rand; Open
// saves it (0600, written to a temporary file and renamed) when it seals
// a new store with it.
func LoadKeyring(dataDir string) (*Keyring, error) {
	if v, ok := os.LookupEnv(EnvMasterKey); ok {
		cur, err := parseEnvKey(EnvMasterKey, v)
		if err != nil {
			return nil, err
		}
		kr := &Keyring{fromEnv: true, current: cur}
		if v, ok := os.LookupEnv(EnvMasterKeyNext); ok && v != "" {
			if kr.next, err = parseEnvKey(EnvMasterKeyNext, v); err != nil {
				return nil, err
			}
		}
		return kr, nil
	}

	kr := &Keyring{dir: filepath.Clean(dataDir)}
	var err error
	if kr.current, err = readKeyFile(kr.path(KeyFile)); err != nil {
		return nil, err
	}
	if kr.next, err = readKeyFile(kr.path(NextKeyFile)); err != nil {
		return nil, err
	}
	if kr.current == nil && kr.next == nil {
		key := make([]byte, masterKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("generate master key: %w", err)
		}
		if kr.current, err = newMasterKey(key); err != nil {
			return nil, err
		}
		kr.generated = true
	}
	return kr, nil
}

// FromEnv reports whether the master key came from HAVEN_MASTER_KEY.
func (kr *Keyring) FromEnv() bool { return kr.fromEnv }

func (kr *Keyring) path(name string) string { return filepath.Join(kr.dir, name) }

// parseEnvKey decodes a key variable. Errors never quote the value: it is
// either the key or something the operator meant to be one.
func parseEnvKey(name, v string) (*masterKey, error) {
	if strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("%s is set but empty: set it to a base64 32-byte key (openssl rand -base64 32) or unset it to use the key file", name)
	}
	k, err := decodeKey(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return k, nil
}

func decodeKey(text string) (*masterKey, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(key) != masterKeySize {
		return nil, errors.New("not a master key: want 32 bytes in standard base64 (openssl rand -base64 32)")
	}
	return newMasterKey(key)
}

// readKeyFile returns nil, nil when the file does not exist.
func readKeyFile(path string) (*masterKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	k, err := decodeKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return k, nil
}

// writeKeyFile writes key to path atomically and durably: a temporary file
// (0600 from creation, so the key is never readable by others even for a
// moment), fsync, rename, fsync of the directory. A crash leaves either
// the old file or the complete new one.
func writeKeyFile(path string, key []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	f, err := os.CreateTemp(dir, ".master.key-*")
	if err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write master key: %w", err)
	}
	text := base64.StdEncoding.EncodeToString(key) + "\n"
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("write master key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write master key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	return syncDir(dir)
}

// renameDurable renames and fsyncs the directory, so that the rename
// survives a power cut and the next start sees the same key files.
func renameDurable(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	return syncDir(filepath.Dir(to))
}

func removeDurable(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
