package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"

	"github.com/haven-platform/haven/internal/spec"
)

// treeEntry is what a volume copy must preserve of one file.
type treeEntry struct {
	Type     byte
	Mode     int64
	UID, GID int
	Size     int64
	Link     string
	Sum      string // sha256 of the content, regular files
}

func (e treeEntry) String() string {
	return fmt.Sprintf("type %c mode %o owner %d:%d size %d link %q sum %.12s", e.Type, e.Mode, e.UID, e.GID, e.Size, e.Link, e.Sum)
}

// volumeFile is one entry written into a volume by fillVolume.
type volumeFile struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	body     string
	link     string
}

// sourceTree is the content the copy tests put into a source volume:
// PostgreSQL-like owners and modes, nested directories, a setgid
// directory, a symlink, a hard link, an empty file and a 1 MiB file.
func sourceTree() []volumeFile {
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i*7 + i/251)
	}
	return []volumeFile{
		{name: "./", typ: tar.TypeDir, mode: 0o700, uid: 999, gid: 999},
		{name: "PG_VERSION", typ: tar.TypeReg, mode: 0o600, uid: 999, gid: 999, body: "15\n"},
		{name: "base/", typ: tar.TypeDir, mode: 0o700, uid: 999, gid: 999},
		{name: "base/1/", typ: tar.TypeDir, mode: 0o750, uid: 1000, gid: 2000},
		{name: "base/1/big", typ: tar.TypeReg, mode: 0o640, uid: 1000, gid: 2000, body: string(big)},
		{name: "base/1/empty", typ: tar.TypeReg, mode: 0o400, uid: 0, gid: 0},
		{name: "shared/", typ: tar.TypeDir, mode: 0o2775, uid: 0, gid: 50},
		{name: "shared/run.sh", typ: tar.TypeReg, mode: 0o755, uid: 123, gid: 456, body: "#!/bin/sh\n"},
		{name: "current", typ: tar.TypeSymlink, mode: 0o777, uid: 999, gid: 999, link: "base/1"},
		{name: "hard", typ: tar.TypeLink, mode: 0o755, uid: 123, gid: 456, link: "shared/run.sh"},
	}
}

// fillVolume writes files into the named volume through a helper container
// (created, never started) and the Engine's archive API.
func fillVolume(t *testing.T, d *Driver, vol string, files []volumeFile) {
	t.Helper()
	id := mountHelper(t, d, vol)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		// Named under "v/" and extracted at "/": an entry for the
		// extraction directory itself ("./") would be skipped.
		h := &tar.Header{Name: path.Join("v", f.name), Typeflag: f.typ, Mode: f.mode, Uid: f.uid, Gid: f.gid, Linkname: f.link,
			Size: int64(len(f.body)), ModTime: time.Unix(1700000000, 0)}
		if f.typ != tar.TypeReg {
			h.Size = 0
		}
		if f.typ == tar.TypeLink {
			h.Linkname = path.Join("v", f.link) // hard links name archive paths
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if f.typ == tar.TypeReg {
			tw.Write([]byte(f.body))
		}
	}
	tw.Close()
	if err := d.cli.CopyToContainer(t.Context(), id, "/", &buf, container.CopyToContainerOptions{}); err != nil {
		t.Fatalf("fill volume %s: %v", vol, err)
	}
}

// mountHelper creates a container (never started) with vol at /v and
// removes it when the test ends.
func mountHelper(t *testing.T, d *Driver, vol string) string {
	t.Helper()
	c, err := d.cli.ContainerCreate(t.Context(), &container.Config{Image: testAppImage(t)},
		&container.HostConfig{NetworkMode: "none", Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: vol, Target: "/v"}}}, nil, nil, "")
	if err != nil {
		t.Fatalf("create helper for %s: %v", vol, err)
	}
	t.Cleanup(func() {
		_ = d.cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	})
	return c.ID
}

// volumeTree reads everything in the named volume, the root included (as
// "."), keyed by path.
func volumeTree(t *testing.T, d *Driver, vol string) map[string]treeEntry {
	t.Helper()
	id := mountHelper(t, d, vol)
	rc, _, err := d.cli.CopyFromContainer(t.Context(), id, "/v/.")
	if err != nil {
		t.Fatalf("read volume %s: %v", vol, err)
	}
	defer rc.Close()
	tree := map[string]treeEntry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return tree
		}
		if err != nil {
			t.Fatalf("read volume %s: %v", vol, err)
		}
		e := treeEntry{Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid, Size: h.Size, Link: h.Linkname}
		if h.Typeflag == tar.TypeReg {
			s := sha256.New()
			io.Copy(s, tr)
			e.Sum = hex.EncodeToString(s.Sum(nil))
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		if name == "" {
			name = "."
		}
		tree[name] = e
	}
}

