package docker

import (
	"github.com/haven-platform/haven/internal/hostfs"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/haven-platform/haven/internal/driver"
)

var _ driver.StatsReader = (*Driver)(nil)

// The metrics collector calls Stats for every running container every
// couple of seconds, so the figures come from the kernel (cgroup files and
// /proc/<pid>/net/dev of the container's init process), not from the
// Engine: an Engine stats call costs a round trip and about a second of
// sampling per container. Only what the kernel cannot tell cheaply comes
// from the Engine, cached:
//   - the init pid and cgroup directories, from one ContainerInspect per
//     container;
//   - the writable layer's size (ContainerInspect with size=true walks the
//     layer, expensive) and the size of named volumes (a walk of each
//     mountpoint), refreshed in the background at most every diskRefresh.
const (
	diskRefresh = 60 * time.Second
	// staleAfter forgets the cache of a container Stats was not asked about
	// for this long (it was removed).
	staleAfter = 5 * time.Minute
	// cgroupRoot is where the cgroup hierarchies are mounted.
	cgroupRoot = "/sys/fs/cgroup"
	// unlimited is the smallest value cgroup v1 reports for "no memory
	// limit" (PAGE_COUNTER_MAX in pages, rounded: 9223372036854771712 on
	// 4 KiB pages); anything this large is not a real limit.
	unlimited = int64(1) << 60
)

// statsCache is the Driver's memory for Stats; the zero value is ready.
type statsCache struct {
	once    sync.Once
	v2      bool   // unified hierarchy (cgroup v2)
	rootDir string // the Engine's data root, for DiskLimit

	mu         sync.Mutex
	conts      map[string]*contStats
	volumes    map[string]*sizeEntry // by host mountpoint
	diskLimit  int64
	limitAt    time.Time
	lastPruned time.Time
}

// contStats is what Stats remembers of one container.
type contStats struct {
	pid int
	// cpuDir, cpuacctDir and memDir are the container's cgroup directories
	// (all the same directory on cgroup v2).
	cpuDir, cpuacctDir, memDir string
	mounts                     []string // host paths of its named volumes
	fsPaths                    []string // paths on every filesystem it writes to, for DiskFullness
	layer                      sizeEntry
	lastUsed                   time.Time
}

// sizeEntry is a disk size measured in the background.
type sizeEntry struct {
	bytes     int64
	at        time.Time // when the last measurement started
	measuring bool
}

// statsInit returns the Driver's stats cache, reading the host-wide facts
// (cgroup version, the Engine's data root) on first use.
func (d *Driver) statsInit(ctx context.Context) *statsCache {
	s := &d.stats
	s.once.Do(func() {
		_, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers"))
		s.v2 = err == nil
		s.rootDir = "/var/lib/docker"
		if info, err := d.cli.Info(ctx); err == nil && info.DockerRootDir != "" {
			s.rootDir = info.DockerRootDir
		}
		s.conts = map[string]*contStats{}
		s.volumes = map[string]*sizeEntry{}
	})
	return s
}

// Stats implements driver.StatsReader. It costs a handful of small file
// reads per call once the container is known; the first call for a
// container inspects it and measures its disk use.
func (d *Driver) Stats(ctx context.Context, id string) (driver.Stats, error) {
	s := d.statsInit(ctx)
	now := time.Now()
	c, err := d.container(ctx, s, id, now)
	if err != nil {
		return driver.Stats{}, err
	}
	st := driver.Stats{Time: now}
	if !s.readCgroup(c, &st) {
		// The container stopped (its cgroup went with it) or its cgroup
		// files are not where we looked (Haven in a container without the
		// host's /sys/fs/cgroup): ask the Engine, which also knows whether
		// it still runs. The cache entry stays for a running container, so
		// this costs one Engine call per pass, not an inspect as well.
		if err := d.statsFromEngine(ctx, id, &st); err != nil {
			s.mu.Lock()
			delete(s.conts, id)
			s.mu.Unlock()
			return driver.Stats{}, err
		}
	} else {
		st.NetRxBytes, st.NetTxBytes, _ = hostfs.NetDev(c.pid)
	}
	st.DiskBytes, st.DiskLimit = d.diskUsage(s, id, c, now)
	st.DiskFullness = hostfs.Fullness(c.fsPaths)
	return st, nil
}

