package docker

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"

	"github.com/haven-platform/haven/internal/spec"
)

// Helper containers CopyVolumes creates carry spec.LabelRole
// "volume-copy" and no instance labels, so List and Events ignore them.

// Bounds of the work CopyVolumes does on a context of its own, because the
// caller's may be what ended: thawing paused containers and removing
// helpers.
const (
	unpauseTimeout = 30 * time.Second
	cleanupTimeout = 30 * time.Second
)

// helperEntrypoint is what a helper container would run. Helpers are only
// created, never started (the archive API works on created containers, whose
// volumes the Engine mounts for the request), so the path need not exist:
// that way any image will do, shell or not, and a helper started by mistake
// fails at once instead of running the image's program.
const helperEntrypoint = "/.haven-volume-copy-helper-is-never-started"

// CopyVolumes gives environment to a copy of each of from's named volumes
// (logical names, as in compose: "pgdata"), taken consistently:
//
//  1. Checks everything before changing anything: each source volume
//     (from.ResourceName(vol)) exists; each target (to.ResourceName(vol))
//     is absent, or present but empty and not mounted by a running
//     container. A target holding anything is an error: data is never
//     overwritten.
//  2. Creates the missing targets with Haven's labels for to, and two
//     helper containers, never started: one with every source volume
//     mounted read-only, one with every target mounted, both at
//     /haven-copy/N for the N-th volume. Their image is the
//     image of a container that mounts a source volume (it is present: the
//     Engine keeps the image of every container that exists), else any
//     image present locally, since it is never run. Mounts are made with
//     NoCopy so the image's own files never enter a volume.
//  3. Pauses every running container that mounts a source volume (all of
//     them at once, so volumes used together — a database and its WAL —
//     are copied at the same instant), streams each source through the
//     Engine's archive API into its target (GET archive of /haven-copy/N
//     from one helper piped into PUT archive at /haven-copy of the other;
//     tar headers carry owner, group, mode, times and links, which the
//     Engine restores because CopyUIDGID is off), then unpauses them. Unpausing always happens, also when the
//     copy fails or ctx ends, on a context of its own.
//  4. Removes the helpers (with their anonymous volumes, for images that
//     declare VOLUMEs). On failure, every target that was created or empty
//     before is removed again, so a retry starts clean.
//
// A paused container's processes are frozen (cgroup freezer) between two
// instructions: nothing it writes afterwards reaches the volume, and
// everything it wrote before is in the page cache the copy reads. The copy
// is therefore crash-consistent, what a disk holds after a power cut: a
// database built to survive one recovers from it. PostgreSQL does: on its
// first start on the copy it replays its WAL from the last checkpoint, as
// after a crash, and comes up with every transaction committed before the
// pause.
//
// The pause lasts as long as the copy (see the package tests for a
// measure); health checks that run meanwhile fail, which callers should
// budget for (the Engine's own exec checks count them as failures).
func (d *Driver) CopyVolumes(ctx context.Context, from, to spec.AppEnv, volumes []string) (err error) {
	if from == to {
		return fmt.Errorf("copy volumes: source and target are both %s", from)
	}
	if len(volumes) == 0 {
		return nil
	}
	seen := map[string]bool{}
	for _, v := range volumes {
		if v == "" || seen[v] {
			return fmt.Errorf("copy volumes from %s to %s: volume names must be non-empty and distinct, got %q", from, to, volumes)
		}
		seen[v] = true
	}
	fail := func(err error) error { return fmt.Errorf("copy volumes from %s to %s: %w", from, to, err) }

	// 1. Sources exist; find who mounts them.
	var users []container.Summary
	for _, v := range volumes {
		name := from.ResourceName(v)
		if _, err := d.cli.VolumeInspect(ctx, name); err != nil {
			if cerrdefs.IsNotFound(err) {
				return fail(fmt.Errorf("source volume %s does not exist", name))
			}
			return fail(fmt.Errorf("inspect volume %s: %w", name, err))
		}
		cs, err := d.volumeUsers(ctx, name)
		if err != nil {
			return fail(err)
		}
		users = append(users, cs...)
	}
	img, err := d.helperImage(ctx, users)
	if err != nil {
		return fail(err)
	}

	// Everything below is undone on the way out: helpers always, targets
	// on failure.
	var helpers []string
	var madeTargets []string // created here, or found empty: removed on failure
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		for _, id := range helpers {
			if rerr := d.cli.ContainerRemove(cctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true}); rerr != nil && !cerrdefs.IsNotFound(rerr) {
				err = errors.Join(err, fmt.Errorf("remove copy helper %s: %w", shortID(id), rerr))
			}
		}
		if err == nil {
			return
		}
		for _, name := range madeTargets {
			if rerr := d.cli.VolumeRemove(cctx, name, false); rerr != nil && !cerrdefs.IsNotFound(rerr) {
				err = errors.Join(err, fmt.Errorf("remove partial copy %s (remove it before retrying): %w", name, rerr))
			}
		}
	}()

	// 1. Targets absent, or empty and unused.
	var existing []int // indexes of targets that already existed
	for i, v := range volumes {
		name := to.ResourceName(v)
		_, err := d.cli.VolumeInspect(ctx, name)
		switch {
		case cerrdefs.IsNotFound(err):
			continue
		case err != nil:
			return fail(fmt.Errorf("inspect volume %s: %w", name, err))
		}
		cs, err := d.volumeUsers(ctx, name)
		if err != nil {
			return fail(err)
		}
		for _, c := range cs {
			if c.State == container.StateRunning || c.State == container.StatePaused || c.State == container.StateRestarting {
				return fail(fmt.Errorf("target volume %s is in use by running container %s: copy data before starting the environment", name, containerName(c)))
			}
		}
		existing = append(existing, i)
	}
	if len(existing) > 0 {
		// The target helper mounts only the existing targets here, to look
		// inside them; it is replaced below once all targets exist.
		probe, err := d.createHelper(ctx, to, img, "check", existing, func(i int) mount.Mount {
			return volumeMount(to.ResourceName(volumes[i]), copyDir(i), false)
		})
		if probe != "" {
			helpers = append(helpers, probe)
		}
		if err != nil {
			return fail(err)
		}
		for _, i := range existing {
			name := to.ResourceName(volumes[i])
			entry, err := d.firstEntry(ctx, probe, copyDir(i))
			if err != nil {
				return fail(fmt.Errorf("look into volume %s: %w", name, err))
			}
			if entry != "" {
				return fail(fmt.Errorf("target volume %s already exists and is not empty (it holds %s): refusing to overwrite it; remove the volume or the environment first", name, entry))
			}
		}
	}

	// 2. Targets and helpers.
	for i, v := range volumes {
		name := to.ResourceName(v)
		if contains(existing, i) {
			madeTargets = append(madeTargets, name)
			continue
		}
		if _, err := d.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: "local", Labels: envLabels(to)}); err != nil {
			return fail(fmt.Errorf("create volume %s: %w", name, err))
		}
		madeTargets = append(madeTargets, name)
	}
	all := make([]int, len(volumes))
	for i := range all {
		all[i] = i
	}
	src, err := d.createHelper(ctx, to, img, "src", all, func(i int) mount.Mount {
		return volumeMount(from.ResourceName(volumes[i]), copyDir(i), true)
	})
	if src != "" {
		helpers = append(helpers, src)
	}
	if err != nil {
		return fail(err)
	}
	dst, err := d.createHelper(ctx, to, img, "dst", all, func(i int) mount.Mount {
		return volumeMount(to.ResourceName(volumes[i]), copyDir(i), false)
	})
	if dst != "" {
		helpers = append(helpers, dst)
	}
	if err != nil {
		return fail(err)
	}

	// 3. Freeze the writers, copy, thaw. The users are listed again: an
	// instance started since the first look must be frozen too. (The
	// helpers mount the sources too, but never run.)
	users = users[:0]
	for _, v := range volumes {
		cs, err := d.volumeUsers(ctx, from.ResourceName(v))
		if err != nil {
			return fail(err)
		}
		users = append(users, cs...)
	}
	paused, err := d.pause(ctx, users)
	defer func() {
		if uerr := d.unpause(ctx, paused); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()
	if err != nil {
		return fail(err)
	}
	if d.afterPause != nil {
		d.afterPause()
	}
	for i, v := range volumes {
		if err := d.copyTree(ctx, src, dst, copyDir(i)); err != nil {
			return fail(fmt.Errorf("copy %s to %s: %w", from.ResourceName(v), to.ResourceName(v), err))
		}
	}
	return nil
}

