package docker

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/testbin"
)

// TestCopyVolumesPostgres copies the volume of a running PostgreSQL (a
// fresh cluster, as in the demo mall, plus a table written just before) and
// starts a second PostgreSQL on the copy: it recovers as after a power cut
// and holds the table. It builds the mall's PostgreSQL image if missing.
func TestCopyVolumesPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL servers")
	}
	mallPostgres := testbin.MallPostgres(t)
	d := newDriver(t)
	prod := newEnv(t, d, "prod")
	dev := spec.AppEnv{App: prod.App, Env: "dev"}
	svc := spec.Service{Name: "postgres", Image: mallPostgres,
		Env:     map[string]string{"POSTGRES_USER": "mall", "POSTGRES_DB": "mall", "POSTGRES_PASSWORD": "test"},
		Volumes: []spec.Mount{{Type: spec.MountVolume, Source: "pgdata", Target: "/var/lib/postgresql/data"}},
	}
	app := spec.App{Name: prod.App, Services: []spec.Service{svc}, Volumes: []spec.Volume{{Name: "pgdata"}}}
	if err := d.EnsureEnv(t.Context(), prod, app); err != nil {
		t.Fatal(err)
	}
	src := start(t, d, prod, app, svc)
	waitPostgres(t, d, src.ID)
	psql(t, d, src.ID, "CREATE TABLE copied (n int); INSERT INTO copied SELECT generate_series(1, 1000);")

	seen := pauseMessages(t, d, src.ID)
	began := time.Now()
	if err := d.CopyVolumes(t.Context(), prod, dev, []string{"pgdata"}); err != nil {
		t.Fatalf("CopyVolumes: %v", err)
	}
	took := time.Since(began)
	tree := volumeTree(t, d, dev.ResourceName("pgdata"))
	var size int64
	for _, e := range tree {
		size += e.Size
	}
	var paused time.Duration
	if ms := seen(); len(ms) == 2 && ms[0].Action == "pause" && ms[1].Action == "unpause" {
		paused = time.Duration(ms[1].TimeNano - ms[0].TimeNano)
	} else {
		t.Errorf("pause events of the source: %+v, want pause then unpause", ms)
	}
	t.Logf("CopyVolumes of a running PostgreSQL's volume: %d entries, %.1f MB, in %v, paused for %v",
		len(tree), float64(size)/1e6, took.Round(time.Millisecond), paused.Round(time.Millisecond))
	assertRunning(t, d, src.ID)

	// Owner and mode of the data directory and everything in it, before the
	// entrypoint (which fixes the directory's own) has run on the copy.
	owner := volumeTree(t, d, prod.ResourceName("pgdata"))["."]
	if root := tree["."]; root.Mode&0o7777 != 0o700 || root.UID != owner.UID || root.UID == 0 {
		t.Errorf("copied data directory: %v, want mode 700 and the source's owner %d:%d", root, owner.UID, owner.GID)
	}
	for name, e := range tree {
		if e.UID != owner.UID || e.GID != owner.GID {
			t.Errorf("copied %s is owned by %d:%d, want %d:%d", name, e.UID, e.GID, owner.UID, owner.GID)
		}
	}

	dst := start(t, d, dev, app, svc)
	waitPostgres(t, d, dst.ID)
	if got := psql(t, d, dst.ID, "SELECT count(*) FROM copied;"); got != "1000" {
		t.Errorf("the copy's table holds %q rows, want 1000", got)
	}
	var logs strings.Builder
	if err := d.Logs(t.Context(), dst.ID, driver.LogOptions{}, func(l driver.LogLine) error {
		logs.WriteString(l.Text + "\n")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "automatic recovery in progress") {
		t.Errorf("PostgreSQL on the copy did not recover as after a crash; its log:\n%s", logs.String())
	}
}

// waitPostgres waits until PostgreSQL in container id accepts connections.
func waitPostgres(t *testing.T, d *Driver, id string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, out := execIn(t, d, id, "pg_isready", "-U", "mall")
		if code == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL in %s not ready: %s", shortID(id), out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// psql runs sql in database mall of container id and returns its output
// (unaligned, tuples only).
func psql(t *testing.T, d *Driver, id, sql string) string {
	t.Helper()
	code, out := execIn(t, d, id, "psql", "-U", "mall", "-d", "mall", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql)
	if code != 0 {
		t.Fatalf("psql %q: exit %d: %s", sql, code, out)
	}
	return strings.TrimSpace(out)
}

func execIn(t *testing.T, d *Driver, id string, cmd ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ex, err := d.cli.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, User: "postgres", AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	att, err := d.cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	defer att.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	ins, err := d.cli.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	return ins.ExitCode, out.String()
}
