package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store"
)

// Run checks s against the store.Store contract. newStore must return an
// empty store each call; reopen (may be nil) closes a store and opens the
// same data again, to check durability.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, reopen func(t *testing.T, s store.Store) store.Store) {
	ctx := context.Background()
	dep := func(app, env string, replicas int) spec.Deployment {
		return spec.Deployment{
			AppEnv: spec.AppEnv{App: app, Env: env},
			App:    spec.App{Name: app, Services: []spec.Service{{Name: "web", Image: "web:1", Replicas: replicas, Restart: spec.RestartAlways}}},
		}
	}

	t.Run("put get list delete", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.GetDeployment(ctx, spec.AppEnv{App: "a", Env: "prod"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("get missing: got %v, want ErrNotFound", err)
		}
		got, err := s.PutDeployment(ctx, dep("b", "prod", 2), 0)
		if err != nil {
			t.Fatal(err)
		}
		if got.Generation != 1 || got.UpdatedAt.IsZero() {
			t.Fatalf("put: generation %d, updated %v; want 1 and a time", got.Generation, got.UpdatedAt)
		}
		if _, err := s.PutDeployment(ctx, dep("a", "staging", 1), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutDeployment(ctx, dep("a", "prod", 1), 0); err != nil {
			t.Fatal(err)
		}
		read, err := s.GetDeployment(ctx, spec.AppEnv{App: "b", Env: "prod"})
		if err != nil {
			t.Fatal(err)
		}
		if read.App.Services[0].Replicas != 2 || read.Generation != 1 {
			t.Fatalf("get: %+v", read)
		}
		list, err := s.ListDeployments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range list {
			names = append(names, d.AppEnv.String())
		}
		if want := "a/prod a/staging b/prod"; strings.Join(names, " ") != want {
			t.Fatalf("list order: got %q, want %q", strings.Join(names, " "), want)
		}
		if err := s.DeleteDeployment(ctx, spec.AppEnv{App: "a", Env: "prod"}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteDeployment(ctx, spec.AppEnv{App: "a", Env: "prod"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: got %v, want ErrNotFound", err)
		}
	})

	t.Run("generation guards concurrent writers", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.PutDeployment(ctx, dep("a", "prod", 1), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutDeployment(ctx, dep("a", "prod", 3), 0); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale write: got %v, want ErrConflict", err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(n int) {
				defer wg.Done()
				if _, err := s.PutDeployment(ctx, dep("a", "prod", n), 1); err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if !errors.Is(err, store.ErrConflict) {
					t.Errorf("writer %d: %v", n, err)
				}
			}(i)
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d writers won the same generation; want exactly 1", wins)
		}
	})

	t.Run("revisions are numbered once per hash", func(t *testing.T) {
		s := newStore(t)
		env := spec.AppEnv{App: "a", Env: "prod"}
		v1 := spec.Service{Name: "web", Image: "web:1", Replicas: 1, Restart: spec.RestartAlways}
		v2 := v1
		v2.Image = "web:2"
		r1, err := s.RecordRevision(ctx, env, v1, "deploy")
		if err != nil {
			t.Fatal(err)
		}
		scaled := v1
		scaled.Replicas = 5 // same revision: replicas are not part of it
		again, err := s.RecordRevision(ctx, env, scaled, "scale")
		if err != nil {
			t.Fatal(err)
		}
		r2, err := s.RecordRevision(ctx, env, v2, "deploy")
		if err != nil {
			t.Fatal(err)
		}
		back, err := s.RecordRevision(ctx, env, v1, "rollback")
		if err != nil {
			t.Fatal(err)
		}
		if r1.Number != 1 || again.Number != 1 || r2.Number != 2 || back.Number != 1 || back.Cause != "deploy" {
			t.Fatalf("numbers %d %d %d %d (cause %q); want 1 1 2 1 with the first cause kept", r1.Number, again.Number, r2.Number, back.Number, back.Cause)
		}
		list, err := s.Revisions(ctx, env, "web")
		if err != nil || len(list) != 2 || list[1].Spec.Image != "web:2" {
			t.Fatalf("revisions: %+v %v", list, err)
		}
	})

	t.Run("releases and the latest per service", func(t *testing.T) {
		s := newStore(t)
		env := spec.AppEnv{App: "a", Env: "prod"}
		if _, err := s.LatestRelease(ctx, env, "web"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("no release yet: %v", err)
		}
		r1, err := s.PutRelease(ctx, spec.Release{AppEnv: env, Service: "web", To: "h1", Phase: spec.PhaseProgressing})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutRelease(ctx, spec.Release{AppEnv: env, Service: "api", To: "x1", Phase: spec.PhaseProgressing}); err != nil {
			t.Fatal(err)
		}
		r1.Phase = spec.PhaseSucceeded
		if _, err := s.PutRelease(ctx, r1); err != nil {
			t.Fatal(err)
		}
		r3, err := s.PutRelease(ctx, spec.Release{AppEnv: env, Service: "web", From: "h1", To: "h2", Phase: spec.PhaseProgressing})
		if err != nil {
			t.Fatal(err)
		}
		latest, err := s.LatestRelease(ctx, env, "web")
		if err != nil || latest.ID != r3.ID || latest.To != "h2" {
			t.Fatalf("latest: %+v %v", latest, err)
		}
		list, err := s.Releases(ctx, env, "web", 10)
		if err != nil || len(list) != 2 || list[0].ID != r3.ID || list[1].Phase != spec.PhaseSucceeded {
			t.Fatalf("releases of web: %+v %v", list, err)
		}
		all, _ := s.Releases(ctx, env, "", 10)
		if len(all) != 3 {
			t.Fatalf("releases of the env: %d, want 3", len(all))
		}
	})

	t.Run("events in order after a sequence number", func(t *testing.T) {
		s := newStore(t)
		for i := 0; i < 5; i++ {
			if _, err := s.AppendEvent(ctx, spec.Event{Message: strings.Repeat("x", i)}); err != nil {
				t.Fatal(err)
			}
		}
		evs, err := s.Events(ctx, 2, 0)
		if err != nil || len(evs) != 3 || evs[0].Seq != 3 || evs[2].Message != "xxxx" {
			t.Fatalf("events after 2: %+v %v", evs, err)
		}
	})

	if reopen != nil {
		t.Run("durable across reopen", func(t *testing.T) {
			s := newStore(t)
			if _, err := s.PutDeployment(ctx, dep("a", "prod", 4), 0); err != nil {
				t.Fatal(err)
			}
			s = reopen(t, s)
			d, err := s.GetDeployment(ctx, spec.AppEnv{App: "a", Env: "prod"})
			if err != nil {
				t.Fatal(err)
			}
			if d.App.Services[0].Replicas != 4 || d.Generation != 1 {
				t.Fatalf("after reopen: %+v", d)
			}
		})
	}
}
