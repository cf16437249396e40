package bolt

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/haven-platform/haven/internal/store"
	"github.com/haven-platform/haven/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	paths := map[store.Store]string{}
	storetest.Run(t,
		func(t *testing.T) store.Store {
			path := filepath.Join(t.TempDir(), "haven.db")
			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			paths[s] = path
			t.Cleanup(func() { s.Close() })
			return s
		},
		func(t *testing.T, s store.Store) store.Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			re, err := Open(paths[s])
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { re.Close() })
			return re
		})
}

func TestSecondOpenIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "haven.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Open(path)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: got %v, want ErrLocked", err)
	}
}
