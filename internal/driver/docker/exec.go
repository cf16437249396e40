package docker

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/haven-platform/haven/internal/driver"
)

var _ driver.Execer = (*Driver)(nil)

// execSettle bounds the wait, after an exec's output ends, for the Engine
// to record its exit code (it marks the exec finished a moment after the
// stream closes).
const execSettle = 10 * time.Second

// Exec implements driver.Execer with the Engine's exec API: the command
// runs in the container as its user, in its working directory and with its
// environment (the image's and the service's), its streams attached
// through a hijacked connection to the Engine. The Engine cannot kill an
// exec'd process: when ctx ends, the connection is closed, which closes the
// command's stdin and, with a terminal, hangs it up; a command that
// ignores both runs on to its end.
func (d *Driver) Exec(ctx context.Context, id string, req driver.ExecRequest) (int, error) {
	if len(req.Cmd) == 0 {
		return 0, fmt.Errorf("exec in %s: no command given", id)
	}
	info, err := d.cli.ContainerInspect(ctx, id)
	if err != nil {
		return 0, notFound("exec in", id, err)
	}
	if info.State == nil || !info.State.Running || info.State.Paused {
		return 0, fmt.Errorf("exec in %s: the instance is not running: %w", id, driver.ErrNotFound)
	}
	opts := container.ExecOptions{
		Cmd: req.Cmd, Tty: req.TTY, AttachStdin: req.Stdin != nil, AttachStdout: true, AttachStderr: true,
	}
	if req.TTY && req.Size.Width > 0 && req.Size.Height > 0 {
		opts.ConsoleSize = &[2]uint{uint(req.Size.Height), uint(req.Size.Width)}
	}
	created, err := d.cli.ContainerExecCreate(ctx, id, opts)
	if err != nil {
		return 0, notFound("exec in", id, err)
	}
	att, err := d.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: req.TTY, ConsoleSize: opts.ConsoleSize})
	if err != nil {
		return 0, fmt.Errorf("exec in %s: attach: %w", id, err)
	}
	defer att.Close()
	stop := context.AfterFunc(ctx, att.Close)
	defer stop()

	stdout, stderr := req.Stdout, req.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if req.Stdin != nil {
		go func() {
			_, _ = io.Copy(att.Conn, req.Stdin)
			_ = att.CloseWrite()
		}()
	}
	if req.TTY && req.Resize != nil {
		go func() {
			for {
				select {
				case sz, ok := <-req.Resize:
					if !ok {
						return
					}
					if sz.Width > 0 && sz.Height > 0 {
						_ = d.cli.ContainerExecResize(ctx, created.ID, container.ResizeOptions{Height: uint(sz.Height), Width: uint(sz.Width)})
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	if req.TTY {
		_, err = io.Copy(stdout, att.Reader)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, att.Reader)
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if err != nil {
		return 0, fmt.Errorf("exec in %s: output: %w", id, err)
	}
	deadline := time.Now().Add(execSettle)
	for {
		ins, err := d.cli.ContainerExecInspect(ctx, created.ID)
		if err != nil {
			return 0, fmt.Errorf("exec in %s: exit status: %w", id, err)
		}
		if !ins.Running {
			return ins.ExitCode, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("exec in %s: the command's output ended but the Engine still reports it running after %s", id, execSettle)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
