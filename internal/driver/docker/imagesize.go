package docker

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/haven-platform/haven/internal/driver"
)

var _ driver.ImageSizer = (*Driver)(nil)

// ImageSize implements driver.ImageSizer: the image's size as the Engine
// reports it (all its layers).
func (d *Driver) ImageSize(ctx context.Context, image string) (int64, error) {
	ins, err := d.cli.ImageInspect(ctx, image)
	if cerrdefs.IsNotFound(err) {
		return 0, fmt.Errorf("image %s: %w", image, driver.ErrImageNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("image %s: %w", image, err)
	}
	return ins.Size, nil
}
