package pki

import (
	"os"
)

// exists reports whether path exists; errors other than "not there" count
// as existing so that the caller's next read reports them.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil || !os.IsNotExist(err)
}
