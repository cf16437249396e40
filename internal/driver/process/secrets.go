package process

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// secretsRoot is where secret values are written for processes: a tmpfs,
// so values never reach a disk, and outside Haven's data directory, so a
// copy of that directory holds none of them.
const secretsRoot = "/dev/shm/haven-secrets"

// secretDir is the directory of one Start's secret files: the instance id
// and the Start's own random suffix, so that clearing what an abandoned
// Start left never touches the files of a later Start of the same
// instance. The data directory's hash keeps two servers on one machine
// apart.
func (d *Driver) secretDir(instance, start string) string {
	sum := sha256.Sum256([]byte(d.root))
	if start == "" {
		// Records of older versions: the directory was the id alone.
		return filepath.Join(secretsRoot, hex.EncodeToString(sum[:6]), instance)
	}
	return filepath.Join(secretsRoot, hex.EncodeToString(sum[:6]), instance+"-"+start)
}

// makeSecretDir creates the Start's secret directory. The two levels above
// it can be passed through by anyone and listed by root only; the
// directory itself belongs to the instance's user (c, nil: Haven's) and
// only that user may enter it, so no other environment reaches the files.
func makeSecretDir(dir string) error {
	for _, p := range []string{secretsRoot, filepath.Dir(dir)} {
		if err := os.MkdirAll(p, 0o711); err != nil {
			return err
		}
		if err := os.Chmod(p, 0o711); err != nil {
			return err
		}
	}
	return os.Mkdir(dir, 0o700)
}

// writeSecret writes one value, readable by the instance's user only, and
// returns the file's path.
func writeSecret(dir, name string, value []byte, c *cred) (string, error) {
	if value == nil {
		return "", fmt.Errorf("no value was resolved for it")
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o400)
	if err != nil {
		return "", err
	}
	_, err = f.Write(value)
	if err == nil && c != nil {
		err = f.Chown(int(c.UID), int(c.GID))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

// sealSecretDir hands the directory to the instance's user, read and
// traverse only: the files are written, nobody adds to them.
func sealSecretDir(dir string, c *cred) error {
	if c != nil {
		if err := os.Chown(dir, int(c.UID), int(c.GID)); err != nil {
			return err
		}
	}
	return os.Chmod(dir, 0o500)
}

// removeSecrets deletes a Start's secret files. Only a directory under
// secretsRoot is removed, whatever a record says.
func removeSecrets(dir string) {
	if dir == "" || !strings.HasPrefix(dir, secretsRoot+"/") || strings.Contains(dir, "..") {
		return
	}
	_ = os.Chmod(dir, 0o700) // sealed 0500: an unprivileged Haven could not unlink its files
	_ = os.RemoveAll(dir)
}
