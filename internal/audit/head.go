package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// head is the anchor kept in "<log>.head": the sequence number and hash of
// the newest record. The chain alone cannot show that records were cut off
// its end — what is left is still a valid chain — so the head remembers how
// far it reached. It is rewritten whole (temp file, fsync, rename, fsync of
// the directory) after each append, so a crash leaves either the old head or
// the new one, never a mix.
type head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

func headPath(logPath string) string { return logPath + ".head" }

// readHead returns the anchor of the log at logPath; ok is false when the
// head file does not exist.
func readHead(logPath string) (h head, ok bool, err error) {
	b, err := os.ReadFile(headPath(logPath))
	if errors.Is(err, fs.ErrNotExist) {
		return head{}, false, nil
	}
	if err != nil {
		return head{}, false, err
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return head{}, true, fmt.Errorf("%s: unparseable: %w", headPath(logPath), err)
	}
	return h, true, nil
}

// writeHead replaces the anchor atomically and durably.
func writeHead(logPath string, h head) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	final := headPath(logPath)
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(final))
}

// syncDir makes a rename or create in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