// container returns the cached facts of a running container, inspecting it
// on first use.
func (d *Driver) container(ctx context.Context, s *statsCache, id string, now time.Time) (*contStats, error) {
	s.mu.Lock()
	c := s.conts[id]
	if c != nil {
		c.lastUsed = now
	}
	if now.Sub(s.lastPruned) > time.Minute {
		s.lastPruned = now
		for k, v := range s.conts {
			if now.Sub(v.lastUsed) > staleAfter {
				delete(s.conts, k)
			}
		}
	}
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	ci, err := d.cli.ContainerInspect(ctx, id)
	if err != nil {
		return nil, notFound("stats", id, err)
	}
	if ci.ContainerJSONBase == nil || ci.State == nil || !ci.State.Running || ci.State.Pid == 0 {
		return nil, fmt.Errorf("stats %s: not running: %w", id, driver.ErrNotFound)
	}
	c = &contStats{pid: ci.State.Pid, lastUsed: now}
	c.cpuDir, c.cpuacctDir, c.memDir = cgroupDirs(s.v2, ci.ID, c.pid)
	c.fsPaths = []string{s.rootDir}
	for _, m := range ci.Mounts {
		if m.Type == mount.TypeVolume && m.Source != "" {
			c.mounts = append(c.mounts, m.Source)
		}
		if m.RW && m.Source != "" && (m.Type == mount.TypeVolume || m.Type == mount.TypeBind) {
			c.fsPaths = append(c.fsPaths, m.Source)
		}
	}
	// The first size is measured now, so the first figure is not 0.
	c.layer = sizeEntry{bytes: d.layerSize(ctx, id), at: now}
	s.mu.Lock()
	s.conts[id] = c
	for _, m := range c.mounts {
		if s.volumes[m] == nil {
			s.volumes[m] = &sizeEntry{bytes: hostfs.DirSize(m), at: now}
		}
	}
	s.mu.Unlock()
	return c, nil
}

// cgroupDirs finds a container's cgroup directories: from
// /proc/<pid>/cgroup (right for either cgroup driver, cgroupfs or systemd),
// else at the places Docker's cgroupfs and systemd drivers put them.
func cgroupDirs(v2 bool, id string, pid int) (cpu, cpuacct, mem string) {
	paths := map[string]string{} // controller ("" on v2) → path in its hierarchy
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup"); err == nil {
		for line := range strings.Lines(string(b)) {
			parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
			if len(parts) != 3 {
				continue
			}
			if parts[1] == "" {
				paths[""] = parts[2]
				continue
			}
			for ctrl := range strings.SplitSeq(parts[1], ",") {
				// The hierarchy is mounted under its joined name
				// ("cpu,cpuacct") with symlinks per controller; try both.
				paths[ctrl] = parts[1] + "\x00" + parts[2]
			}
		}
	}
	find := func(ctrl string) string {
		var cands []string
		if v2 {
			if p, ok := paths[""]; ok {
				cands = append(cands, filepath.Join(cgroupRoot, p))
			}
			cands = append(cands,
				filepath.Join(cgroupRoot, "system.slice", "docker-"+id+".scope"),
				filepath.Join(cgroupRoot, "docker", id))
		} else {
			if p, ok := paths[ctrl]; ok {
				mnt, path, _ := strings.Cut(p, "\x00")
				cands = append(cands, filepath.Join(cgroupRoot, mnt, path), filepath.Join(cgroupRoot, ctrl, path))
			}
			cands = append(cands,
				filepath.Join(cgroupRoot, ctrl, "docker", id),
				filepath.Join(cgroupRoot, ctrl, "system.slice", "docker-"+id+".scope"))
		}
		for _, c := range cands {
			if st, err := os.Stat(c); err == nil && st.IsDir() {
				return c
			}
		}
		return ""
	}
	if v2 {
		dir := find("")
		return dir, dir, dir
	}
	return find("cpu"), find("cpuacct"), find("memory")
}

// readCgroup fills CPU and memory figures from the container's cgroup
// files; false when they cannot be read.
func (s *statsCache) readCgroup(c *contStats, st *driver.Stats) bool {
	if c.cpuacctDir == "" || c.memDir == "" {
		return false
	}
	buf := bufPool.Get().(*[8192]byte)
	defer bufPool.Put(buf)
	if s.v2 {
		b, err := hostfs.ReadInto(filepath.Join(c.cpuacctDir, "cpu.stat"), buf[:])
		if err != nil {
			return false
		}
		usec, ok := statField(b, "usage_usec")
		if !ok {
			return false
		}
		st.CPUSeconds = float64(usec) / 1e6
		if b, err := hostfs.ReadInto(filepath.Join(c.cpuDir, "cpu.max"), buf[:]); err == nil {
			if q, p, ok := strings.Cut(strings.TrimSpace(string(b)), " "); ok && q != "max" {
				quota, _ := strconv.ParseFloat(q, 64)
				period, _ := strconv.ParseFloat(p, 64)
				if quota > 0 && period > 0 {
					st.CPULimit = quota / period
				}
			}
		}
		usage, err := readInt(filepath.Join(c.memDir, "memory.current"), buf[:])
		if err != nil {
			return false
		}
		if b, err := hostfs.ReadInto(filepath.Join(c.memDir, "memory.stat"), buf[:]); err == nil {
			inactive, _ := statField(b, "inactive_file")
			usage = max(0, usage-int64(inactive))
		}
		st.MemoryBytes = usage
		if b, err := hostfs.ReadInto(filepath.Join(c.memDir, "memory.max"), buf[:]); err == nil {
			if v, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); err == nil && v < unlimited {
				st.MemoryLimit = v
			}
		}
		return true
	}
	ns, err := readInt(filepath.Join(c.cpuacctDir, "cpuacct.usage"), buf[:])
	if err != nil {
		return false
	}
	st.CPUSeconds = float64(ns) / 1e9
	if c.cpuDir != "" {
		quota, err1 := readInt(filepath.Join(c.cpuDir, "cpu.cfs_quota_us"), buf[:])
		period, err2 := readInt(filepath.Join(c.cpuDir, "cpu.cfs_period_us"), buf[:])
		if err1 == nil && err2 == nil && quota > 0 && period > 0 {
			st.CPULimit = float64(quota) / float64(period)
		}
	}
	usage, err := readInt(filepath.Join(c.memDir, "memory.usage_in_bytes"), buf[:])
	if err != nil {
		return false
	}
	// Page cache the kernel can drop at once is not the container's
	// memory: docker stats subtracts it the same way.
	if b, err := hostfs.ReadInto(filepath.Join(c.memDir, "memory.stat"), buf[:]); err == nil {
		inactive, _ := statField(b, "total_inactive_file")
		usage = max(0, usage-int64(inactive))
	}
	st.MemoryBytes = usage
	if limit, err := readInt(filepath.Join(c.memDir, "memory.limit_in_bytes"), buf[:]); err == nil && limit < unlimited {
		st.MemoryLimit = limit
	}
	return true
}

