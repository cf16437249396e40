// Package process is the driver that runs services as supervised local
// processes, for machines without Docker and for fast tests (like Nomad's
// exec drivers). It needs no daemon: its state is a directory of instance
// records, and the processes themselves.
//
// # What runs
//
// Of a service's runtime options (spec.ContainerOptions) only stop_signal
// applies: Stop sends it instead of SIGTERM (options.go). The others
// (tty, cap_add, sysctls, ulimits, devices, cpus, …) need a container; the
// driver logs the ones a service sets, once per revision, and runs it
// without them.
//
// An instance runs Entrypoint followed by Command (entrypoint first, like
// Docker) as a host process in its own process group, so Stop signals the
// app and everything it spawned. Service.Image and Build are ignored: there
// is no image, PrepareImage only checks that the command exists and returns
// "". WorkingDir is honoured (empty: Haven's own working directory), entered
// as the instance's user. Resource limits (CPU, memory) are not enforced,
// and OOMKilled is never set. No Pdeathsig is set on purpose: instances
// outlive a Haven crash and the next Haven adopts them.
//
// The environment is small and explicit, like a container's: PATH, HOME,
// USER, LANG, LC_ALL, TZ and TMPDIR from Haven's own environment, then the
// service's env, then what the driver adds (which wins over the service):
//
//	PORT                 the host port the app must listen on (Heroku's convention)
//	PORT_<P>             the host port standing in for each container port P
//	HAVEN_INSTANCE       the instance's id (its labels' Instance)
//	<TARGET>_FILE        for each secret: the path of the file holding it
//	HAVEN_VOLUME_<NAME>  for each named volume mount: its directory
//
// # Users
//
// When Haven runs as root, every app+environment runs as a uid of its own,
// with the same number as its only group: the first Start in an
// environment allocates the next uid from 600000 up that /etc/passwd does
// not know, and <dir>/uids.json keeps it, so it is the same after a
// restart and never given to another environment, even once the
// environment is gone (files it left anywhere stay its own). An explicit
// compose user: ("name", "uid" or "uid:gid") wins over it. HOME is "/" and
// USER unset for an environment's uid, which has no account. The exec
// health check runs as the instance's user too.
//
// When Haven is not root it cannot switch users: every instance runs as
// Haven's own user, and New logs a warning saying so at every start.
//
// # What isolation the process driver gives
//
// Little, next to a container: only uid separation, and only when Haven is
// root. Then an instance cannot read Haven's data directory (it may pass
// through <data-dir> and <dir> to reach its volumes, never list them, and
// every file there is 0600 or public), nor the records and logs of any instance,
// nor another environment's secret files or volumes; it can still read
// whatever the host leaves world-readable. There is no network isolation
// (every instance shares the host's network and loopback, any port is
// reachable from any instance), no resource limits (CPU, memory, pids,
// disk), no filesystem or pid namespace (an instance sees the host's
// files and processes), and one kernel for all. Instances of the same
// environment share their uid, and so each other's files. Without root,
// there is no isolation at all: an app can read the admin token, the
// store and every environment's secrets. For real isolation, use the
// docker driver.
//
// # Ports
//
// A process has no network namespace, so each container port of the
// service (route, health check, expose and published ports, in that order)
// gets a free host port, and Instance.Addrs maps the container port to
// "127.0.0.1:<host port>". The first of them is also $PORT: apps run under
// this driver must listen on $PORT (or $PORT_<P>). A published port
// (ports: "8080:80") is allocated exactly, so the app listens on it
// directly; Start fails with driver.ErrPortInUse, naming the port and the
// service, when something else holds it.
//
// # Secrets, volumes, networks
//
// A process cannot have files mounted at /run/secrets/<target>, so each
// secret is passed by path: env <TARGET>_FILE (target upper-cased, other
// characters than letters and digits turned into '_') names a file, the
// convention official Docker images already follow
// (POSTGRES_PASSWORD_FILE). The values of external secrets, and the
// content of file secrets when the instance runs as another user than
// Haven (who may not reach the original), are written to
// /dev/shm/haven-secrets/<hash of dir>/<instance>-<start>/<target>: a
// tmpfs, never a disk nor the data directory. The two levels above are
// root's and 0711; the Start's directory belongs to the instance's user,
// 0500, its files 0400, so no other environment gets in. It is deleted
// with the instance. A file secret of an instance running as Haven's user
// is passed where it is, not copied.
//
// Named volumes are directories <dir>/volumes/<app>/<env>/<name>, created by
// EnsureEnv (or the first Start mounting them) and deleted by
// RemoveEnv(removeVolumes); a mount passes its directory as
// HAVEN_VOLUME_<NAME>. As root, each belongs to its environment's uid
// (0700) under directories that are root's and 0711, so the environment
// cannot swap a volume for a link, and a volume made by an older version
// is handed over (chown -R) once. A service with an explicit user: other
// than its environment's reaches the volumes only if that user may. New
// warns when a directory above the volumes (a home directory holding
// --data-dir, say) does not let other users pass: instances could not
// reach them. Bind mounts need nothing: the app sees the host's files
// where they are, with its user's rights. An anonymous volume (a mount
// with no source) gets nothing: a process has no mount namespace to put it
// in, and writes where it runs. Networks, aliases, pinned addresses and
// network_mode are no-ops: every instance shares the host's loopback.
//
// # Records and adoption
//
// Each instance is a directory <dir>/instances/<id> holding record.json
// (labels, pid, the process start time from /proc/<pid>/stat and the boot
// id, port map, user, secret directory, start and finish, exit code,
// health), the raw output files, the timestamped log and a lock file. The
// record is replaced atomically and durably (temp file, fsync, rename,
// fsync of the directory). A pid is trusted only if /proc/<pid>/stat still
// shows the recorded start time on the same boot, so a reused pid is never
// reported running nor signalled.
//
// # Crash-safe starts
//
// No process runs that the records do not name, whenever Haven dies. A
// Start creates its directory in <dir>/staging, takes its lock and only
// then renames it to <dir>/instances/.new-<id>-<suffix>, so every .new-
// directory is locked for as long as its Start lives. It writes the intent
// there (the record without a pid: labels, ports, user, secret directory)
// before it creates anything else. The child it forks is not the app but
// a shim: Haven's own binary re-executed through /proc/self/exe (the
// package's init recognises it by its command line, "haven: process
// shim"), in the instance's new process group, blocked reading a pipe.
// Start records the shim's pid and start time, fsynced, and only then
// writes the launch message (program, arguments, environment, working
// directory, user) down the pipe. The shim drops to the instance's user,
// enters the working directory and execs the program, in the same process:
// the recorded pid is the app's. A close-on-exec status pipe tells Start
// whether the exec worked, so an unrunnable program still fails Start.
// Last, the directory is renamed to its id.
//
// A Start that dies before the pid is on disk leaves a shim whose pipe
// closes with the Start's process: it reads EOF and exits without running
// anything. One that dies later leaves a record naming the process. A
// Driver that can take the lock of a .new- directory knows its Start is
// dead: it SIGKILLs the recorded process group (after the start-time and
// boot-id check), waits for it to die, deletes the Start's secret files and
// then the directory, at once (New, and every scan: a child caught between
// fork and exec still holds a copy of the lock until its exec, so the next
// scan, 250ms later, finishes the job). A staging directory
// never held anything that ran; one older than a minute is deleted.
//
// `haven exec` (Exec, exec.go) runs its command the way the exec health
// check does: on the host, as the instance's user, with its environment
// and working directory, the program looked up in the instance's PATH. It
// dies with Haven (Pdeathsig) and is killed with its process group when
// the caller goes away or the instance stops (as in a container); with a terminal it gets a pseudo-terminal of its
// own (opened through /dev/ptmx with the syscall package) as its
// controlling terminal, in a session of its own.
//
// The exec health check is not an instance and has no record: it is
// Haven's child with Pdeathsig SIGKILL, so it dies with Haven instead of
// outliving it, and a timed-out check is killed with its process group.
//
// One Driver value supervises each running instance, proven by an flock on
// its lock file: it copies the output into the log, runs the exec health
// check and records the exit. The lock dies with the process that holds it,
// so after a Haven crash (or Driver.Close) the next Driver value takes the
// lock over within 250ms and carries on: that is adoption. A process Haven
// started itself is reaped with wait(2) and its exit code recorded; an
// adopted one is not Haven's child, so its exit is found by polling /proc
// and its ExitCode is -1.
//
// # Logs
//
// The child writes stdout and stderr straight into two files it holds
// open; Haven never sits on a pipe between them. A pipe would tie the app
// to Haven: when Haven dies the pipe breaks and the app's next write kills
// it with SIGPIPE, defeating adoption. The supervisor reads the files
// every 50ms, stamps each complete line with the time it read it and
// appends it to the instance's log ("<RFC 3339 time> <O|E> <text>"), then
// records how far it got. The trade-offs: a line's time is when Haven saw
// it (within 50ms while Haven runs; lines written while no Haven ran are
// stamped when the next one adopts the instance), a crash between the
// append and the position update repeats those lines once, and output is
// stored twice (raw and stamped) until the instance is removed.
//
// May import: spec, driver, hostfs, atomicfile.
package process
