package compose

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/haven-platform/haven/internal/spec"
)

func writeCompose(t *testing.T, body string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestVolumesFrom: volumes_from mounts the named service's volumes and
// bind mounts (read-only with :ro, transitively, a target the service
// mounts itself kept as its own), as Docker does.
func TestVolumesFrom(t *testing.T) {
	file := writeCompose(t, `name: shop
services:
  web:
    image: x
    volumes: [".:/app", "data:/data", "cache:/cache"]
  worker:
    image: x
    volumes_from: [web]
    volumes: ["other:/cache"]
  reader:
    image: x
    volumes_from: ["worker:ro"]
volumes: {data: {}, cache: {}, other: {}}
`)
	app, err := Load(context.Background(), Options{Files: []string{file}, Environment: env})
	if err != nil {
		t.Fatal(err)
	}
	mounts := func(svc string) []string {
		var out []string
		for _, s := range app.Services {
			if s.Name != svc {
				continue
			}
			for _, v := range s.Volumes {
				src := v.Source
				if v.Type == spec.MountBind {
					src = filepath.Base(src)
				}
				m := string(v.Type) + " " + src + ":" + v.Target
				if v.ReadOnly {
					m += ":ro"
				}
				out = append(out, m)
			}
		}
		slices.Sort(out)
		return out
	}
	dir := filepath.Base(filepath.Dir(file))
	want := map[string][]string{
		"worker": {"bind " + dir + ":/app", "volume data:/data", "volume other:/cache"},
		"reader": {"bind " + dir + ":/app:ro", "volume data:/data:ro", "volume other:/cache:ro"},
	}
	for svc, w := range want {
		if got := mounts(svc); !slices.Equal(got, w) {
			t.Errorf("%s mounts %q, want %q", svc, got, w)
		}
	}
}

// TestVolumesFromRefused: what Haven cannot share is refused at its line.
func TestVolumesFromRefused(t *testing.T) {
	file := writeCompose(t, `name: shop
services:
  web:
    image: x
    volumes: ["/scratch"]
  worker:
    image: x
    volumes_from: [web, "container:legacy"]
`)
	_, err := Load(context.Background(), Options{Files: []string{file}, Environment: env})
	if err == nil {
		t.Fatal("loaded")
	}
	for _, w := range []string{
		":8:20: service worker: volumes_from web: web's volume at /scratch is anonymous",
		`:8:25: service worker: volumes_from "legacy": Haven mounts volumes only from the app's own services`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not hold %q", err, w)
		}
	}
}
