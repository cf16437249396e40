// Command testapp is the small HTTP service Haven's tests run as an instance:
// a static binary that works as a local process (process driver) and as the
// only file of a scratch image (Docker driver). Its behaviour is set by
// environment variables so one binary covers every test scenario.
//
//	PORT            port to listen on (default 8080)
//	NAME            text included in every answer (default "testapp")
//	HEALTH_FAIL     "1": /healthz answers 503
//	EXIT_AFTER      exit with EXIT_CODE after this duration (e.g. "200ms")
//	EXIT_CODE       exit status for EXIT_AFTER (default 1)
//	START_DELAY     wait this long before listening
//	LOG_LINES       write this many numbered lines to stdout at start
//	IGNORE_SIGTERM  "1": keep serving after SIGTERM (tests SIGKILL escalation)
//	ERROR_RATE      share of requests to / answered 500 (e.g. "0.5": a bad canary)
//	MIGRATE_EXIT    exit status of `testapp migrate` (default 0)
//	BURN_CPU        "1": spin one core (CPU alerts)
//	LEAK_MB         grow memory by this many MiB per second, kept (memory alerts)
//	LEAK_MAX_MB     stop growing at this many MiB (stay just under a limit)
//	FILL_DIR        write 1 MiB files into this directory until it is full (disk alerts)
//	LOG_EVERY       print "tick N <unix nanoseconds>" at this interval (log tests)
//
// `testapp migrate` prints "migrated VERSION" and exits with MIGRATE_EXIT: a
// release's migration task.
//
// Endpoints: / answers "NAME INSTANCE-HOSTNAME"; /healthz answers 200 (or 503);
// /sleep?d=1s answers after the duration; /echo-headers writes request headers;
// /dial?addr=host:port&timeout=1s opens a TCP connection from inside the
// instance (scratch images have no shell to try one with) and answers 200
// "connected" or 502 with the dial error (timeout defaults to 1s).
//
// May import: stdlib only.
package main
