package process

import (
	"log/slog"
	"strings"
	"syscall"

	"github.com/haven-platform/haven/internal/spec"
)

// The process driver runs a plain child process: no namespaces, cgroups or
// image of its own. Of a service's spec.ContainerOptions it honours
// stop_signal (and, as before, user and working_dir); every other option
// it cannot give is named in a warning, once per service and driver, so a
// compose file written for Docker never silently runs differently.

// stopSignal returns the number of svc's stop_signal (0: SIGTERM), and
// warns once per revision of the service about the options this driver
// ignores.
func (d *Driver) stopSignal(l spec.InstanceLabels, svc spec.Service) int {
	if ignored := svc.Container.ProcessIgnored(); len(ignored) > 0 {
		if _, seen := d.warned.LoadOrStore(l.App+"/"+l.Env+"/"+l.Service+"/"+l.Revision, true); !seen {
			slog.Warn("process driver: service options ignored: a process has no container to apply them to; use the docker driver for them",
				"app", l.App, "env", l.Env, "service", svc.Name, "options", strings.Join(ignored, ", "))
		}
	}
	if svc.Container.StopSignal == "" {
		return 0
	}
	n, _ := spec.SignalNumber(svc.Container.StopSignal) // checked by spec.Validate
	return n
}

// stopSignal is the signal Stop sends first.
func (r *record) stopSignal() syscall.Signal {
	if r.StopSignal <= 0 {
		return syscall.SIGTERM
	}
	return syscall.Signal(r.StopSignal)
}
