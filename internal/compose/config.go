package compose

import (
	"context"
	"fmt"
)

// Resolved returns the compose project opts describes as `docker compose
// config` prints it: files merged, variables interpolated, profiles
// applied, paths absolute, x-haven blocks kept, in compose's YAML. The
// project is first loaded with Load, so a file Load refuses (unsupported
// keys, Haven's credential variables, invalid values) is refused here
// with the same file:line problems, and nothing Load would not show is
// printed.
func Resolved(ctx context.Context, opts Options) ([]byte, error) {
	if _, err := Load(ctx, opts); err != nil {
		return nil, err
	}
	guard := &credentialGuard{}
	po, err := projectOptions(opts, guard)
	if err != nil {
		return nil, err
	}
	project, err := po.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("resolve the compose project: %w", err)
	}
	return project.MarshalYAML()
}
