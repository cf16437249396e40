package process

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

var _ driver.Driver = (*Driver)(nil)

const (
	// scanInterval is how often a Driver looks for instances it does not
	// supervise: to adopt them when their supervisor is gone, and to report
	// their exits and health changes through Events.
	scanInterval = 250 * time.Millisecond
	// killWait bounds the wait for a process to die after SIGKILL.
	killWait = 5 * time.Second
	// abandonedAge is how old a staging directory (a Start not yet holding
	// its lock) must be before a scan may clear it: Starts take
	// milliseconds. A .new- directory needs no age: its free lock says.
	abandonedAge = time.Minute
	// eventBuffer is each Events subscriber's buffer; a subscriber that
	// falls this far behind loses events (List still tells the truth).
	eventBuffer = 256
)

// inheritedEnv are the variables an instance gets from Haven's own
// environment: enough for programs to find their tools and locale, and
// nothing of Haven's own configuration or credentials.
var inheritedEnv = []string{"PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// Driver runs instances as local processes. Create it with New; it is safe
// for concurrent use. Several Driver values may share a directory: each
// instance is supervised by exactly one of them at a time.
type Driver struct {
	root      string // the directory given to New
	instances string // <root>/instances: one directory per instance
	trash     string // <root>/trash: instance directories being deleted
	staging   string // <root>/staging: directories of Starts not yet locked
	volumes   string // <root>/volumes/<app>/<env>/<volume>

	uidMu sync.Mutex // serializes envUID within this process (flock: across processes)

	mu     sync.Mutex
	sups   map[string]*supervisor         // instances this value supervises, by id
	known  map[string]seen                // last state reported through Events, by id
	subs   map[chan driver.Event]struct{} // Events subscribers
	closed bool
	stats  statsCache // Stats' cache of pids and disk sizes (stats.go)
	warned sync.Map   // services warned about options they set that this driver ignores (options.go)

	quit      chan struct{}
	scanner   sync.WaitGroup
	closeOnce sync.Once
}

// seen is an instance's state as last reported, so each change is
// reported once whoever notices it first.
type seen struct {
	exited bool
	health string
}

// New returns a Driver keeping its records and logs under dir (created if
// needed), typically <data-dir>/process. It adopts at once every running
// instance no other live Driver supervises, including those a crashed Haven
// left behind.
func New(dir string) (*Driver, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("process driver: %w", err)
	}
	d := &Driver{
		root:      root,
		instances: filepath.Join(root, "instances"),
		trash:     filepath.Join(root, "trash"),
		staging:   filepath.Join(root, "staging"),
		volumes:   filepath.Join(root, "volumes"),
		sups:      map[string]*supervisor{},
		known:     map[string]seen{},
		subs:      map[chan driver.Event]struct{}{},
		quit:      make(chan struct{}),
	}
	// Instances of other users must pass through root and volumes to reach
	// their volumes (each guarded below by its own mode); nobody but Haven
	// enters the instance records, logs and tables.
	open := os.FileMode(0o700)
	if separate() {
		open = 0o711
	}
	for _, p := range []struct {
		dir  string
		mode os.FileMode
	}{{root, open}, {d.instances, 0o700}, {d.trash, 0o700}, {d.staging, 0o700}, {d.volumes, open}} {
		if err := os.MkdirAll(p.dir, p.mode); err != nil {
			return nil, fmt.Errorf("process driver: %w", err)
		}
		if err := os.Chmod(p.dir, p.mode); err != nil { // one made by an older version
			return nil, fmt.Errorf("process driver: %w", err)
		}
	}
	warnIsolation(d.volumes)
	d.scan(true)
	d.scanner.Go(d.scanLoop)
	return d, nil
}

