package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/haven-platform/haven/internal/atomicfile"
	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// Files of an instance directory.
const (
	recordFile = "record.json"
	lockFile   = "lock"
	stdoutFile = "stdout" // raw, written by the process itself
	stderrFile = "stderr" // raw, written by the process itself
	logFile    = "log"    // timestamped, written by the supervisor
	posFile    = "pos"    // how far the supervisor has read stdout and stderr
)

// record is what the driver keeps about one instance: everything List and
// an adopting Driver need, since the process itself cannot tell them.
type record struct {
	ID     string              `json:"id"`
	Labels spec.InstanceLabels `json:"labels"`
	PID    int                 `json:"pid"`
	// StartTicks is field 22 of /proc/<pid>/stat (start time in clock ticks
	// since boot) and BootID the kernel's boot id: together with PID they
	// name one process, so a reused pid is not mistaken for ours.
	StartTicks uint64 `json:"start_ticks"`
	BootID     string `json:"boot_id"`
	// Ports maps container ports to the host ports standing in for them.
	Ports      map[int]int `json:"ports,omitempty"`
	StartedAt  time.Time   `json:"started_at"`
	Finished   bool        `json:"finished,omitempty"`
	FinishedAt time.Time   `json:"finished_at,omitzero"`
	ExitCode   int         `json:"exit_code"`
	// Health is the exec check's last verdict ("" when there is none).
	Health string `json:"health,omitempty"`
	// Check, Env and Dir let whichever Driver supervises the instance run
	// its exec health check the way the instance runs.
	Check *spec.HealthCheck `json:"check,omitempty"`
	Env   []string          `json:"env,omitempty"`
	Dir   string            `json:"dir,omitempty"`
	// Cred is the user the instance (and its exec check) runs as; nil:
	// Haven's own.
	Cred *cred `json:"cred,omitempty"`
	// SecretDir holds the files of this Start's secrets, deleted with the
	// instance ("" in records of older versions: secretDir(ID, "")).
	SecretDir string `json:"secret_dir,omitempty"`
	// StopSignal is the number Stop sends first (stop_signal); 0: SIGTERM.
	StopSignal int `json:"stop_signal,omitempty"`
}

// instance renders the record as the driver reports it.
func (r *record) instance(running bool) driver.Instance {
	inst := driver.Instance{
		ID:           r.ID,
		Labels:       r.Labels,
		Running:      running,
		StartedAt:    r.StartedAt,
		NativeHealth: r.Health,
		Addrs:        make(map[int]string, len(r.Ports)),
	}
	for c, h := range r.Ports {
		inst.Addrs[c] = "127.0.0.1:" + strconv.Itoa(h)
	}
	if !running {
		inst.ExitCode, inst.FinishedAt = -1, r.FinishedAt
		if r.Finished {
			inst.ExitCode = r.ExitCode
		}
	}
	return inst
}

// validID accepts ids that are safe as a directory name.
var validID = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

func readRecord(dir string) (*record, error) {
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, recordFile), err)
	}
	return &r, nil
}

// writeRecord replaces the record atomically and durably (temp file, fsync,
// rename, fsync of dir), so a reader or a crash never sees half of it. It
// does not create dir: once an instance is removed, late writes fail
// instead of resurrecting it.
func writeRecord(dir string, r *record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, recordFile), b, 0o600); err != nil {
		return fmt.Errorf("write record of %s: %w", filepath.Base(dir), err)
	}
	return nil
}

// isGone reports whether err means the instance directory has been removed.
func isGone(err error) bool { return errors.Is(err, os.ErrNotExist) }
