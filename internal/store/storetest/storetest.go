// Package storetest is the conformance suite for store.Store
// implementations: every Store must pass Run.
//
// May import: spec, store.
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