// warnIsolation says, at every start, what isolation instances will not
// have: their own users when Haven is not root, and their volumes when
// a directory above them is closed to other users.
func warnIsolation(volumes string) {
	if !separate() {
		slog.Warn("process driver: Haven is not running as root, so every instance runs as Haven's own user: " +
			"apps can read Haven's data directory (admin token, keys, store) and each other's secrets and volumes. " +
			"Run Haven as root for a user per environment, or use the docker driver")
		return
	}
	for dir := filepath.Dir(volumes); ; dir = filepath.Dir(dir) {
		if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o001 == 0 {
			slog.Warn("process driver: instances run as their environment's user and cannot reach their named volumes: "+
				"a directory above them may not be passed through by other users; chmod o+x it (its files stay unlistable) "+
				"or choose a --data-dir outside it", "dir", dir, "mode", fi.Mode().Perm().String(), "volumes", volumes)
			return
		}
		if dir == filepath.Dir(dir) {
			return
		}
	}
}

// Close stops this value's background work (log copying, exit watching,
// health checks) and releases its instances, which keep running: the next
// Driver over the same directory adopts them. Start fails after Close;
// the other methods keep working. Close is what a crash does, done politely.
func (d *Driver) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		sups := make([]*supervisor, 0, len(d.sups))
		for _, s := range d.sups {
			sups = append(sups, s)
		}
		d.mu.Unlock()
		close(d.quit)
		d.scanner.Wait()
		for _, s := range sups {
			close(s.quit)
		}
		for _, s := range sups {
			<-s.done
		}
	})
	return nil
}

// Name implements driver.Driver.
func (d *Driver) Name() string { return "process" }

// PrepareImage implements driver.Driver: there is no image, so it checks
// that the service has a command and that its program exists, and
// returns "".
func (d *Driver) PrepareImage(ctx context.Context, env spec.AppEnv, svc spec.Service) (string, error) {
	argv := commandLine(svc)
	if len(argv) == 0 {
		return "", fmt.Errorf("%w: the process driver runs a command and this service has none; set command: (or entrypoint:) in compose.yaml (image: is ignored by this driver)", spec.ErrInvalid)
	}
	if _, err := lookPath(argv[0], svc.WorkingDir); err != nil {
		return "", fmt.Errorf("service %s: %w: the process driver runs host programs and %q is not one on this machine (%v)", svc.Name, driver.ErrImageNotFound, argv[0], err)
	}
	return "", nil
}

// commandLine is what runs: entrypoint first, then command, as in Docker.
func commandLine(svc spec.Service) []string {
	return append(append([]string(nil), svc.Entrypoint...), svc.Command...)
}

// lookPath resolves a program: a bare name through Haven's PATH, a
// relative path against the working directory the process will have.
func lookPath(prog, workDir string) (string, error) {
	if !strings.Contains(prog, "/") {
		return exec.LookPath(prog)
	}
	p := prog
	if !filepath.IsAbs(p) && workDir != "" {
		p = filepath.Join(workDir, p)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", p)
	}
	return prog, nil
}

// EnsureEnv implements driver.Driver: it creates the directories of the
// app's named volumes. There is no network to create.
func (d *Driver) EnsureEnv(ctx context.Context, env spec.AppEnv, app spec.App) error {
	for _, v := range app.Volumes {
		if _, err := d.ensureVolume(env, v.Name); err != nil {
			return err
		}
	}
	return nil
}

// ensureVolume creates a named volume's directory and returns its path.
// When instances have users of their own, the volume belongs to its
// environment's uid (0700); the directories above it are root's and may
// be passed through, not listed, so an environment reaches its own volumes
// and no other's, and cannot swap a volume for a link.
func (d *Driver) ensureVolume(env spec.AppEnv, name string) (string, error) {
	p, err := d.volumeDir(env, name)
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) { return "", fmt.Errorf("volume %s of %s: %w", name, env, err) }
	if !separate() {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fail(err)
		}
		return p, nil
	}
	for _, dir := range []string{filepath.Join(d.volumes, env.App), filepath.Dir(p)} {
		if err := ownDir(dir, nil, 0o711); err != nil {
			return fail(err)
		}
	}
	uid, err := d.envUID(env)
	if err != nil {
		return fail(err)
	}
	if err := ownDir(p, &cred{UID: uid, GID: uid}, 0o700); err != nil {
		return fail(err)
	}
	return p, nil
}

