package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store"
)

var deploymentsBucket = []byte("deployments")

// Store is a store.Store over one bbolt file.
type Store struct {
	db  *bbolt.DB
	now func() time.Time
}

var _ store.Store = (*Store)(nil)

// ErrLocked means another process holds the database file: usually another
// haven server using the same data directory.
var ErrLocked = errors.New("store is locked by another process")

// Open opens (creating if needed) the store file at path. The file is
// locked for the life of the Store; a second Open of the same file fails
// with ErrLocked after a second instead of waiting forever.
func Open(path string) (*Store, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w (is another haven server running with this data directory?)", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// A write transaction rewrites bbolt's meta page even when it changes
	// nothing, so the bucket is created only on a fresh file: opening an
	// existing store (before its master key is checked, say) leaves it
	// byte for byte as it was.
	var fresh bool
	_ = db.View(func(tx *bbolt.Tx) error { fresh = tx.Bucket(deploymentsBucket) == nil; return nil })
	if fresh {
		if err := db.Update(func(tx *bbolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(deploymentsBucket)
			return err
		}); err != nil {
			db.Close()
			return nil, fmt.Errorf("init store %s: %w", path, err)
		}
	}
	return &Store{db: db, now: time.Now}, nil
}

func key(env spec.AppEnv) []byte { return []byte(env.App + "/" + env.Env) }

// PutDeployment implements store.Store.
func (s *Store) PutDeployment(_ context.Context, d spec.Deployment, expected int64) (spec.Deployment, error) {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(deploymentsBucket)
		var current int64
		if raw := b.Get(key(d.AppEnv)); raw != nil {
			var old spec.Deployment
			if err := json.Unmarshal(raw, &old); err != nil {
				return fmt.Errorf("decode %s: %w", d.AppEnv, err)
			}
			current = old.Generation
		}
		if current != expected {
			return fmt.Errorf("deployment %s is at generation %d, not %d: %w", d.AppEnv, current, expected, store.ErrConflict)
		}
		d.Generation = expected + 1
		d.UpdatedAt = s.now().UTC()
		raw, err := json.Marshal(d)
		if err != nil {
			return err
		}
		return b.Put(key(d.AppEnv), raw)
	})
	if err != nil {
		return spec.Deployment{}, err
	}
	return d, nil
}

// GetDeployment implements store.Store.
func (s *Store) GetDeployment(_ context.Context, env spec.AppEnv) (spec.Deployment, error) {
	var d spec.Deployment
	err := s.db.View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(deploymentsBucket).Get(key(env))
		if raw == nil {
			return fmt.Errorf("deployment %s: %w", env, store.ErrNotFound)
		}
		return json.Unmarshal(raw, &d)
	})
	return d, err
}

// ListDeployments implements store.Store. bbolt keeps keys sorted, and the
// key is "app/env", so the order is by app then env.
func (s *Store) ListDeployments(_ context.Context) ([]spec.Deployment, error) {
	var out []spec.Deployment
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(deploymentsBucket).ForEach(func(k, v []byte) error {
			var d spec.Deployment
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode %s: %w", k, err)
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// DeleteDeployment implements store.Store.
func (s *Store) DeleteDeployment(_ context.Context, env spec.AppEnv) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(deploymentsBucket)
		if b.Get(key(env)) == nil {
			return fmt.Errorf("deployment %s: %w", env, store.ErrNotFound)
		}
		return b.Delete(key(env))
	})
}

// Close implements store.Store.
func (s *Store) Close() error { return s.db.Close() }

// DB returns the underlying bbolt database, so packages that keep their own
// records (auth, secrets) share the one file and its lock. Each such package
// owns its buckets; none touches another's.
func (s *Store) DB() *bbolt.DB { return s.db }
