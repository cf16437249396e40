package docker

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// TestEnvIsolation: an instance reaches the instances of its own
// environment, by service name and by IP, and nothing of another
// environment of the same app: not by IP, not by container name. The
// checks are made from inside the instance (testapp's /dial), since what
// the host can reach says nothing about what a container can.
func TestEnvIsolation(t *testing.T) {
	d := newDriver(t)
	prod := newEnv(t, d, "prod")
	dev := spec.AppEnv{App: prod.App, Env: "dev"}
	// db has no route and no published port: only its own environment's
	// network may reach it.
	db := spec.Service{Name: "db", Image: testAppImage(t), Expose: []int{8080}}
	web := spec.Service{Name: "web", Image: testAppImage(t), Expose: []int{8080}}
	app := spec.App{Name: prod.App, Services: []spec.Service{db, web}}
	for _, env := range []spec.AppEnv{prod, dev} {
		if err := d.EnsureEnv(t.Context(), env, app); err != nil {
			t.Fatalf("EnsureEnv(%s): %v", env, err)
		}
	}
	prodDB := start(t, d, prod, app, db)
	devDB := start(t, d, dev, app, db)
	devWeb := start(t, d, dev, app, web)
	for _, inst := range []driver.Instance{prodDB, devDB, devWeb} {
		waitHTTP(t, inst.Addr(8080)) // the host reaches them all
	}

	// Each must succeed: the failures below are then isolation, not a
	// wrong address or a slow start.
	for _, addr := range []string{"db:8080", devDB.Addr(8080), ContainerName(devDB.Labels) + ":8080"} {
		if code, body := dial(t, devWeb, addr); code != http.StatusOK {
			t.Errorf("dev web → %s (own environment): %d %s, want connected", addr, code, body)
		}
	}
	for _, addr := range []string{prodDB.Addr(8080), ContainerName(prodDB.Labels) + ":8080"} {
		code, body := dial(t, devWeb, addr)
		if code != http.StatusBadGateway {
			t.Errorf("dev web → prod db at %s: %d %s, want a failed connection", addr, code, body)
		}
		t.Logf("dev web → prod db at %s: %d %s", addr, code, body)
	}
	// And the other way round.
	if code, body := dial(t, prodDB, devDB.Addr(8080)); code != http.StatusBadGateway {
		t.Errorf("prod db → dev db at %s: %d %s, want a failed connection", devDB.Addr(8080), code, body)
	}
}

// dial asks inst to open a TCP connection to addr and returns the status
// and body of its answer.
func dial(t *testing.T, inst driver.Instance, addr string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + inst.Addr(8080) + "/dial?timeout=1s&addr=" + url.QueryEscape(addr))
	if err != nil {
		t.Fatalf("ask %s to dial %s: %v", inst.Labels.Service, addr, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}
