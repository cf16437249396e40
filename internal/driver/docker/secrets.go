package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/haven-platform/haven/internal/driver"
)

// copySecrets puts the values of the service's external secrets at
// /run/secrets/<target> in the created container, before it starts. The
// values travel from the secret store to the Engine in memory: no file in
// Haven's data directory ever holds them. Mode 0444 as compose gives file
// secrets, so an app running as a non-root user can read them. The
// service's Files are written in the same archive.
func (d *Driver) copySecrets(ctx context.Context, id string, req driver.StartRequest) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	wrote := false
	for _, ref := range req.Service.Secrets {
		sec, ok := req.App.Secrets[ref.Source]
		if !ok || !sec.External {
			continue
		}
		value, ok := req.SecretValues[ref.Source]
		if !ok {
			return fmt.Errorf("secret %q: no value was resolved for it", ref.Source)
		}
		if !wrote {
			for _, dir := range []string{"run/", "run/secrets/"} {
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: now}); err != nil {
					return err
				}
			}
			wrote = true
		}
		target := ref.Target
		if target == "" {
			target = ref.Source
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "run/secrets/" + target, Mode: 0o444, Size: int64(len(value)), ModTime: now}); err != nil {
			return err
		}
		if _, err := tw.Write(value); err != nil {
			return err
		}
	}
	// The service's files (compose configs with content) travel the same
	// way. The Engine creates missing parent directories (0755) and leaves
	// existing ones as they are.
	for _, f := range req.Service.Files {
		mode := int64(f.Mode)
		if mode == 0 {
			mode = 0o444
		}
		name := strings.TrimPrefix(f.Target, "/")
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uid: f.UID, Gid: f.GID, Size: int64(len(f.Content)), ModTime: now}); err != nil {
			return err
		}
		if _, err := tw.Write([]byte(f.Content)); err != nil {
			return err
		}
		wrote = true
	}
	if !wrote {
		return nil
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := d.cli.CopyToContainer(ctx, id, "/", &buf, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("deliver secrets and files: %w", err)
	}
	return nil
}