// statsFromEngine is the fallback when the cgroup files are out of reach
// (Haven in a container without /sys/fs/cgroup, an unknown layout): one
// Engine stats sample.
func (d *Driver) statsFromEngine(ctx context.Context, id string, st *driver.Stats) error {
	r, err := d.cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return notFound("stats", id, err)
	}
	defer r.Body.Close()
	var v container.StatsResponse
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
		return fmt.Errorf("stats %s: %w", id, err)
	}
	if v.PidsStats.Current == 0 && v.CPUStats.CPUUsage.TotalUsage == 0 {
		return fmt.Errorf("stats %s: not running: %w", id, driver.ErrNotFound)
	}
	st.CPUSeconds = float64(v.CPUStats.CPUUsage.TotalUsage) / 1e9
	usage := int64(v.MemoryStats.Usage)
	for _, k := range []string{"total_inactive_file", "inactive_file"} {
		if n, ok := v.MemoryStats.Stats[k]; ok {
			usage = max(0, usage-int64(n))
			break
		}
	}
	st.MemoryBytes = usage
	if l := int64(v.MemoryStats.Limit); l > 0 && l < unlimited {
		st.MemoryLimit = l
	}
	for _, n := range v.Networks {
		st.NetRxBytes += n.RxBytes
		st.NetTxBytes += n.TxBytes
	}
	return nil
}

// diskUsage returns the cached writable layer plus volume sizes and the
// size of the Engine's filesystem, starting background refreshes of
// whatever is older than diskRefresh.
func (d *Driver) diskUsage(s *statsCache, id string, c *contStats, now time.Time) (used, limit int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.limitAt) > diskRefresh {
		s.limitAt = now
		var fs syscall.Statfs_t
		if err := syscall.Statfs(s.rootDir, &fs); err == nil {
			s.diskLimit = int64(fs.Blocks) * fs.Bsize
		}
	}
	if e := &c.layer; !e.measuring && now.Sub(e.at) > diskRefresh {
		e.measuring, e.at = true, now
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n := d.layerSize(ctx, id)
			s.mu.Lock()
			e.bytes, e.measuring = n, false
			s.mu.Unlock()
		}()
	}
	used = c.layer.bytes
	for _, m := range c.mounts {
		e := s.volumes[m]
		if e == nil {
			continue
		}
		if !e.measuring && now.Sub(e.at) > diskRefresh {
			e.measuring, e.at = true, now
			go func() {
				n := hostfs.DirSize(m)
				s.mu.Lock()
				e.bytes, e.measuring = n, false
				s.mu.Unlock()
			}()
		}
		used += e.bytes
	}
	return used, s.diskLimit
}

// layerSize asks the Engine for the size of the container's writable layer.
func (d *Driver) layerSize(ctx context.Context, id string) int64 {
	ci, _, err := d.cli.ContainerInspectWithRaw(ctx, id, true)
	if err != nil || ci.SizeRw == nil {
		return 0
	}
	return *ci.SizeRw
}

var bufPool = sync.Pool{New: func() any { return new([8192]byte) }}

func readInt(path string, buf []byte) (int64, error) {
	b, err := hostfs.ReadInto(path, buf)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
}

// statField finds "key value" in a flat keyed file (memory.stat, cpu.stat).
func statField(b []byte, key string) (uint64, bool) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		k, v, ok := bytes.Cut(line, []byte{' '})
		if ok && string(k) == key {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
