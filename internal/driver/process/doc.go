// Package process is the driver that runs services as supervised local
// processes, for machines without Docker and for fast tests (like Nomad's
// exec drivers). It needs no daemon: its state is a directory of instance
// records, and the processes themselves.
//
// # What runs
//
// An instance runs Entrypoint followed by Command (entrypoint first, like
// Docker) as a host process in its own process group, so Stop signals the
// app and everything it spawned. Service.Image and Build are ignored: there
// is no image, PrepareImage only checks that the command exists and returns
// "". WorkingDir is honoured (empty: Haven's own working directory). User
// ("name", "uid" or "uid:gid") is honoured when Haven may switch users.
// Resource limits (CPU, memory) are not enforced, and OOMKilled is never
// set. No Pdeathsig is set on purpose: instances outlive a Haven crash and
// the next Haven adopts them.
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
// characters than letters and digits turned into '_') names the host file,
// the convention official Docker images already follow
// (POSTGRES_PASSWORD_FILE). The value is never copied.
//
// Named volumes are directories <dir>/volumes/<app>/<env>/<name>, created by
// EnsureEnv and deleted by RemoveEnv(removeVolumes); a mount passes its
// directory as HAVEN_VOLUME_<NAME>. Bind mounts need nothing: the app sees
// the host's files where they are. Networks and aliases are no-ops: every
// instance shares the host's loopback.
//
// # Records and adoption
//
// Each instance is a directory <dir>/instances/<id> holding record.json
// (labels, pid, the process start time from /proc/<pid>/stat and the boot
// id, port map, start and finish, exit code, health), the raw output files,
// the timestamped log and a lock file. The directory is assembled under a
// temporary name and renamed into place once the record is written, so an
// instance exists for List only with its record. A pid is trusted only if
// /proc/<pid>/stat still shows the recorded start time on the same boot, so
// a reused pid is never reported running nor signalled.
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
// May import: spec, driver.
package process
