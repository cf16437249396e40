package compose

import (
	"maps"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/haven-platform/haven/internal/spec"
)

// containerKeys are the service keys that become spec.ContainerOptions:
// how each instance's process runs. serviceRule takes them with the rest.
var containerKeys = map[string]*keyRule{}

// container maps a service's runtime keys onto spec.ContainerOptions.
func (m *mapper) container(s types.ServiceConfig) spec.ContainerOptions {
	return spec.ContainerOptions{}
}

// withKeys returns base with extra's keys added: the service rule is put
// together from the files that map each group of keys.
func withKeys(extra, base map[string]*keyRule) map[string]*keyRule {
	out := maps.Clone(base)
	maps.Copy(out, extra)
	return out
}
