package process

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// secretsRoot is where external secret values are written for processes:
// a tmpfs, so values never reach a disk, and outside Haven's data
// directory, so a copy of that directory holds none of them.
const secretsRoot = "/dev/shm/haven-secrets"

// secretDir is the directory of one instance's secret files. The data
// directory's hash keeps two servers on one machine apart.
func (d *Driver) secretDir(instance string) string {
	sum := sha256.Sum256([]byte(d.root))
	return filepath.Join(secretsRoot, hex.EncodeToString(sum[:6]), instance)
}

// writeSecret writes one value readable by its owner only and returns the
// file's path.
func (d *Driver) writeSecret(instance, name string, value []byte) (string, error) {
	if value == nil {
		return "", fmt.Errorf("no value was resolved for it")
	}
	dir := d.secretDir(instance)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, value, 0o400); err != nil {
		return "", err
	}
	return path, nil
}

// removeSecrets deletes an instance's secret files.
func (d *Driver) removeSecrets(instance string) {
	_ = os.RemoveAll(d.secretDir(instance))
}
