package process

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// containerPorts lists the ports the service's app serves on, in the order
// that makes the first one $PORT: routes, health check, expose, published.
func containerPorts(svc spec.Service) []int {
	var ports []int
	add := func(p int) {
		if p <= 0 {
			return
		}
		for _, q := range ports {
			if q == p {
				return
			}
		}
		ports = append(ports, p)
	}
	for _, r := range svc.Routes {
		add(r.Port)
	}
	if h := svc.Health; h != nil && (h.Kind == spec.CheckHTTP || h.Kind == spec.CheckTCP) {
		add(h.Port)
	}
	for _, p := range svc.Expose {
		add(p)
	}
	for _, p := range svc.Ports {
		add(p.Target)
	}
	return ports
}

// recentTTL is how long a port handed out stays reserved although nothing
// listens on it yet: the app needs a moment to bind after Start returns,
// and two Starts must not be given the same free port meanwhile.
const recentTTL = 2 * time.Minute

// handedOut is shared by every Driver value of the process, since they
// share the host's ports.
var handedOut = struct {
	sync.Mutex
	at map[int]time.Time
}{at: map[int]time.Time{}}

// allocatePorts maps each container port of svc to a host port: its
// published port when it has one (which must be free), else a free port
// the kernel picks. taken holds the host ports of live instances.
func allocatePorts(svc spec.Service, taken map[int]string) (map[int]int, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	now := time.Now()
	for p, at := range handedOut.at {
		if now.Sub(at) > recentTTL {
			delete(handedOut.at, p)
		}
	}
	published := map[int]spec.PortMapping{}
	for _, p := range svc.Ports {
		if p.Published > 0 && (p.Protocol == "" || p.Protocol == "tcp") {
			published[p.Target] = p
		}
	}
	ports := map[int]int{}
	var reserved []int
	undo := func() {
		for _, p := range reserved {
			delete(handedOut.at, p)
		}
	}
	for _, c := range containerPorts(svc) {
		var host int
		if pm, ok := published[c]; ok {
			host = pm.Published
			if owner, ok := taken[host]; ok {
				undo()
				return nil, fmt.Errorf("service %s: host port %d: %w: instance %s of this machine publishes it; stop it or change the published port under ports: in compose.yaml", svc.Name, host, driver.ErrPortInUse, owner)
			}
			l, err := net.Listen("tcp", net.JoinHostPort(pm.HostIP, strconv.Itoa(host)))
			if err != nil {
				undo()
				return nil, fmt.Errorf("service %s: host port %d: %w: another program listens on it (%v); stop it or change the published port under ports: in compose.yaml", svc.Name, host, driver.ErrPortInUse, err)
			}
			l.Close()
		} else {
			var err error
			if host, err = freePort(taken); err != nil {
				undo()
				return nil, fmt.Errorf("service %s: allocate a port for container port %d: %w", svc.Name, c, err)
			}
		}
		ports[c] = host
		handedOut.at[host] = now
		reserved = append(reserved, host)
	}
	return ports, nil
}

// freePort asks the kernel for a free port on every interface (apps often
// listen on ":$PORT"), skipping ports recently handed out or held by an
// instance that may not have bound yet.
func freePort(taken map[int]string) (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if _, ok := handedOut.at[p]; ok {
			continue
		}
		if _, ok := taken[p]; ok {
			continue
		}
		return p, nil
	}
	return 0, fmt.Errorf("no free port found after 100 tries")
}