// RemoveEnv implements driver.Driver: with removeVolumes it deletes the
// environment's volume directories; otherwise there is nothing to remove.
func (d *Driver) RemoveEnv(ctx context.Context, env spec.AppEnv, removeVolumes bool) error {
	if !removeVolumes {
		return nil
	}
	if !validID.MatchString(env.App) || !validID.MatchString(env.Env) {
		return fmt.Errorf("remove volumes of %s: not a valid app and environment name", env)
	}
	if err := os.RemoveAll(filepath.Join(d.volumes, env.App, env.Env)); err != nil {
		return fmt.Errorf("remove volumes of %s: %w", env, err)
	}
	_ = os.Remove(filepath.Join(d.volumes, env.App)) // only once no environment is left
	return nil
}

func (d *Driver) volumeDir(env spec.AppEnv, name string) (string, error) {
	for _, s := range []string{env.App, env.Env, name} {
		if !validID.MatchString(s) {
			return "", fmt.Errorf("volume %q of %s: names must be letters, digits, '_', '.' or '-'", name, env)
		}
	}
	return filepath.Join(d.volumes, env.App, env.Env, name), nil
}

// Start implements driver.Driver. The instance's id is its labels' Instance
// when that is a safe file name (else a random one), so starting the same
// instance twice fails instead of running it twice.
//
// Start is crash-safe: the instance is assembled in a directory
// .new-<id>-<suffix> whose lock it holds, and no program runs before its
// pid is on disk there. The child is the shim (shim.go), which waits for a
// launch message before it execs the program; the message is sent only
// once the record names the shim's pid and start time. A Start that dies
// at any point leaves either a shim that exits by itself (no message will
// come) or a record naming the process, which recover kills.
func (d *Driver) Start(ctx context.Context, req driver.StartRequest) (driver.Instance, error) {
	svc := req.Service
	fail := func(err error) (driver.Instance, error) {
		return driver.Instance{}, fmt.Errorf("start %s of %s/%s: %w", svc.Name, req.Labels.App, req.Labels.Env, err)
	}
	if len(svc.Files) > 0 {
		// There is no container to write them into, and writing to the
		// host's own /etc would be worse than refusing.
		return fail(fmt.Errorf("config content for %s cannot be delivered by the process driver, which has no container to write files into: give the config `file:` (the process reads it where it is)", svc.Files[0].Target))
	}
	if len(svc.Files) > 0 {
		// There is no container to write them into, and writing to the
		// host's own /etc would be worse than refusing.
		return fail(fmt.Errorf("config content for %s cannot be delivered by the process driver, which has no container to write files into: give the config `file:` (the process reads it where it is)", svc.Files[0].Target))
	}
	argv := commandLine(svc)
	if len(argv) == 0 {
		return fail(errors.New("no command to run: set command: in compose.yaml (the process driver ignores image:)"))
	}
	prog, err := lookPath(argv[0], svc.WorkingDir)
	if err != nil {
		return fail(fmt.Errorf("%w: %q (%v)", driver.ErrImageNotFound, argv[0], err))
	}
	appEnv := spec.AppEnv{App: req.Labels.App, Env: req.Labels.Env}
	who, err := d.instanceCred(appEnv, svc)
	if err != nil {
		return fail(err)
	}
	id := req.Labels.Instance
	if !validID.MatchString(id) {
		id = randomHex(8)
	}
	final := filepath.Join(d.instances, id)
	if _, err := os.Stat(final); err == nil {
		return fail(fmt.Errorf("instance %s already exists", id))
	}
	ports, err := allocatePorts(svc, d.takenPorts())
	if err != nil {
		return driver.Instance{}, err // already names the service and the port
	}

	// 1. The intent: a directory only this Start's lock holder may clear,
	// holding a record that names everything the Start will create.
	suffix := randomHex(4)
	prep := filepath.Join(d.staging, id+"-"+suffix)
	tmp := filepath.Join(d.instances, newPrefix+id+"-"+suffix)
	if err := os.Mkdir(prep, 0o700); err != nil {
		return fail(err)
	}
	var (
		lock   *os.File
		sh     *shimProcess
		reaped bool // the supervisor's reaper owns wait(2)
	)
	rec := &record{
		ID: id, Labels: req.Labels, Ports: ports, StartedAt: time.Now().UTC(), StopSignal: d.stopSignal(req.Labels, svc), // options.go
		Dir: svc.WorkingDir, Cred: who, SecretDir: d.secretDir(id, suffix),
	}
	undo := func() {
		if sh != nil {
			sh.close() // a shim not yet launched exits on its own
			if reaped {
				_, _ = signalGroup(rec, syscall.SIGKILL) // may be reaped already: check the pid first
			} else {
				_ = syscall.Kill(-sh.p.Pid, syscall.SIGKILL) // our unreaped child: the pid is still ours
				_, _ = sh.p.Wait()
			}
		}
		removeSecrets(rec.SecretDir)
		os.RemoveAll(tmp)
		if lock != nil {
			lock.Close() // last: until now no scan may take the directory for abandoned
		}
	}
	if lock, err = lockInstance(prep, true); err != nil {
		os.RemoveAll(prep)
		return fail(err)
	}
	// Renamed once locked, so that every .new- directory is locked for as
	// long as its Start lives: a free lock on one means it died.
	if err := os.Rename(prep, tmp); err != nil {
		lock.Close()
		os.RemoveAll(prep)
		return fail(err)
	}
	if err := writeRecord(tmp, rec); err != nil {
		undo()
		return fail(err)
	}
	if err := syncDir(d.instances); err != nil {
		undo()
		return fail(err)
	}

	// 2. What the process gets: environment, secret files, volumes.
	env, err := d.environment(req, ports, rec.SecretDir, who)
	if err != nil {
		undo()
		return fail(err)
	}
	rec.Env = env
	if svc.Health != nil && svc.Health.Kind == spec.CheckExec {
		chk := *svc.Health
		rec.Check, rec.Health = &chk, "starting"
	}

	// 3. The shim, waiting; its pid on disk; then the word to run.
	if sh, err = spawn(tmp, env); err != nil {
		undo()
		return fail(err)
	}
	_, ticks, err := procStat(sh.p.Pid)
	if err != nil {
		undo()
		return fail(err)
	}
	rec.PID, rec.StartTicks, rec.BootID = sh.p.Pid, ticks, bootID()
	if err := writeRecord(tmp, rec); err != nil {
		undo()
		return fail(err)
	}
	if err := sh.run(launch{Prog: prog, Argv: argv, Env: env, Dir: svc.WorkingDir, Cred: who}); err != nil {
		undo()
		return fail(err)
	}
	sh.close()

	// 4. The instance exists: rename it into place, supervised.
	sup := newSupervisor(d, final, lock, rec)
	sup.reap(sh.p)
	reaped = true
	if !d.register(sup) {
		undo()
		return fail(errors.New("driver closed"))
	}
	if err := os.Rename(tmp, final); err != nil {
		d.unregister(sup)
		undo()
		return fail(err)
	}
	if err := syncDir(d.instances); err != nil {
		slog.Warn("process driver: instance directory may not survive a power loss", "instance", id, "err", err)
	}
	inst := rec.instance(true) // before run: from then on the supervisor owns rec
	d.observe(rec, true)
	go sup.run()
	return inst, nil
}

