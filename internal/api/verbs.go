package api

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// The compose habits: exec, restart, stop, start, images, port.
//
// # The exec protocol
//
// `haven exec` needs both directions at once (stdin, and a terminal's size
// changes, while output streams), which one HTTP response cannot carry, so
// it takes the connection over, as `docker exec` does with the Engine:
//
//  1. The client sends POST …/services/{service}/instances/{instance}/exec
//     with `Connection: Upgrade`, `Upgrade: haven-exec/1` and an
//     ExecRequest body. Everything before the upgrade is an ordinary
//     call: authentication, the app.deploy permission, the audit record
//     (which names the service and instance, never the command), and
//     JSON errors for an unknown service or instance.
//  2. The server answers `101 Switching Protocols`; from then on both
//     sides send frames: one byte of kind, a 4-byte big-endian length, and
//     at most MaxExecFrame bytes of payload.
//  3. The client sends ExecStdin data, ExecStdinEOF once its input ends,
//     and ExecResize (width, height: two big-endian uint16) when its
//     terminal changes. The server sends ExecStdout and ExecStderr as the
//     command writes them, then exactly one ExecExit (a big-endian int32
//     status) or ExecError (a message: the command could not be run, or
//     the runtime failed under it) and closes the connection.
//
// A client that goes away ends the session: the server stops the command
// where the driver can (see driver.Execer).

// ExecUpgrade is the Upgrade token of the exec protocol.
const ExecUpgrade = "haven-exec/1"

// MaxExecFrame bounds one frame's payload; larger data is split.
const MaxExecFrame = 32 << 10

// Kinds of exec frames.
const (
	ExecStdin    byte = 'i' // client → server: input
	ExecStdinEOF byte = 'c' // client → server: the input has ended
	ExecResize   byte = 'r' // client → server: the terminal's new size
	ExecStdout   byte = 'o' // server → client: output
	ExecStderr   byte = 'e' // server → client: error output (none with a terminal)
	ExecExit     byte = 'x' // server → client: the command's exit status; the last frame
	ExecError    byte = '!' // server → client: why nothing (more) could run; the last frame
)

// maxExecArgs bounds a command line (the body's size bounds its length).
const maxExecArgs = 4096

// ExecRequest is the body of the exec call.
type ExecRequest struct {
	// Cmd is the program and its arguments; no shell is involved.
	Cmd []string `json:"cmd"`
	// TTY asks for a terminal; Width and Height are its initial size.
	TTY    bool   `json:"tty,omitempty"`
	Width  uint16 `json:"width,omitempty"`
	Height uint16 `json:"height,omitempty"`
	// Stdin says the client sends input (else the command reads EOF).
	Stdin bool `json:"stdin,omitempty"`
}

// WriteExecFrame writes one frame. It is not safe for concurrent use.
func WriteExecFrame(w io.Writer, kind byte, payload []byte) error {
	if len(payload) > MaxExecFrame {
		return fmt.Errorf("exec frame of %d bytes is over the %d-byte limit", len(payload), MaxExecFrame)
	}
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	// One write (writev on a TCP connection): a header alone would go out
	// as a packet of its own.
	bufs := net.Buffers{hdr[:], payload}
	_, err := bufs.WriteTo(w)
	return err
}

// ReadExecFrame reads one frame into buf (which must hold MaxExecFrame
// bytes) and returns its kind and payload, a slice of buf.
func ReadExecFrame(r io.Reader, buf []byte) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxExecFrame || int(n) > len(buf) {
		return 0, nil, fmt.Errorf("exec frame of %d bytes is over the %d-byte limit", n, MaxExecFrame)
	}
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		return 0, nil, err
	}
	return hdr[0], buf[:n], nil
}

// frameWriter serializes the frames of one session's streams.
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (f *frameWriter) frame(kind byte, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return WriteExecFrame(f.w, kind, p)
}

// stream is an io.Writer sending frames of one kind.
type stream struct {
	f    *frameWriter
	kind byte
}

func (s stream) Write(p []byte) (int, error) {
	for done := 0; done < len(p); {
		n := min(len(p)-done, MaxExecFrame)
		if err := s.f.frame(s.kind, p[done:done+n]); err != nil {
			return done, err
		}
		done += n
	}
	return len(p), nil
}

