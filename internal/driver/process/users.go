package process

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/haven-platform/haven/internal/atomicfile"
	"github.com/haven-platform/haven/internal/spec"
)

// firstEnvUID is where the uids of environments start: far above the
// accounts of /etc/passwd and the usual /etc/subuid ranges.
const firstEnvUID = 600000

// Files of the driver's directory about users.
const (
	uidsFile = "uids.json" // app/env → uid, never reused
	uidsLock = "uids.lock"
)

// cred is the user an instance runs as, when it is not Haven's own.
type cred struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

// separate reports whether instances run as users of their own: only root
// may switch users.
func separate() bool { return os.Geteuid() == 0 }

// instanceCred is who an instance runs as: the service's compose user: when
// it names one, else its environment's own uid when Haven is root, else
// nil (Haven's own user).
func (d *Driver) instanceCred(env spec.AppEnv, svc spec.Service) (*cred, error) {
	if svc.User != "" {
		return credential(svc.User)
	}
	if !separate() {
		return nil, nil
	}
	uid, err := d.envUID(env)
	if err != nil {
		return nil, err
	}
	return &cred{UID: uid, GID: uid}, nil
}

// envUID returns the uid of an environment, allocating the next free one
// (from firstEnvUID, skipping any that /etc/passwd knows) the first time.
// The table is kept in the driver's directory, so the uid stays the same
// across restarts and is never handed to another environment, even after
// the environment is removed: files it left anywhere stay its own.
func (d *Driver) envUID(env spec.AppEnv) (uint32, error) {
	key := env.App + "/" + env.Env
	d.uidMu.Lock()
	defer d.uidMu.Unlock()
	lock, err := os.OpenFile(filepath.Join(d.root, uidsLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, fmt.Errorf("uid of %s: %w", env, err)
	}
	defer lock.Close()
	// Several Driver values (processes) may share the directory.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return 0, fmt.Errorf("uid of %s: %w", env, err)
	}
	path := filepath.Join(d.root, uidsFile)
	table := map[string]uint32{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &table); err != nil {
			return 0, fmt.Errorf("uid of %s: %s is damaged (%v): restore it from a backup; never delete it, or environments would swap users", env, path, err)
		}
	} else if !os.IsNotExist(err) {
		return 0, fmt.Errorf("uid of %s: %w", env, err)
	}
	if uid, ok := table[key]; ok {
		return uid, nil
	}
	next := uint32(firstEnvUID)
	for _, uid := range table {
		if uid >= next {
			next = uid + 1
		}
	}
	for {
		_, uerr := user.LookupId(strconv.Itoa(int(next)))
		_, gerr := user.LookupGroupId(strconv.Itoa(int(next)))
		if uerr != nil && gerr != nil {
			break
		}
		next++
	}
	table[key] = next
	b, _ := json.MarshalIndent(table, "", "  ")
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return 0, fmt.Errorf("uid of %s: %w", env, err)
	}
	return next, nil
}

// credential resolves a compose user ("name", "uid", "name:group",
// "uid:gid"). It returns nil when no switch is needed, so an unprivileged
// Haven can run services that name its own user.
func credential(u string) (*cred, error) {
	if u == "" {
		return nil, nil
	}
	name, group, hasGroup := strings.Cut(u, ":")
	var uid, gid uint64
	var err error
	if uid, err = strconv.ParseUint(name, 10, 32); err != nil {
		usr, lerr := user.Lookup(name)
		if lerr != nil {
			return nil, fmt.Errorf("user %q: %w", u, lerr)
		}
		uid, _ = strconv.ParseUint(usr.Uid, 10, 32)
		gid, _ = strconv.ParseUint(usr.Gid, 10, 32)
	} else if usr, lerr := user.LookupId(name); lerr == nil {
		gid, _ = strconv.ParseUint(usr.Gid, 10, 32)
	}
	if hasGroup {
		if gid, err = strconv.ParseUint(group, 10, 32); err != nil {
			g, lerr := user.LookupGroup(group)
			if lerr != nil {
				return nil, fmt.Errorf("user %q: %w", u, lerr)
			}
			gid, _ = strconv.ParseUint(g.Gid, 10, 32)
		}
	}
	if int(uid) == os.Getuid() && int(gid) == os.Getgid() {
		return nil, nil
	}
	return &cred{UID: uint32(uid), GID: uint32(gid)}, nil
}

// ownDir makes dir (created if needed) belong to c with mode perm. Files
// already inside that belong to someone else are handed over too, once:
// a volume created before instances had users of their own.
func ownDir(dir string, c *cred, perm os.FileMode) error {
	if err := os.MkdirAll(dir, perm); err != nil {
		return err
	}
	if c == nil {
		return os.Chmod(dir, perm)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (st.Uid != c.UID || st.Gid != c.GID) {
		err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, int(c.UID), int(c.GID))
		})
		if err != nil {
			return err
		}
	}
	return os.Chmod(dir, perm)
}

// syncDir makes the directory's entries (a create, a rename) durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