// newPrefix starts the name of the directory of a Start under way (or one
// that crashed), from the moment it holds the lock until the rename into
// place. Before the lock, the directory is in <root>/staging.
const newPrefix = ".new-"

// spawn starts the shim with its output going straight into the
// instance's raw files, in a new process group and without a parent-death
// signal, so the program it becomes survives Haven. The shim starts as
// Haven's user and takes the instance's only once launched, so it can
// always exec Haven's binary.
func spawn(dir string, env []string) (*shimProcess, error) {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close() // the child has its own copies
		}
	}()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	files = append(files, null)
	for _, name := range []string{stdoutFile, stderrFile} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	log, err := os.OpenFile(filepath.Join(dir, logFile), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	log.Close()
	launchR, launchW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		launchR.Close()
		launchW.Close()
		return nil, err
	}
	files = append(files, launchR, statusW) // fds 3 and 4: shimLaunchFD, shimStatusFD
	// /proc/self/exe is Haven's own binary even if the file was replaced
	// or deleted since (an upgrade).
	p, err := os.StartProcess("/proc/self/exe", []string{shimArg0}, &os.ProcAttr{
		Env:   env,
		Files: files,
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		launchW.Close()
		statusR.Close()
		return nil, fmt.Errorf("start the process shim: %w", err)
	}
	return &shimProcess{p: p, launch: launchW, status: statusR}, nil
}

