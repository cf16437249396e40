package collect

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"syscall"
)

// cpuTimes are the node's CPU counters from the first line of /proc/stat.
type cpuTimes struct{ busy, total uint64 }

// nodeBuf is reused by every pass (passes are serialized by
// Collector.mu), so reading /proc allocates nothing.
var nodeBuf [16384]byte

func (c *Collector) collectNode(snap *Snapshot) {
	l := c.node
	if t, ok := readCPUTimes(); ok {
		if c.prevCPU.total > 0 && t.total > c.prevCPU.total {
			snap.add(byName[NodeCPURatio], l, float64(t.busy-min(t.busy, c.prevCPU.busy))/float64(t.total-c.prevCPU.total))
		}
		c.prevCPU = t
	}
	snap.add(byName[NodeCPUCores], l, float64(runtime.NumCPU()))
	if total, avail, ok := readMemInfo(); ok && total > 0 {
		used := total - min(avail, total)
		snap.add(byName[NodeMemoryUsedBytes], l, float64(used))
		snap.add(byName[NodeMemoryTotalBytes], l, float64(total))
		snap.add(byName[NodeMemoryRatio], l, float64(used)/float64(total))
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(c.cfg.DataDir, &fs); err == nil && fs.Blocks > 0 {
		total := fs.Blocks * uint64(fs.Bsize)
		// Used as df counts it: blocks not free (Bfree, including the
		// part reserved for root), over the whole size.
		used := (fs.Blocks - fs.Bfree) * uint64(fs.Bsize)
		snap.add(byName[NodeDiskUsedBytes], l, float64(used))
		snap.add(byName[NodeDiskTotalBytes], l, float64(total))
		snap.add(byName[NodeDiskRatio], l, float64(used)/float64(total))
	}
	if b, err := readSmall("/proc/loadavg"); err == nil {
		if i := bytes.IndexByte(b, ' '); i > 0 {
			if v, err := strconv.ParseFloat(string(b[:i]), 64); err == nil {
				snap.add(byName[NodeLoad1], l, v)
			}
		}
	}
}

// readCPUTimes sums the "cpu" line of /proc/stat: busy is everything but
// idle and iowait.
func readCPUTimes() (cpuTimes, bool) {
	b, err := readSmall("/proc/stat")
	if err != nil || !bytes.HasPrefix(b, []byte("cpu ")) {
		return cpuTimes{}, false
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	var t cpuTimes
	// user nice system idle iowait irq softirq steal guest guest_nice;
	// guest time is already inside user, so the first eight are summed.
	i := 0
	for f := range bytes.FieldsSeq(b[4:]) {
		if i >= 8 {
			break
		}
		v, _ := strconv.ParseUint(string(f), 10, 64)
		t.total += v
		if i != 3 && i != 4 {
			t.busy += v
		}
		i++
	}
	return t, true
}

// readMemInfo returns MemTotal and MemAvailable in bytes.
func readMemInfo() (total, avail uint64, ok bool) {
	b, err := readSmall("/proc/meminfo")
	if err != nil {
		return 0, 0, false
	}
	field := func(key string) uint64 {
		i := bytes.Index(b, []byte(key))
		if i < 0 {
			return 0
		}
		f := bytes.Fields(b[i+len(key):])
		if len(f) == 0 {
			return 0
		}
		v, _ := strconv.ParseUint(string(f[0]), 10, 64)
		return v * 1024
	}
	return field("MemTotal:"), field("MemAvailable:"), true
}

// readSmall reads the start of a /proc file into nodeBuf.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n := 0
	for n < len(nodeBuf) {
		m, err := f.Read(nodeBuf[n:])
		n += m
		if err != nil || m == 0 {
			break
		}
	}
	return nodeBuf[:n], nil
}
