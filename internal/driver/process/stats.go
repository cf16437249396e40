package process

import (
	"github.com/haven-platform/haven/internal/hostfs"

	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/haven-platform/haven/internal/driver"
)

var _ driver.StatsReader = (*Driver)(nil)

const (
	// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat:
	// 100 on every Linux architecture Go supports (the kernel fixes it for
	// user space whatever CONFIG_HZ is).
	clockTicks = 100
	// diskRefresh bounds how often an instance's directories are walked.
	diskRefresh = 60 * time.Second
	// staleAfter forgets the cache of an instance Stats was not asked
	// about for this long.
	staleAfter = 5 * time.Minute
	// maxTree bounds the descendants followed per instance, so a fork bomb
	// does not make Stats slow.
	maxTree = 64
)

// statsCache is the Driver's memory for Stats; the zero value is ready.
type statsCache struct {
	mu         sync.Mutex
	procs      map[string]*procStats
	lastPruned time.Time
}

// procStats is what Stats remembers of one instance: its record is read
// once, not every couple of seconds.
type procStats struct {
	pid        int
	startTicks uint64
	dirs       []string // the instance directory (logs) and its volumes
	disk       int64
	diskAt     time.Time
	measuring  bool
	lastUsed   time.Time
}

// Stats implements driver.StatsReader from /proc: CPU time and resident
// memory of the instance's process and its descendants, the network bytes
// of its namespace (the host's, for a plain process) and the disk used by
// its directory and volumes. Processes have no limits, so CPULimit,
// MemoryLimit and DiskLimit are 0.
func (d *Driver) Stats(ctx context.Context, id string) (driver.Stats, error) {
	s := &d.stats
	now := time.Now()
	p, err := d.procFor(s, id, now)
	if err != nil {
		return driver.Stats{}, err
	}
	st := driver.Stats{Time: now}
	cpu, rss, ok := treeUsage(p.pid, p.startTicks)
	if !ok {
		s.mu.Lock()
		delete(s.procs, id)
		s.mu.Unlock()
		return driver.Stats{}, fmt.Errorf("stats %s: not running: %w", id, driver.ErrNotFound)
	}
	st.CPUSeconds = float64(cpu) / clockTicks
	st.MemoryBytes = rss
	st.NetRxBytes, st.NetTxBytes, _ = hostfs.NetDev(p.pid)

	s.mu.Lock()
	if !p.measuring && now.Sub(p.diskAt) > diskRefresh {
		p.measuring, p.diskAt = true, now
		go func() {
			var n int64
			for _, dir := range p.dirs {
				n += hostfs.DirSize(dir)
			}
			s.mu.Lock()
			p.disk, p.measuring = n, false
			s.mu.Unlock()
		}()
	}
	st.DiskBytes = p.disk
	s.mu.Unlock()
	return st, nil
}

// procFor returns the cached facts of a running instance, reading its
// record (and measuring its disk) on first use.
func (d *Driver) procFor(s *statsCache, id string, now time.Time) (*procStats, error) {
	s.mu.Lock()
	if s.procs == nil {
		s.procs = map[string]*procStats{}
	}
	p := s.procs[id]
	if p != nil {
		p.lastUsed = now
	}
	if now.Sub(s.lastPruned) > time.Minute {
		s.lastPruned = now
		for k, v := range s.procs {
			if now.Sub(v.lastUsed) > staleAfter {
				delete(s.procs, k)
			}
		}
	}
	s.mu.Unlock()
	if p != nil {
		return p, nil
	}
	dir, err := d.instanceDir(id)
	if err != nil {
		return nil, err
	}
	rec, err := readRecord(dir)
	if err != nil {
		return nil, fmt.Errorf("stats %s: %w", id, err)
	}
	if !alive(rec) {
		return nil, fmt.Errorf("stats %s: not running: %w", id, driver.ErrNotFound)
	}
	p = &procStats{pid: rec.PID, startTicks: rec.StartTicks, dirs: []string{dir}, diskAt: now, lastUsed: now}
	// The instance's volumes are the directories Start handed it.
	for _, kv := range rec.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "HAVEN_VOLUME_") {
			p.dirs = append(p.dirs, v)
		}
	}
	for _, dir := range p.dirs {
		p.disk += hostfs.DirSize(dir)
	}
	s.mu.Lock()
	s.procs[id] = p
	s.mu.Unlock()
	return p, nil
}