func diffTrees(t *testing.T, what string, got, want map[string]treeEntry) {
	t.Helper()
	var names []string
	for n := range want {
		names = append(names, n)
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		g, gok := got[n]
		w, wok := want[n]
		switch {
		case !gok:
			t.Errorf("%s: %s missing (want %v)", what, n, w)
		case !wok:
			t.Errorf("%s: %s unexpected (%v)", what, n, g)
		case g != w:
			t.Errorf("%s: %s\n got %v\nwant %v", what, n, g, w)
		}
	}
}

// pauseEvents collects the pause and unpause events of container id until
// the test ends; the returned function reports those seen so far.
func pauseEvents(t *testing.T, d *Driver, id string) func() []string {
	t.Helper()
	seen := pauseMessages(t, d, id)
	return func() []string {
		var actions []string
		for _, m := range seen() {
			actions = append(actions, string(m.Action))
		}
		return actions
	}
}

// pauseMessages is pauseEvents with the Engine's messages (and their times).
func pauseMessages(t *testing.T, d *Driver, id string) func() []events.Message {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	msgs, errs := d.cli.Events(ctx, events.ListOptions{
		Since:   fmt.Sprintf("%d", time.Now().Add(-time.Second).Unix()),
		Filters: filters.NewArgs(filters.Arg("container", id), filters.Arg("event", "pause"), filters.Arg("event", "unpause")),
	})
	ch := make(chan []events.Message, 1)
	ch <- nil
	go func() {
		for {
			select {
			case m := <-msgs:
				seen := <-ch
				ch <- append(seen, m)
			case <-errs:
				return
			}
		}
	}()
	return func() []events.Message {
		// Events arrive asynchronously: give the last ones a moment.
		time.Sleep(300 * time.Millisecond)
		seen := <-ch
		ch <- seen
		return append([]events.Message(nil), seen...)
	}
}

func TestCopyVolumes(t *testing.T) {
	d := newDriver(t)
	prod := newEnv(t, d, "prod")
	dev := spec.AppEnv{App: prod.App, Env: "dev"}
	svc := spec.Service{Name: "db", Image: testAppImage(t), Expose: []int{8080}, Volumes: []spec.Mount{
		{Type: spec.MountVolume, Source: "data", Target: "/data"},
		{Type: spec.MountVolume, Source: "empty", Target: "/empty"},
	}}
	app := spec.App{Name: prod.App, Services: []spec.Service{svc}, Volumes: []spec.Volume{{Name: "data"}, {Name: "empty"}}}
	if err := d.EnsureEnv(t.Context(), prod, app); err != nil {
		t.Fatalf("EnsureEnv: %v", err)
	}
	fillVolume(t, d, prod.ResourceName("data"), sourceTree())
	db := start(t, d, prod, app, svc)
	waitHTTP(t, db.Addr(8080))
	seen := pauseEvents(t, d, db.ID)

	// The target "empty" exists already (as after EnsureEnv of dev), and
	// is empty: it is used. "data" is created.
	if err := d.ensureVolume(t.Context(), dev, spec.Volume{Name: "empty"}); err != nil {
		t.Fatal(err)
	}
	want := volumeTree(t, d, prod.ResourceName("data"))
	if e := want["."]; e.Mode&0o7777 != 0o700 || e.UID != 999 {
		t.Fatalf("source root is %v, want mode 700 owner 999 (fillVolume)", e)
	}
	if want["hard"].Type != tar.TypeLink && want["shared/run.sh"].Type != tar.TypeLink {
		t.Fatalf("source hard link not read as one: %v, %v", want["hard"], want["shared/run.sh"])
	}
	began := time.Now()
	if err := d.CopyVolumes(t.Context(), prod, dev, []string{"data", "empty"}); err != nil {
		t.Fatalf("CopyVolumes: %v", err)
	}
	t.Logf("CopyVolumes of %d files (1 MiB) took %v", len(want), time.Since(began).Round(time.Millisecond))

	diffTrees(t, "copy of data", volumeTree(t, d, dev.ResourceName("data")), want)
	diffTrees(t, "copy of empty", volumeTree(t, d, dev.ResourceName("empty")), volumeTree(t, d, prod.ResourceName("empty")))
	diffTrees(t, "source data after the copy", volumeTree(t, d, prod.ResourceName("data")), want)
	for _, name := range []string{"data", "empty"} {
		v, err := d.cli.VolumeInspect(t.Context(), dev.ResourceName(name))
		if err != nil {
			t.Fatal(err)
		}
		for k, w := range envLabels(dev) {
			if v.Labels[k] != w {
				t.Errorf("volume %s label %s = %q, want %q", v.Name, k, v.Labels[k], w)
			}
		}
	}

	// The source's instance was paused for the copy and runs again.
	if got := strings.Join(seen(), ","); got != "pause,unpause" {
		t.Errorf("events of the source instance during the copy: %q, want pause,unpause", got)
	}
	assertRunning(t, d, db.ID)
	waitHTTP(t, db.Addr(8080))
	assertNoHelpers(t, d, prod.App)

	// A target that holds anything is refused, and nothing changes: not
	// the target, not the source's instance (not even paused).
	before := volumeTree(t, d, dev.ResourceName("data"))
	err := d.CopyVolumes(t.Context(), prod, dev, []string{"empty", "data"})
	if err == nil || !strings.Contains(err.Error(), "volume "+dev.ResourceName("data")+" already exists and is not empty") {
		t.Fatalf("CopyVolumes onto a non-empty target: %v, want a refusal naming it", err)
	}
	diffTrees(t, "target after a refused copy", volumeTree(t, d, dev.ResourceName("data")), before)
	if _, err := d.cli.VolumeInspect(t.Context(), dev.ResourceName("empty")); err != nil {
		t.Errorf("the empty target was removed by a refused copy: %v", err)
	}
	if got := strings.Join(seen(), ","); got != "pause,unpause" {
		t.Errorf("events after the refused copy: %q, want no new pause", got)
	}
	assertNoHelpers(t, d, prod.App)

	// A source that does not exist is named.
	err = d.CopyVolumes(t.Context(), prod, spec.AppEnv{App: prod.App, Env: "dev3"}, []string{"nope"})
	if err == nil || !strings.Contains(err.Error(), "source volume "+prod.ResourceName("nope")+" does not exist") {
		t.Errorf("CopyVolumes of a missing volume: %v", err)
	}
}

