package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store"
)

// Buckets: revisions/<app/env/service>/<number> → Revision;
// releases/<id> → Release, with latest/<app/env/service> → id;
// events/<seq> → Event.
var (
	revisionsBucket = []byte("revisions")
	releasesBucket  = []byte("releases")
	latestBucket    = []byte("releases_latest")
	eventsBucket    = []byte("events")
)

// maxEvents bounds the event stream.
const maxEvents = 10000

func u64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

func serviceKey(env spec.AppEnv, service string) []byte {
	return []byte(env.App + "/" + env.Env + "/" + service)
}

// RecordRevision implements store.Store.
func (s *Store) RecordRevision(_ context.Context, env spec.AppEnv, svc spec.Service, cause string) (spec.Revision, error) {
	var out spec.Revision
	hash := svc.Revision()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(revisionsBucket)
		if err != nil {
			return err
		}
		b, err := root.CreateBucketIfNotExists(serviceKey(env, svc.Name))
		if err != nil {
			return err
		}
		last := 0
		found := false
		if err := b.ForEach(func(k, v []byte) error {
			var r spec.Revision
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			last = r.Number
			if r.Hash == hash && !found {
				out, found = r, true
			}
			return nil
		}); err != nil {
			return err
		}
		if found {
			return nil
		}
		out = spec.Revision{Number: last + 1, Hash: hash, Spec: svc, Created: s.now().UTC(), Cause: cause}
		raw, err := json.Marshal(out)
		if err != nil {
			return err
		}
		return b.Put(u64(uint64(out.Number)), raw)
	})
	return out, err
}

// Revisions implements store.Store.
func (s *Store) Revisions(_ context.Context, env spec.AppEnv, service string) ([]spec.Revision, error) {
	var out []spec.Revision
	err := s.db.View(func(tx *bbolt.Tx) error {
		root := tx.Bucket(revisionsBucket)
		if root == nil {
			return nil
		}
		b := root.Bucket(serviceKey(env, service))
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var r spec.Revision
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// PutRelease implements store.Store.
func (s *Store) PutRelease(_ context.Context, r spec.Release) (spec.Release, error) {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(releasesBucket)
		if err != nil {
			return err
		}
		latest, err := tx.CreateBucketIfNotExists(latestBucket)
		if err != nil {
			return err
		}
		if r.ID == 0 {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			r.ID = int64(seq)
		}
		raw, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := b.Put(u64(uint64(r.ID)), raw); err != nil {
			return err
		}
		key := serviceKey(r.AppEnv, r.Service)
		if cur := latest.Get(key); cur == nil || binary.BigEndian.Uint64(cur) <= uint64(r.ID) {
			return latest.Put(key, u64(uint64(r.ID)))
		}
		return nil
	})
	return r, err
}

// LatestRelease implements store.Store.
func (s *Store) LatestRelease(_ context.Context, env spec.AppEnv, service string) (spec.Release, error) {
	var r spec.Release
	err := s.db.View(func(tx *bbolt.Tx) error {
		latest := tx.Bucket(latestBucket)
		if latest == nil {
			return fmt.Errorf("release of %s/%s: %w", env, service, store.ErrNotFound)
		}
		id := latest.Get(serviceKey(env, service))
		if id == nil {
			return fmt.Errorf("release of %s/%s: %w", env, service, store.ErrNotFound)
		}
		return json.Unmarshal(tx.Bucket(releasesBucket).Get(id), &r)
	})
	return r, err
}

// Releases implements store.Store.
func (s *Store) Releases(_ context.Context, env spec.AppEnv, service string, limit int) ([]spec.Release, error) {
	var out []spec.Release
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(releasesBucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var r spec.Release
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if r.AppEnv == env && (service == "" || r.Service == service) {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

// AppendEvent implements store.Store.
func (s *Store) AppendEvent(_ context.Context, e spec.Event) (spec.Event, error) {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(eventsBucket)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		e.Seq = seq
		if e.Time.IsZero() {
			e.Time = s.now().UTC()
		}
		raw, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if err := b.Put(u64(seq), raw); err != nil {
			return err
		}
		if seq > maxEvents {
			return b.Delete(u64(seq - maxEvents))
		}
		return nil
	})
	return e, err
}

// Events implements store.Store.
func (s *Store) Events(_ context.Context, after uint64, limit int) ([]spec.Event, error) {
	var out []spec.Event
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(eventsBucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			var e spec.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}
