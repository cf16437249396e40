package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/haven-platform/haven/internal/api"
	"github.com/haven-platform/haven/internal/control"
	"github.com/haven-platform/haven/internal/spec"
)

// ErrExecSession means an exec session ended without the command's exit
// status: the server or the runtime failed under it, or the connection
// broke.
var ErrExecSession = errors.New("exec session failed")

// ExecOptions say how to run a command in an instance.
type ExecOptions struct {
	Cmd []string
	// TTY asks for a terminal of Width × Height characters; Resize
	// carries its changes.
	TTY           bool
	Width, Height uint16
	Resize        <-chan [2]uint16
	// Stdin is sent to the command (nil: it reads EOF).
	Stdin io.Reader
	// Stdout and Stderr receive its output.
	Stdout, Stderr io.Writer
}

// Exec runs a command in one running instance of a service and returns its
// exit status, streaming its input and output (api's exec protocol).
func (c *Client) Exec(ctx context.Context, target spec.AppEnv, service, instance string, opts ExecOptions) (int, error) {
	path := servicePath(target, service) + "/instances/" + url.PathEscape(instance) + "/exec"
	body, err := json.Marshal(api.ExecRequest{Cmd: opts.Cmd, TTY: opts.TTY, Width: opts.Width, Height: opts.Height, Stdin: opts.Stdin != nil})
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", api.ExecUpgrade)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("%w at %s: %v", ErrUnreachable, c.addr, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		return 0, answerError(resp, http.MethodPost, path)
	}
	conn, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		return 0, fmt.Errorf("%w: the connection was not handed over", ErrExecSession)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var wmu sync.Mutex
	send := func(kind byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return api.WriteExecFrame(conn, kind, p)
	}
	done := make(chan struct{})
	defer close(done)
	if opts.Stdin != nil {
		go func() {
			buf := make([]byte, api.MaxExecFrame)
			for {
				n, err := opts.Stdin.Read(buf)
				if n > 0 && send(api.ExecStdin, buf[:n]) != nil {
					return
				}
				if err != nil {
					_ = send(api.ExecStdinEOF, nil)
					return
				}
			}
		}()
	}
	if opts.Resize != nil {
		go func() {
			for {
				select {
				case sz := <-opts.Resize:
					var p [4]byte
					binary.BigEndian.PutUint16(p[:], sz[0])
					binary.BigEndian.PutUint16(p[2:], sz[1])
					if send(api.ExecResize, p[:]) != nil {
						return
					}
				case <-done:
					return
				}
			}
		}()
	}
	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	buf := make([]byte, api.MaxExecFrame)
	for {
		kind, p, err := api.ReadExecFrame(conn, buf)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("%w: the server ended the session without the command's exit status (%v)", ErrExecSession, err)
		}
		switch kind {
		case api.ExecStdout:
			if _, err := stdout.Write(p); err != nil {
				return 0, err
			}
		case api.ExecStderr:
			if _, err := stderr.Write(p); err != nil {
				return 0, err
			}
		case api.ExecExit:
			if len(p) != 4 {
				return 0, fmt.Errorf("%w: malformed exit status", ErrExecSession)
			}
			return int(int32(binary.BigEndian.Uint32(p))), nil
		case api.ExecError:
			return 0, fmt.Errorf("%w: %s", ErrExecSession, p)
		default:
			return 0, fmt.Errorf("%w: unknown frame %q from the server", ErrExecSession, kind)
		}
	}
}

// answerError turns a non-2xx answer into an *Error, as send does.
func answerError(resp *http.Response, method, path string) error {
	var e api.Error
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if json.Unmarshal(b, &e) != nil || e.Message == "" {
		e = api.Error{Kind: api.KindInternal, Message: fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))}
	}
	return &Error{Status: resp.StatusCode, Kind: e.Kind, Message: e.Message}
}

// Restart makes a new revision of a service's spec, which the server
// releases with the service's release policy.
func (c *Client) Restart(ctx context.Context, target spec.AppEnv, service string) (spec.Revision, error) {
	var out spec.Revision
	err := c.do(ctx, http.MethodPost, servicePath(target, service)+"/restart", nil, &out)
	return out, err
}

// StopService scales a service to 0, keeping its count for StartService.
func (c *Client) StopService(ctx context.Context, target spec.AppEnv, service string) (api.ServiceReplicas, error) {
	var out api.ServiceReplicas
	err := c.do(ctx, http.MethodPost, servicePath(target, service)+"/stop", nil, &out)
	return out, err
}

// StartService gives a stopped service its count back.
func (c *Client) StartService(ctx context.Context, target spec.AppEnv, service string) (api.ServiceReplicas, error) {
	var out api.ServiceReplicas
	err := c.do(ctx, http.MethodPost, servicePath(target, service)+"/start", nil, &out)
	return out, err
}

// Images lists the images an app's running instances use.
func (c *Client) Images(ctx context.Context, target spec.AppEnv) ([]control.ImageInfo, error) {
	var out []control.ImageInfo
	err := c.do(ctx, http.MethodGet, deploymentPath(target)+"/images", nil, &out)
	return out, err
}

// Port says where a service's container port is reachable.
func (c *Client) Port(ctx context.Context, target spec.AppEnv, service string, port int) (control.PortInfo, error) {
	var out control.PortInfo
	err := c.do(ctx, http.MethodGet, servicePath(target, service)+"/ports/"+strconv.Itoa(port), nil, &out)
	return out, err
}
