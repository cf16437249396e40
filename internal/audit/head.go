package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// head is the anchor kept in "<log>.head": the sequence number and hash of
// the newest record. The chain alone cannot show that records were cut off
// its end — what is left is still a valid chain — so the head remembers how
// far it reached. It is rewritten whole (temp file, fsync, rename, fsync of
// the directory) after each append, so a crash leaves either the old head or
// the new one, never a mix.
//
// A keyed trail's head also says from which record on the trail is keyed
// (KeyedFrom: 1 for a trail keyed from its start, N+1 for one of N unkeyed
// records written before keyed trails existed) and carries MAC, the
// HMAC-SHA256 of all three under the trail's key. Without the key nobody
// can move KeyedFrom, so nobody can pass keyed records off as unkeyed ones.
type head struct {
	Seq       uint64 `json:"seq"`
	Hash      string `json:"hash"`
	KeyedFrom uint64 `json:"keyed_from,omitempty"`
	MAC       string `json:"mac,omitempty"`
}

// sign fills in h's MAC under key.
func (h head) sign(key []byte) head {
	h.MAC = headMAC(h, key)
	return h
}

// authentic reports whether h carries a valid MAC under key.
func (h head) authentic(key []byte) bool {
	return h.MAC != "" && hmac.Equal([]byte(h.MAC), []byte(headMAC(h, key)))
}

func headMAC(h head, key []byte) string {
	m := hmac.New(sha256.New, key)
	b := []byte("haven-audit-head-v2\nseq=")
	b = strconv.AppendUint(b, h.Seq, 10)
	b = append(b, "\nhash="...)
	b = strconv.AppendQuote(b, h.Hash)
	b = append(b, "\nkeyed_from="...)
	b = strconv.AppendUint(b, h.KeyedFrom, 10)
	b = append(b, '\n')
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
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
