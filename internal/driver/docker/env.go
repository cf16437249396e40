package docker

import (
	"context"
	"fmt"
	"sort"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/haven-platform/haven/internal/spec"
)

// EnsureEnv creates the app+environment's bridge network and one volume per
// named volume the app declares or mounts, each labelled with the app and
// environment. Existing ones are kept as they are.
func (d *Driver) EnsureEnv(ctx context.Context, env spec.AppEnv, app spec.App) error {
	if _, err := d.ensureNetwork(ctx, env, app.Network); err != nil {
		return err
	}
	for _, s := range app.Services {
		for _, n := range s.ExternalNetworks {
			if _, err := d.cli.NetworkInspect(ctx, n, network.InspectOptions{}); cerrdefs.IsNotFound(err) {
				return externalNetworkMissing(s.Name, n)
			} else if err != nil {
				return fmt.Errorf("inspect network %s: %w", n, err)
			}
		}
	}
	for _, name := range volumeNames(app) {
		v := spec.Volume{Name: name}
		for _, decl := range app.Volumes {
			if decl.Name == name {
				v = decl
			}
		}
		if err := d.ensureVolume(ctx, env, v); err != nil {
			return err
		}
	}
	return nil
}

// volumeNames are the named volumes of app: the declared ones and any a
// service mounts without declaring (compose requires the declaration, but a
// hand-made spec may not have it, and Docker would then create the volume
// unlabelled).
func volumeNames(app spec.App) []string {
	seen := map[string]bool{}
	for _, v := range app.Volumes {
		seen[v.Name] = true
	}
	for _, v := range app.Volumes {
		if v.External != "" {
			seen[v.Name] = true
		}
	}
	for _, s := range app.Services {
		for _, m := range s.Volumes {
			if m.Type == spec.MountVolume && m.Source != "" {
				seen[m.Source] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ensureNetwork returns the id of the app+environment's network, creating it
// with opts (nil: a plain bridge) when absent. An existing network is kept
// as it is: the Engine cannot change a network's options in place.
func (d *Driver) ensureNetwork(ctx context.Context, env spec.AppEnv, opts *spec.Network) (string, error) {
	name := networkName(env)
	d.envMu.Lock()
	defer d.envMu.Unlock()
	if n, err := d.cli.NetworkInspect(ctx, name, network.InspectOptions{}); err == nil {
		return n.ID, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect network %s: %w", name, err)
	}
	resp, err := d.cli.NetworkCreate(ctx, name, networkOptions(env, opts))
	if err == nil {
		return resp.ID, nil
	}
	// Another process created it between our inspect and create: the
	// Engine's duplicate check (CheckDuplicate below API 1.44, always
	// above) refused ours, and theirs is as good.
	if cerrdefs.IsConflict(err) || cerrdefs.IsAlreadyExists(err) {
		if n, ierr := d.cli.NetworkInspect(ctx, name, network.InspectOptions{}); ierr == nil {
			return n.ID, nil
		}
	}
	return "", fmt.Errorf("create network %s: %w", name, err)
}

// networkOptions are the Engine's create options for the app's network.
func networkOptions(env spec.AppEnv, opts *spec.Network) network.CreateOptions {
	labels := envLabels(env)
	out := network.CreateOptions{Driver: "bridge", Labels: labels}
	if opts == nil {
		return out
	}
	// Haven's labels win: they are what cleanup and List trust.
	for k, v := range opts.Labels {
		if _, ours := labels[k]; !ours {
			labels[k] = v
		}
	}
	out.Options = opts.DriverOpts
	out.Internal = opts.Internal
	out.Attachable = opts.Attachable
	if opts.EnableIPv6 {
		on := true
		out.EnableIPv6 = &on
	}
	if opts.IPAMDriver != "" || len(opts.Subnets) > 0 {
		out.IPAM = &network.IPAM{Driver: opts.IPAMDriver}
		for _, s := range opts.Subnets {
			out.IPAM.Config = append(out.IPAM.Config, network.IPAMConfig{Subnet: s.Subnet, IPRange: s.IPRange, Gateway: s.Gateway})
		}
	}
	return out
}

// ensureVolume creates the app's named volume v for env, with its driver
// and options. An external volume is only looked up: Haven never creates
// (or removes) a volume made outside it.
func (d *Driver) ensureVolume(ctx context.Context, env spec.AppEnv, v spec.Volume) error {
	if v.External != "" {
		if _, err := d.cli.VolumeInspect(ctx, v.External); err != nil {
			if cerrdefs.IsNotFound(err) {
				return fmt.Errorf("volume %s is external, and the Engine has no volume %s: create it (docker volume create %s) or drop `external: true`", v.Name, v.External, v.External)
			}
			return fmt.Errorf("inspect volume %s: %w", v.External, err)
		}
		return nil
	}
	full := env.ResourceName(v.Name)
	drv := v.Driver
	if drv == "" {
		drv = "local"
	}
	labels := envLabels(env)
	for k, val := range v.Labels {
		if _, ours := labels[k]; !ours {
			labels[k] = val
		}
	}
	// VolumeCreate of an existing local volume returns it unchanged, so no
	// inspect or lock is needed: concurrent callers all succeed.
	if _, err := d.cli.VolumeCreate(ctx, volume.CreateOptions{Name: full, Driver: drv, DriverOpts: v.DriverOpts, Labels: labels}); err != nil {
		return fmt.Errorf("create volume %s: %w", full, err)
	}
	return nil
}

// RemoveEnv removes the app+environment's network; with removeVolumes, its
// volumes too. Objects already gone are not an error. The Engine refuses to
// remove a network or volume a container still uses; that error is returned.
func (d *Driver) RemoveEnv(ctx context.Context, env spec.AppEnv, removeVolumes bool) error {
	name := networkName(env)
	d.envMu.Lock()
	err := d.cli.NetworkRemove(ctx, name)
	d.envMu.Unlock()
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	if !removeVolumes {
		return nil
	}
	vols, err := d.cli.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", spec.LabelManaged+"=true"),
		filters.Arg("label", spec.LabelApp+"="+env.App),
		filters.Arg("label", spec.LabelEnv+"="+env.Env),
	)})
	if err != nil {
		return fmt.Errorf("list volumes of %s: %w", env, err)
	}
	for _, v := range vols.Volumes {
		if err := d.cli.VolumeRemove(ctx, v.Name, false); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove volume %s: %w", v.Name, err)
		}
	}
	return nil
}