// lockInstance opens the instance's lock file and takes its flock, which
// makes the caller the instance's supervisor. It fails at once when
// another Driver (in any process) holds it.
func lockInstance(dir string, create bool) (*os.File, error) {
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), flag, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// environment builds the instance's environment (see the package doc),
// writing its secret files into secretDir and creating its volumes.
func (d *Driver) environment(req driver.StartRequest, ports map[int]int, secretDir string, who *cred) ([]string, error) {
	svc := req.Service
	m := map[string]string{}
	for _, k := range inheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			m[k] = v
		}
	}
	if who != nil && svc.User == "" {
		// An environment's uid has no account: Haven's HOME and USER are
		// not its own (HOME=/ is what Docker gives such a user).
		m["HOME"] = "/"
		delete(m, "USER")
	}
	for k, v := range svc.Env {
		m[k] = v
	}
	if len(svc.Secrets) > 0 {
		if err := makeSecretDir(secretDir); err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
	}
	for _, ref := range svc.Secrets {
		sec, ok := req.App.Secrets[ref.Source]
		if !ok {
			return nil, fmt.Errorf("secret %q is not declared under top-level secrets: of app %s", ref.Source, req.App.Name)
		}
		target := filepath.Base(ref.Target)
		if ref.Target == "" {
			target = filepath.Base(ref.Source)
		}
		var value []byte
		switch {
		case sec.External:
			value = req.SecretValues[ref.Source]
		case who == nil:
			// The instance runs as Haven's user, who can read the file
			// where it is: no copy.
			if _, err := os.Stat(sec.File); err != nil {
				return nil, fmt.Errorf("secret %q: %w", ref.Source, err)
			}
			m[envName(target)+"_FILE"] = sec.File
			continue
		default:
			// The instance's user may not read the file where it is, nor
			// should it reach its directory: a copy of its own.
			b, err := os.ReadFile(sec.File)
			if err != nil {
				return nil, fmt.Errorf("secret %q: %w", ref.Source, err)
			}
			value = b
		}
		path, err := writeSecret(secretDir, target, value, who)
		if err != nil {
			return nil, fmt.Errorf("secret %q: %w", ref.Source, err)
		}
		m[envName(target)+"_FILE"] = path
	}
	if len(svc.Secrets) > 0 {
		if err := sealSecretDir(secretDir, who); err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
	}
	env := spec.AppEnv{App: req.Labels.App, Env: req.Labels.Env}
	for _, mt := range svc.Volumes {
		// An anonymous volume (no Source) has no name to pass it by: a
		// process writes where it runs (doc.go).
		if mt.Type != spec.MountVolume || mt.Source == "" {
			continue
		}
		p, err := d.ensureVolume(env, mt.Source)
		if err != nil {
			return nil, err
		}
		m["HAVEN_VOLUME_"+envName(mt.Source)] = p
	}
	if cp := containerPorts(svc); len(cp) > 0 {
		m["PORT"] = strconv.Itoa(ports[cp[0]])
	}
	for c, h := range ports {
		m["PORT_"+strconv.Itoa(c)] = strconv.Itoa(h)
	}
	m["HAVEN_INSTANCE"] = req.Labels.Instance
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out, nil
}