// volumeUsers lists every container, in any state, that mounts volume name.
func (d *Driver) volumeUsers(ctx context.Context, name string) ([]container.Summary, error) {
	cs, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("volume", name))})
	if err != nil {
		return nil, fmt.Errorf("list containers using volume %s: %w", name, err)
	}
	return cs, nil
}

// helperImage picks the image helpers are created from: that of a
// container using a source volume, else any local image. It is never run.
func (d *Driver) helperImage(ctx context.Context, users []container.Summary) (string, error) {
	for _, c := range users {
		if c.ImageID != "" {
			if _, err := d.cli.ImageInspect(ctx, c.ImageID); err == nil {
				return c.ImageID, nil
			}
		}
	}
	imgs, err := d.cli.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list images: %w", err)
	}
	if len(imgs) == 0 {
		return "", errors.New("no image is present locally to create the copy helper containers from (any image will do; it is never run)")
	}
	// The smallest, for no better reason than determinism.
	best := imgs[0]
	for _, im := range imgs[1:] {
		if im.Size < best.Size || (im.Size == best.Size && im.ID < best.ID) {
			best = im
		}
	}
	return best.ID, nil
}

// createHelper creates (does not start) a container of img with the mounts
// mount(i) for each i in idx, labelled as a copy helper of env, and returns
// its id ("" when creation failed).
func (d *Driver) createHelper(ctx context.Context, env spec.AppEnv, img, role string, idx []int, mountFor func(int) mount.Mount) (string, error) {
	labels := envLabels(env)
	labels[spec.LabelRole] = "volume-copy"
	cfg := &container.Config{
		Image:      img,
		Entrypoint: []string{helperEntrypoint},
		Cmd:        []string{},
		Labels:     labels,
	}
	host := &container.HostConfig{NetworkMode: "none"}
	for _, i := range idx {
		host.Mounts = append(host.Mounts, mountFor(i))
	}
	name := fmt.Sprintf("haven-copy-%s-%s-%s-%s", env.App, env.Env, role, randSuffix())
	c, err := d.cli.ContainerCreate(ctx, cfg, host, nil, nil, name)
	if err != nil {
		return "", fmt.Errorf("create copy helper %s: %w", name, err)
	}
	return c.ID, nil
}

