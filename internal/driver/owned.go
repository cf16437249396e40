package driver

import "context"

// Owned wraps d so that it sees only instances labelled with owner, and
// labels every instance it starts with it. Several Haven servers can then
// share one runtime (one Docker engine) without taking each other's
// instances for orphans.
func Owned(d Driver, owner string) Driver { return &owned{Driver: d, owner: owner} }

type owned struct {
	Driver
	owner string
}

// Unwrap returns the wrapped driver, for optional abilities (CopierOf).
func (o *owned) Unwrap() Driver { return o.Driver }

func (o *owned) Start(ctx context.Context, req StartRequest) (Instance, error) {
	req.Labels.Owner = o.owner
	return o.Driver.Start(ctx, req)
}

func (o *owned) List(ctx context.Context) ([]Instance, error) {
	all, err := o.Driver.List(ctx)
	if err != nil {
		return nil, err
	}
	mine := all[:0:0]
	for _, inst := range all {
		if inst.Labels.Owner == o.owner {
			mine = append(mine, inst)
		}
	}
	return mine, nil
}

func (o *owned) Events(ctx context.Context) (<-chan Event, error) {
	in, err := o.Driver.Events(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan Event)
	go func() {
		defer close(out)
		for ev := range in {
			if ev.Labels.Owner != o.owner {
				continue
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// CopierOf returns d's VolumeCopier, looking through wrappers such as
// Owned, or false when the driver cannot copy volumes.
func CopierOf(d Driver) (VolumeCopier, bool) {
	for {
		if c, ok := d.(VolumeCopier); ok {
			return c, true
		}
		w, ok := d.(interface{ Unwrap() Driver })
		if !ok {
			return nil, false
		}
		d = w.Unwrap()
	}
}