// envName turns a name into an environment variable name: upper case, with
// every character other than a letter or digit replaced by '_'.
func envName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, s)
}

// takenPorts maps the host ports of unfinished instances to their ids.
func (d *Driver) takenPorts() map[int]string {
	taken := map[int]string{}
	entries, _ := os.ReadDir(d.instances)
	for _, e := range entries {
		rec, err := readRecord(filepath.Join(d.instances, e.Name()))
		if err != nil || rec.Finished {
			continue
		}
		for _, h := range rec.Ports {
			taken[h] = rec.ID
		}
	}
	return taken
}

// Stop implements driver.Driver: the stop signal (stop_signal, SIGTERM by
// default) to the process group, SIGKILL after grace, then the instance's
// directory is deleted.
func (d *Driver) Stop(ctx context.Context, id string, grace time.Duration) error {
	dir, err := d.instanceDir(id)
	if errors.Is(err, driver.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	rec, err := readRecord(dir)
	if isGone(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	if !rec.Finished {
		sig := rec.stopSignal()
		sent, err := signalGroup(rec, sig)
		if err != nil {
			return fmt.Errorf("stop %s: %v: %w", id, sig, err)
		}
		if sent && !waitGone(ctx, rec, grace) {
			if _, err := signalGroup(rec, syscall.SIGKILL); err != nil {
				return fmt.Errorf("stop %s: SIGKILL: %w", id, err)
			}
			if !waitGone(context.Background(), rec, killWait) {
				return fmt.Errorf("stop %s: pid %d still alive %s after SIGKILL", id, rec.PID, killWait)
			}
		}
		if sent {
			killLeftovers(rec)
		}
	}
	d.awaitSupervisor(id)
	return d.removeDir(rec, dir)
}

// waitGone polls until the record's process is gone, for at most timeout
// or until ctx ends. It reports whether the process is gone.
func waitGone(ctx context.Context, rec *record, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for alive(rec) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// awaitSupervisor waits (briefly) for this value's supervisor of id to
// record the exit, so its late writes do not race the removal.
func (d *Driver) awaitSupervisor(id string) {
	d.mu.Lock()
	s := d.sups[id]
	d.mu.Unlock()
	if s == nil {
		return
	}
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
	}
}

// Remove implements driver.Driver. A running instance is not removed: stop
// it instead.
func (d *Driver) Remove(ctx context.Context, id string) error {
	dir, err := d.instanceDir(id)
	if err != nil {
		return err
	}
	rec, err := readRecord(dir)
	if isGone(err) {
		return fmt.Errorf("remove %s: %w", id, driver.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	if !rec.Finished && alive(rec) {
		return fmt.Errorf("remove %s: the instance is running; stop it instead", id)
	}
	d.awaitSupervisor(id)
	return d.removeDir(rec, dir)
}

// removeDir deletes an instance directory. It is first renamed into the
// trash, so that from that moment nobody (List, a late record write of
// another Driver) finds it under its name; the trash is emptied next.
func (d *Driver) removeDir(rec *record, dir string) error {
	id := rec.ID
	if rec.SecretDir != "" {
		removeSecrets(rec.SecretDir)
	} else {
		removeSecrets(d.secretDir(id, ""))
	}
	trash := filepath.Join(d.trash, id+"-"+randomHex(4))
	if err := os.Rename(dir, trash); err != nil {
		if isGone(err) {
			return nil
		}
		return fmt.Errorf("remove %s: %w", id, err)
	}
	d.mu.Lock()
	delete(d.known, id)
	d.mu.Unlock()
	for range 3 {
		if err := os.RemoveAll(trash); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond) // a late writer added a file meanwhile
	}
	return nil
}

// instanceDir returns the directory of instance id, or ErrNotFound.
func (d *Driver) instanceDir(id string) (string, error) {
	if !validID.MatchString(id) {
		return "", fmt.Errorf("instance %q: %w", id, driver.ErrNotFound)
	}
	dir := filepath.Join(d.instances, id)
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("instance %s: %w", id, driver.ErrNotFound)
	}
	return dir, nil
}

// List implements driver.Driver, from the records and /proc.
func (d *Driver) List(ctx context.Context) ([]driver.Instance, error) {
	entries, err := os.ReadDir(d.instances)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	var out []driver.Instance
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // being assembled or abandoned by a crashed Start
		}
		dir := filepath.Join(d.instances, e.Name())
		rec, err := readRecord(dir)
		if err != nil {
			continue // removed meanwhile
		}
		running := !rec.Finished && alive(rec)
		if !rec.Finished && !running {
			// Just exited: our supervisor is recording the exit code.
			d.awaitSupervisor(rec.ID)
			if r, err := readRecord(dir); err == nil {
				rec = r
			}
		}
		out = append(out, rec.instance(running))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartedAt.Equal(out[j].StartedAt) {
			return out[i].StartedAt.Before(out[j].StartedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Events implements driver.Driver. Exits and health changes of instances
// this value supervises are reported as they happen; those of instances
// another value supervises are found by a scan every 250ms.
func (d *Driver) Events(ctx context.Context) (<-chan driver.Event, error) {
	ch := make(chan driver.Event, eventBuffer)
	d.mu.Lock()
	d.subs[ch] = struct{}{}
	d.mu.Unlock()
	go func() {
		<-ctx.Done()
		d.mu.Lock()
		delete(d.subs, ch)
		close(ch)
		d.mu.Unlock()
	}()
	return ch, nil
}

// observe reports what changed since the instance was last seen: started,
// exited, or a new exec health verdict.
func (d *Driver) observe(rec *record, running bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev, ok := d.known[rec.ID]
	d.known[rec.ID] = seen{exited: !running, health: rec.Health}
	switch {
	case !ok && running:
		d.publish(event(rec, driver.EventStarted))
	case !running && (!ok || !prev.exited):
		d.publish(event(rec, driver.EventExited))
	}
	if running && ok && rec.Health != prev.health {
		d.publish(event(rec, driver.EventHealth))
	}
}

// publish sends ev to every subscriber without blocking: a supervisor never
// waits for a slow reader. Called with d.mu held.
func (d *Driver) publish(ev driver.Event) {
	for ch := range d.subs {
		select {
		case ch <- ev:
		default:
			slog.Warn("process driver: events subscriber too slow, event dropped", "instance", ev.ID, "kind", ev.Kind)
		}
	}
}

// register adds a supervisor unless the Driver is closed.
func (d *Driver) register(s *supervisor) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.sups[s.rec.ID] = s
	return true
}

func (d *Driver) unregister(s *supervisor) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sups[s.rec.ID] == s {
		delete(d.sups, s.rec.ID)
	}
}

func (d *Driver) scanLoop() {
	t := time.NewTicker(scanInterval)
	defer t.Stop()
	for {
		select {
		case <-d.quit:
			return
		case <-t.C:
			d.scan(false)
		}
	}
}

// scan adopts instances nobody supervises, reports changes of instances
// another Driver supervises, and clears what crashed Starts left behind.
// The first scan (initial) only learns the current state.
func (d *Driver) scan(initial bool) {
	entries, err := os.ReadDir(d.instances)
	if err != nil {
		slog.Error("process driver: scan instances", "err", err)
		return
	}
	present := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		dir := filepath.Join(d.instances, name)
		if strings.HasPrefix(name, newPrefix) {
			d.recover(dir)
			continue
		}

		rec, err := readRecord(dir)
		if err != nil {
			continue
		}
		present[rec.ID] = true
		d.mu.Lock()
		_, mine := d.sups[rec.ID]
		d.mu.Unlock()
		if mine {
			continue // its supervisor reports it
		}
		if !rec.Finished && d.adopt(dir, initial) {
			continue
		}
		running := !rec.Finished && alive(rec)
		if !rec.Finished && !running {
			continue // its supervisor is recording the exit; report it then
		}
		if initial {
			d.mu.Lock()
			d.known[rec.ID] = seen{exited: !running, health: rec.Health}
			d.mu.Unlock()
			continue
		}
		d.observe(rec, running)
	}
	// In staging, nothing was written and nothing ran: those are Starts that
	// died before taking their lock, or young ones under way.
	staged, _ := os.ReadDir(d.staging)
	for _, e := range staged {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > abandonedAge {
			os.RemoveAll(filepath.Join(d.staging, e.Name()))
		}
	}
	d.mu.Lock()
	for id := range d.known {
		if _, mine := d.sups[id]; !present[id] && !mine {
			delete(d.known, id)
		}
	}
	d.mu.Unlock()
}

// recover clears the directory of a Start that died, after killing
// whatever it started. A live Start holds the lock of its .new- directory
// until it renames it into place, so a lock this value can take means the
// Start is dead. Its record, written before anything was spawned, names
// the process it may have left running (a shim that was never launched
// exits by itself); with no record, nothing ran.
func (d *Driver) recover(dir string) {
	lock, err := lockInstance(dir, false)
	if err != nil {
		return // a live Start (or the directory is gone)
	}
	defer lock.Close()
	rec, err := readRecord(dir)
	if err != nil && !isGone(err) {
		slog.Error("process driver: a crashed Start's record is unreadable; its directory is kept", "dir", dir, "err", err)
		return
	}
	if rec == nil {
		rec = &record{}
	}
	if rec.PID > 0 {
		if !killGroup(rec) {
			slog.Error("process driver: a crashed Start's process survives SIGKILL; its directory is kept to retry", "dir", dir, "pid", rec.PID)
			return
		}
		slog.Warn("process driver: killed what a crashed Start left running", "instance", rec.ID, "pid", rec.PID, "service", rec.Labels.Service)
	}
	removeSecrets(rec.SecretDir)
	trash := filepath.Join(d.trash, filepath.Base(dir))
	if err := os.Rename(dir, trash); err == nil {
		os.RemoveAll(trash)
	}
}

// killGroup SIGKILLs the record's process group, if the record's process
// still is the one that started it, and waits for the leader to die. It
// reports false if the process outlived killWait.
func killGroup(rec *record) bool {
	if _, err := signalGroup(rec, syscall.SIGKILL); err != nil {
		slog.Error("process driver: SIGKILL", "instance", rec.ID, "pid", rec.PID, "err", err)
	}
	return waitGone(context.Background(), rec, killWait)
}

// adopt becomes the supervisor of the instance in dir if nobody else is.
func (d *Driver) adopt(dir string, initial bool) bool {
	lock, err := lockInstance(dir, false)
	if err != nil {
		return false
	}
	rec, err := readRecord(dir) // again, now that nobody else writes it
	if err != nil || rec.Finished {
		lock.Close()
		return false
	}
	s := newSupervisor(d, dir, lock, rec)
	if !d.register(s) {
		lock.Close()
		return false
	}
	slog.Info("process driver: adopted instance", "instance", rec.ID, "pid", rec.PID, "service", rec.Labels.Service)
	// Reported as running until the supervisor finds otherwise, so an
	// exit that happened while nobody watched is reported too.
	if initial {
		d.mu.Lock()
		d.known[rec.ID] = seen{health: rec.Health}
		d.mu.Unlock()
	} else {
		d.observe(rec, true)
	}
	go s.run()
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}
