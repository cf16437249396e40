package hostfs

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// ReadInto reads a small file (cgroup and proc files) into buf without
// allocating a buffer per read.
func ReadInto(path string, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if err != nil || m == 0 {
			break
		}
	}
	return buf[:n], nil
}

// netBufs holds the buffers NetDev reads /proc/PID/net/dev into, so a
// collection pass over many instances allocates nothing.
var netBufs = sync.Pool{New: func() any { return new([8192]byte) }}

// NetDev sums the bytes received and sent by every interface but loopback
// in the network namespace of pid.
func NetDev(pid int) (rx, tx uint64, err error) {
	buf := netBufs.Get().(*[8192]byte)
	defer netBufs.Put(buf)
	b, err := ReadInto("/proc/"+strconv.Itoa(pid)+"/net/dev", buf[:])
	if err != nil {
		return 0, 0, err
	}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		name, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok || string(bytes.TrimSpace(name)) == "lo" {
			continue // the two header lines have no colon
		}
		// Fields: rx bytes packets errs drop fifo frame compressed
		// multicast, then tx bytes ...
		f := bytes.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, _ := strconv.ParseUint(string(f[0]), 10, 64)
		t, _ := strconv.ParseUint(string(f[8]), 10, 64)
		rx += r
		tx += t
	}
	return rx, tx, nil
}

// DirSize is the disk space used by the files under dir (allocated
// blocks, like du), each inode counted once.
func DirSize(dir string) int64 {
	var total int64
	seen := map[uint64]bool{}
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			if st.Nlink > 1 {
				if seen[st.Ino] {
					return nil
				}
				seen[st.Ino] = true
			}
			total += st.Blocks * 512
			return nil
		}
		total += info.Size()
		return nil
	})
	return total
}

// Fullness returns how full the fullest of the filesystems holding paths
// is, as df counts it: used / (used + available to unprivileged users).
func Fullness(paths []string) float64 {
	worst := 0.0
	for _, p := range paths {
		var fs syscall.Statfs_t
		if err := syscall.Statfs(p, &fs); err != nil || fs.Blocks == 0 {
			continue
		}
		used := float64(fs.Blocks - fs.Bfree)
		if r := used / (used + float64(fs.Bavail)); r > worst {
			worst = r
		}
	}
	return worst
}