// TestCopyVolumesCancelled: when ctx ends during the copy, the source's
// instance is unpaused all the same and the half-made target is removed.
func TestCopyVolumesCancelled(t *testing.T) {
	d := newDriver(t)
	prod := newEnv(t, d, "prod")
	dev := spec.AppEnv{App: prod.App, Env: "dev"}
	svc := spec.Service{Name: "db", Image: testAppImage(t), Expose: []int{8080}, Volumes: []spec.Mount{{Type: spec.MountVolume, Source: "data", Target: "/data"}}}
	app := spec.App{Name: prod.App, Services: []spec.Service{svc}, Volumes: []spec.Volume{{Name: "data"}}}
	if err := d.EnsureEnv(t.Context(), prod, app); err != nil {
		t.Fatal(err)
	}
	fillVolume(t, d, prod.ResourceName("data"), sourceTree())
	db := start(t, d, prod, app, svc)
	ctx, cancel := context.WithCancel(t.Context())
	d.afterPause = func() {
		c, err := d.cli.ContainerInspect(t.Context(), db.ID)
		if err != nil || !c.State.Paused {
			t.Errorf("afterPause: the instance is not paused (%v)", err)
		}
		cancel()
	}
	err := d.CopyVolumes(ctx, prod, dev, []string{"data"})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("CopyVolumes with ctx cancelled while paused: %v, want context canceled", err)
	}
	assertRunning(t, d, db.ID)
	waitHTTP(t, db.Addr(8080))
	if _, err := d.cli.VolumeInspect(t.Context(), dev.ResourceName("data")); err == nil {
		t.Errorf("the target of a cancelled copy is left behind")
	}
	assertNoHelpers(t, d, prod.App)
}

func assertRunning(t *testing.T, d *Driver, id string) {
	t.Helper()
	c, err := d.cli.ContainerInspect(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !c.State.Running || c.State.Paused {
		t.Errorf("container %s: running %v paused %v, want running and not paused", shortID(id), c.State.Running, c.State.Paused)
	}
}

func assertNoHelpers(t *testing.T, d *Driver, app string) {
	t.Helper()
	cs, err := d.cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", spec.LabelRole+"=volume-copy"), filters.Arg("label", spec.LabelApp+"="+app))})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		t.Errorf("copy helper left behind: %s", containerName(c))
	}
}
