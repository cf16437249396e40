package docker

import (
	"github.com/docker/docker/api/types/container"

	"github.com/haven-platform/haven/internal/spec"
)

// applyContainerOptions sets what a service's spec.ContainerOptions ask
// for on the container's configuration.
func applyContainerOptions(opts spec.ContainerOptions, cfg *container.Config, host *container.HostConfig) error {
	return nil
}
