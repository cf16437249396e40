package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/haven-platform/haven/internal/driver"
)

var _ driver.Execer = (*Driver)(nil)

// outputGrace bounds how long Exec keeps copying output once the command
// has exited: a background child it left behind may hold the output open
// for ever.
const outputGrace = 2 * time.Second

// instanceWatch is how often Exec checks that its instance still runs: a
// command run in an instance is killed when the instance ends.
const instanceWatch = 250 * time.Millisecond

// Exec implements driver.Execer. The command runs on the host as the
// instance runs: its user, environment and working directory (the same
// record the exec health check uses), with the program looked up in the
// instance's own PATH. Like a check it is no instance: it dies with Haven
// (Pdeathsig) and, when ctx ends or the instance stops, it is killed with
// its process group (status 137).
// With req.TTY it gets a pseudo-terminal of its own as its controlling
// terminal.
func (d *Driver) Exec(ctx context.Context, id string, req driver.ExecRequest) (int, error) {
	if len(req.Cmd) == 0 {
		return 0, fmt.Errorf("exec in %s: no command given", id)
	}
	dir, err := d.instanceDir(id)
	if err != nil {
		return 0, err
	}
	rec, err := readRecord(dir)
	if err != nil {
		return 0, fmt.Errorf("exec in %s: %w", id, driver.ErrNotFound)
	}
	if rec.Finished || !alive(rec) {
		return 0, fmt.Errorf("exec in %s: the instance is not running: %w", id, driver.ErrNotFound)
	}
	stdout, stderr := orDiscard(req.Stdout), orDiscard(req.Stderr)
	prog, code, err := execPath(req.Cmd[0], rec.Env, rec.Dir)
	if err != nil {
		fmt.Fprintf(stderr, "exec %s: %v\n", req.Cmd[0], err)
		return code, nil
	}
	cmd := &exec.Cmd{Path: prog, Args: req.Cmd, Env: rec.Env, Dir: rec.Dir}
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if rec.Cred != nil {
		// Never Haven's rights: the instance's own, as its check has.
		attr.Credential = &syscall.Credential{Uid: rec.Cred.UID, Gid: rec.Cred.GID}
	}
	cmd.SysProcAttr = attr

	var master *os.File
	var copied chan struct{}
	if req.TTY {
		m, slave, err := openPTY(rec.Cred)
		if err != nil {
			return 0, fmt.Errorf("exec in %s: terminal: %w", id, err)
		}
		master = m
		defer master.Close()
		defer slave.Close()
		setWinsize(master, req.Size)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		// A session of its own with the terminal as its controlling one:
		// job control and ^C work as in a login shell.
		attr.Setsid, attr.Setctty, attr.Ctty = true, true, 0
	} else {
		attr.Setpgid = true
		cmd.Stdout, cmd.Stderr = stdout, stderr
		cmd.WaitDelay = outputGrace
	}
	var stdinPipe io.WriteCloser
	if !req.TTY {
		if stdinPipe, err = cmd.StdinPipe(); err != nil {
			return 0, fmt.Errorf("exec in %s: %w", id, err)
		}
	}

	// Pdeathsig fires when the thread that forked the command ends, not
	// the process: this goroutine stays on that thread until it is over.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "exec %s: %v\n", req.Cmd[0], err)
		return 126, nil
	}
	pid := cmd.Process.Pid
	kill := func() { _ = syscall.Kill(-pid, syscall.SIGKILL) }
	stop := context.AfterFunc(ctx, kill)
	defer stop()
	// A command run in an instance ends with it, as in a container.
	exited := make(chan struct{})
	defer close(exited)
	go func() {
		tick := time.NewTicker(instanceWatch)
		defer tick.Stop()
		for {
			select {
			case <-exited:
				return
			case <-tick.C:
				if !alive(rec) {
					kill()
					return
				}
			}
		}
	}()

	if req.TTY {
		cmd.Stdin.(*os.File).Close() // the child has its own copy of the slave
		copied = make(chan struct{})
		go func() {
			defer close(copied)
			_, _ = io.Copy(stdout, master)
		}()
		if req.Stdin != nil {
			go func() { _, _ = io.Copy(master, req.Stdin) }()
		}
		go func() {
			for {
				select {
				case sz, ok := <-req.Resize:
					if !ok {
						return
					}
					setWinsize(master, sz)
				case <-copied:
					return
				}
			}
		}()
	} else {
		go func() {
			if req.Stdin != nil {
				_, _ = io.Copy(stdinPipe, req.Stdin)
			}
			stdinPipe.Close()
		}()
	}
	werr := cmd.Wait()
	if copied != nil {
		select {
		case <-copied:
		case <-time.After(outputGrace):
		}
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if werr != nil && !errors.As(werr, new(*exec.ExitError)) && !errors.Is(werr, exec.ErrWaitDelay) {
		return 0, fmt.Errorf("exec in %s: %w", id, werr)
	}
	return exitStatus(cmd.ProcessState), nil
}

// exitStatus is a finished command's status as a shell reports it: its
// exit code, or 128 + the signal that killed it.
func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// execPath finds prog as the instance would: a bare name through the PATH
// of its environment, a relative path against its working directory. The
// status is a shell's: 127 for a program that is not there, 126 for one
// that cannot run.
func execPath(prog string, env []string, workDir string) (string, int, error) {
	var candidates []string
	if strings.Contains(prog, "/") {
		p := prog
		if !filepath.IsAbs(p) && workDir != "" {
			p = filepath.Join(workDir, p)
		}
		candidates = []string{p}
	} else {
		path := ""
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				path = v
			}
		}
		for _, dir := range filepath.SplitList(path) {
			if dir == "" {
				dir = "."
			}
			if !filepath.IsAbs(dir) && workDir != "" {
				dir = filepath.Join(workDir, dir)
			}
			candidates = append(candidates, filepath.Join(dir, prog))
		}
	}
	for _, p := range candidates {
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		if fi.Mode()&0o111 == 0 {
			if len(candidates) == 1 {
				return "", 126, fmt.Errorf("%s is not executable", p)
			}
			continue
		}
		return p, 0, nil
	}
	if strings.Contains(prog, "/") {
		return "", 127, fmt.Errorf("no such file")
	}
	return "", 127, fmt.Errorf("not found in the instance's PATH")
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// openPTY opens a pseudo-terminal pair. The slave is given to who (when
// Haven switches users), as a login would.
func openPTY(who *cred) (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	var n uint32
	unlock := int32(0)
	if err = ioctl(master, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err == nil {
		err = ioctl(master, syscall.TIOCGPTN, unsafe.Pointer(&n))
	}
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	name := "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
	slave, err = os.OpenFile(name, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	if who != nil {
		_ = os.Chown(name, int(who.UID), -1)
	}
	return master, slave, nil
}

// setWinsize sets the terminal's size; a zero size is left alone.
func setWinsize(master *os.File, sz driver.TermSize) {
	if sz.Width == 0 || sz.Height == 0 {
		return
	}
	ws := struct{ Row, Col, X, Y uint16 }{Row: sz.Height, Col: sz.Width}
	_ = ioctl(master, syscall.TIOCSWINSZ, unsafe.Pointer(&ws))
}

// ioctl runs one ioctl on f without taking f out of the poller (f.Fd would
// make it blocking, and Close could then not interrupt a Read).
func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}