var bufPool = sync.Pool{New: func() any { return new([4096]byte) }}

// treeUsage returns the CPU time (clock ticks: user and system of the
// process and of its descendants, live and reaped) and the resident memory
// of pid and its descendants. ok is false when pid is no longer the process
// that started at startTicks.
func treeUsage(pid int, startTicks uint64) (cpu uint64, rss int64, ok bool) {
	buf := bufPool.Get().(*[4096]byte)
	defer bufPool.Put(buf)
	queue := []int{pid}
	for i := 0; i < len(queue) && i < maxTree; i++ {
		c, start, err := procTimes(queue[i], buf[:], i == 0)
		if err != nil {
			if i == 0 {
				return 0, 0, false
			}
			continue // a child that just exited
		}
		if i == 0 && start != startTicks {
			return 0, 0, false
		}
		cpu += c
		rss += vmRSS(queue[i], buf[:])
		queue = appendChildren(queue, queue[i], buf[:])
	}
	return cpu, rss, true
}

// procTimes reads utime+stime (and, for the root, cutime+cstime: children
// it has waited for, whose time would otherwise vanish with them) and the
// start time from /proc/<pid>/stat.
func procTimes(pid int, buf []byte, withChildren bool) (ticks, start uint64, err error) {
	b, err := hostfs.ReadInto("/proc/"+strconv.Itoa(pid)+"/stat", buf)
	if err != nil {
		return 0, 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	// Fields after the command, numbered from 3 (state): utime is 14,
	// stime 15, cutime 16, cstime 17, starttime 22.
	field, n := 3, 0
	for f := range bytes.FieldsSeq(b[i+2:]) {
		switch field {
		case 14, 15:
			v, _ := strconv.ParseUint(string(f), 10, 64)
			ticks += v
		case 16, 17:
			if withChildren {
				v, _ := strconv.ParseInt(string(f), 10, 64)
				ticks += uint64(max(v, 0))
			}
		case 22:
			start, _ = strconv.ParseUint(string(f), 10, 64)
			n = field
		}
		if n != 0 {
			break
		}
		field++
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: short", pid)
	}
	return ticks, start, nil
}

// vmRSS reads VmRSS from /proc/<pid>/status, in bytes (0 if unreadable,
// as for a zombie).
func vmRSS(pid int, buf []byte) int64 {
	b, err := hostfs.ReadInto("/proc/"+strconv.Itoa(pid)+"/status", buf)
	if err != nil {
		return 0
	}
	i := bytes.Index(b, []byte("\nVmRSS:"))
	if i < 0 {
		return 0
	}
	line := b[i+len("\nVmRSS:"):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := bytes.Fields(line) // "1234 kB"
	if len(f) == 0 {
		return 0
	}
	kb, _ := strconv.ParseInt(string(f[0]), 10, 64)
	return kb * 1024
}

// appendChildren appends the children of pid's main thread (a program that
// forks from another thread is rare; its children are missed).
func appendChildren(queue []int, pid int, buf []byte) []int {
	p := strconv.Itoa(pid)
	b, err := hostfs.ReadInto("/proc/"+p+"/task/"+p+"/children", buf)
	if err != nil {
		return queue
	}
	for f := range bytes.FieldsSeq(b) {
		if c, err := strconv.Atoi(string(f)); err == nil {
			queue = append(queue, c)
		}
	}
	return queue
}