func (h *Handler) exec(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), ExecUpgrade) {
		writeError(w, badRequest("exec takes the connection over: send Connection: Upgrade and Upgrade: "+ExecUpgrade+" (as `haven exec` does)"))
		return
	}
	var req ExecRequest
	if !decode(w, r, &req) {
		return
	}
	if len(req.Cmd) == 0 || req.Cmd[0] == "" {
		writeError(w, badRequest("exec: name the command to run, e.g. `haven exec api -- /bin/sh`"))
		return
	}
	if len(req.Cmd) > maxExecArgs {
		writeError(w, badRequest("exec: a command line has at most "+strconv.Itoa(maxExecArgs)+" arguments"))
		return
	}
	for _, a := range req.Cmd {
		if strings.IndexByte(a, 0) >= 0 {
			writeError(w, badRequest("exec: an argument contains a NUL byte, which no program can receive"))
			return
		}
	}
	tgt, err := h.ctl.ExecTarget(r.Context(), appEnv(r), r.PathValue("service"), r.PathValue("instance"))
	if err != nil {
		writeError(w, err)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, fmt.Errorf("exec: this connection cannot be taken over (%v); call the API over HTTP/1.1", err))
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Time{}) // a session lasts as long as its command
	if _, err := io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+ExecUpgrade+"\r\n\r\n"); err != nil {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	out := &frameWriter{w: conn}
	var stdin io.Reader
	var feed *io.PipeWriter // nil: input frames are dropped
	pr, pw := io.Pipe()
	if req.Stdin {
		stdin, feed = pr, pw
	}
	resize := make(chan driver.TermSize, 1)
	go readClientFrames(rw.Reader, feed, resize, cancel)
	code, err := tgt.Run(ctx, driver.ExecRequest{
		Cmd: req.Cmd, TTY: req.TTY, Stdin: stdin,
		Stdout: stream{out, ExecStdout}, Stderr: stream{out, ExecStderr},
		Size: driver.TermSize{Width: req.Width, Height: req.Height}, Resize: resize,
	})
	pr.Close()
	if err != nil {
		if ctx.Err() == nil {
			_ = out.frame(ExecError, []byte(err.Error()))
		}
		return
	}
	var status [4]byte
	binary.BigEndian.PutUint32(status[:], uint32(int32(code)))
	_ = out.frame(ExecExit, status[:])
}

// readClientFrames feeds a session's input and resizes to the command
// until the client's side ends; a client that goes away (or breaks the
// protocol) cancels the session. A nil stdin drops input.
func readClientFrames(r *bufio.Reader, stdin *io.PipeWriter, resize chan driver.TermSize, cancel func()) {
	defer cancel()
	buf := make([]byte, MaxExecFrame)
	eof := stdin == nil
	for {
		kind, p, err := ReadExecFrame(r, buf)
		if err != nil {
			if stdin != nil {
				stdin.CloseWithError(io.ErrUnexpectedEOF)
			}
			return
		}
		switch kind {
		case ExecStdin:
			if !eof {
				if _, err := stdin.Write(p); err != nil && !errors.Is(err, io.ErrClosedPipe) {
					return
				}
			}
		case ExecStdinEOF:
			if !eof {
				stdin.Close()
			}
			eof = true
		case ExecResize:
			if len(p) == 4 {
				sz := driver.TermSize{Width: binary.BigEndian.Uint16(p), Height: binary.BigEndian.Uint16(p[2:])}
				select { // only the latest size matters
				case <-resize:
				default:
				}
				resize <- sz
			}
		default:
			if stdin != nil {
				stdin.CloseWithError(io.ErrUnexpectedEOF)
			}
			return
		}
	}
}

// ServiceReplicas answers stop and start: the service's replica count
// after the call, and whether the call changed it.
type ServiceReplicas struct {
	Service  string `json:"service"`
	Replicas int    `json:"replicas"`
	Changed  bool   `json:"changed"`
}

func (h *Handler) restart(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	rev, err := h.ctl.Restart(r.Context(), appEnv(r), r.PathValue("service"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rev)
}

func (h *Handler) stopService(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	d, changed, err := h.ctl.Stop(r.Context(), appEnv(r), r.PathValue("service"))
	h.replicasAnswer(w, r, d, changed, err)
}

func (h *Handler) startService(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	d, changed, err := h.ctl.Start(r.Context(), appEnv(r), r.PathValue("service"))
	h.replicasAnswer(w, r, d, changed, err)
}

func (h *Handler) replicasAnswer(w http.ResponseWriter, r *http.Request, d spec.Deployment, changed bool, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	name := r.PathValue("service")
	n := 0
	if svc, ok := d.App.Service(name); ok {
		n = svc.Replicas
	}
	writeJSON(w, http.StatusOK, ServiceReplicas{Service: name, Replicas: n, Changed: changed})
}

func (h *Handler) images(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	list, err := h.ctl.Images(r.Context(), appEnv(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(list))
}

func (h *Handler) port(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil || port < 1 || port > 65535 {
		writeError(w, badRequest("port "+r.PathValue("port")+" must be a container port number (1-65535)"))
		return
	}
	info, err := h.ctl.Port(r.Context(), appEnv(r), r.PathValue("service"), port)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(info.Routes) > 0 {
		info.Ingress = h.version.Ingress
	}
	writeJSON(w, http.StatusOK, info)
}
