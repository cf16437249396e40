package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// shimArg0 is the whole command line of the shim: the binary that embeds
// this package, re-executed through /proc/self/exe, waiting for the word to
// run an instance's program. It is also what ps shows for that moment.
const shimArg0 = "haven: process shim"

// The shim's inherited descriptors, after stdin, stdout and stderr.
const (
	shimLaunchFD = 3 // read: the launch message; EOF without one means "do not run"
	shimStatusFD = 4 // write, close-on-exec: why the program could not be run
)

// execTimeout bounds how long Start waits for the shim to exec the program.
const execTimeout = 30 * time.Second

// launch is what the driver tells the shim once the instance's record,
// pid and all, is on disk: what to run, as whom and where.
type launch struct {
	Prog string   `json:"prog"`
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	Dir  string   `json:"dir,omitempty"`
	Cred *cred    `json:"cred,omitempty"`
}

// init turns the process into the shim when it was started as one. It runs
// before main in every binary that links this package (haven itself, the
// tests), so the driver needs no separate helper program.
func init() {
	if len(os.Args) == 1 && os.Args[0] == shimArg0 {
		os.Exit(runShim())
	}
}

// runShim waits for the launch message, then becomes the program: drop to
// the instance's user, enter its working directory, exec. A driver that
// dies before sending the message closes the pipe, and the shim exits
// without running anything, so no process exists that the driver's records
// do not name. It returns only on failure.
func runShim() int {
	in := os.NewFile(shimLaunchFD, "launch")
	status := os.NewFile(shimStatusFD, "status")
	if in == nil || status == nil {
		return 126
	}
	// The program must not inherit them; the status pipe's closing on exec
	// is also how the driver learns that the exec worked.
	syscall.CloseOnExec(shimLaunchFD)
	syscall.CloseOnExec(shimStatusFD)
	b, err := io.ReadAll(in)
	var l launch
	if err != nil || json.Unmarshal(b, &l) != nil || l.Prog == "" {
		return 125 // the driver died before it could tell us: run nothing
	}
	fail := func(err error) int {
		fmt.Fprintf(status, "%v", err)
		return 127
	}
	if l.Cred != nil {
		// Groups first: after Setuid the process may no longer change them.
		// Go applies each of these to every thread of the process.
		if err := syscall.Setgroups(nil); err != nil {
			return fail(fmt.Errorf("drop supplementary groups: %w", err))
		}
		if err := syscall.Setgid(int(l.Cred.GID)); err != nil {
			return fail(fmt.Errorf("switch to gid %d: %w", l.Cred.GID, err))
		}
		if err := syscall.Setuid(int(l.Cred.UID)); err != nil {
			return fail(fmt.Errorf("switch to uid %d: %w", l.Cred.UID, err))
		}
	}
	// After the switch, so a directory the instance's user may not enter
	// fails here rather than being entered with Haven's rights.
	if l.Dir != "" {
		if err := syscall.Chdir(l.Dir); err != nil {
			return fail(fmt.Errorf("working directory %s: %w", l.Dir, err))
		}
	}
	err = syscall.Exec(l.Prog, l.Argv, l.Env)
	return fail(fmt.Errorf("run %q: %w", l.Argv[0], err))
}

// shimProcess is a shim started by spawn and not yet told to run.
type shimProcess struct {
	p      *os.Process
	launch *os.File // write end of the shim's launch pipe
	status *os.File // read end of the shim's status pipe
}

// run sends the launch message and waits until the shim has exec'ed the
// program (the status pipe closes empty) or reports why it could not.
func (s *shimProcess) run(l launch) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = s.launch.Write(b)
	s.launch.Close()
	if err != nil {
		return fmt.Errorf("launch the process shim: %w", err)
	}
	_ = s.status.SetReadDeadline(time.Now().Add(execTimeout))
	msg, err := io.ReadAll(s.status)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("run %q: the process shim did not exec it within %s", l.Argv[0], execTimeout)
	}
	if len(msg) > 0 {
		return errors.New(string(msg))
	}
	return err
}

// close releases the pipes (the shim, if not yet launched, then exits).
func (s *shimProcess) close() {
	s.launch.Close()
	s.status.Close()
}