// copyDir is where helpers mount the i-th volume: the source helper the
// source volume, the target helper the target volume. The same path in
// both lets an archive of one be extracted as is into the other.
func copyDir(i int) string { return "/haven-copy/" + strconv.Itoa(i) }

func volumeMount(name, target string, readOnly bool) mount.Mount {
	return mount.Mount{
		Type:     mount.TypeVolume,
		Source:   name,
		Target:   target,
		ReadOnly: readOnly,
		// Never copy the image's files at target into the volume.
		VolumeOptions: &mount.VolumeOptions{NoCopy: true},
	}
}

// firstEntry returns the name of one entry inside directory dir of
// container id, or "" when it is empty.
func (d *Driver) firstEntry(ctx context.Context, id, dir string) (string, error) {
	rc, _, err := d.cli.CopyFromContainer(ctx, id, dir+"/.")
	if err != nil {
		return "", err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		if n := h.Name; n != "." && n != "./" {
			return n, nil
		}
	}
}

// copyTree streams directory dir of container src, the directory itself
// included, into the same path of container dst. The archive's entries are
// named after dir's last element, and the Engine extracts them into dir's
// parent: the entry for dir itself then lands on dst's dir, an existing
// directory (the target's mount point), whose owner and mode the Engine
// sets from the entry. Asking for "dir/." would not do: the Engine skips a
// "." entry, so the volume's root would keep root:root 0755 where
// PostgreSQL wants its user and 0700.
func (d *Driver) copyTree(ctx context.Context, src, dst, dir string) error {
	rc, _, err := d.cli.CopyFromContainer(ctx, src, dir)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	defer rc.Close()
	// CopyUIDGID false: the Engine keeps the owners recorded in the tar
	// headers (it would otherwise give every file to the container's user).
	if err := d.cli.CopyToContainer(ctx, dst, path.Dir(dir), rc, container.CopyToContainerOptions{CopyUIDGID: false}); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// pause pauses every running container of cs (once each) and returns the
// ids it paused, also on error, so the caller can unpause them. Containers
// paused by someone else stay as they are.
func (d *Driver) pause(ctx context.Context, cs []container.Summary) ([]string, error) {
	var paused []string
	done := map[string]bool{}
	for _, c := range cs {
		if done[c.ID] || c.State != container.StateRunning {
			continue
		}
		done[c.ID] = true
		if err := d.cli.ContainerPause(ctx, c.ID); err != nil {
			if cerrdefs.IsNotFound(err) {
				continue // gone since the list: nothing to freeze
			}
			return paused, fmt.Errorf("pause %s: %w", containerName(c), err)
		}
		paused = append(paused, c.ID)
	}
	return paused, nil
}

// unpause unpauses ids on a context of its own: it runs after the copy,
// whatever ended it, and a container left frozen would be an outage.
func (d *Driver) unpause(ctx context.Context, ids []string) error {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unpauseTimeout)
	defer cancel()
	var errs []error
	for _, id := range ids {
		if err := d.cli.ContainerUnpause(uctx, id); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("unpause %s (it stays paused: run docker unpause %s): %w", shortID(id), shortID(id), err))
		}
	}
	return errors.Join(errs...)
}

func containerName(c container.Summary) string {
	if len(c.Names) > 0 {
		return strings.TrimPrefix(c.Names[0], "/")
	}
	return shortID(c.ID)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func contains(list []int, x int) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

func randSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
