package store

import (
	"context"
	"errors"

	"github.com/haven-platform/haven/internal/spec"
)

// Errors a Store reports.
var (
	// ErrNotFound: nothing is deployed under that app and environment.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the caller's expected generation is not the stored one.
	ErrConflict = errors.New("conflict")
)

// Store keeps the desired state of every app and environment.
//
// Contract (checked by storetest): writes are atomic and durable when the
// call returns; a crash leaves either the old or the new value, never a mix.
// Methods are safe for concurrent use.
type Store interface {
	// PutDeployment stores d as the desired state of d.AppEnv. expected is
	// the generation the caller read (0 for "nothing deployed yet"); when
	// the stored generation differs it fails with ErrConflict. It returns
	// the stored value, with Generation = expected+1 and UpdatedAt set.
	PutDeployment(ctx context.Context, d spec.Deployment, expected int64) (spec.Deployment, error)
	// GetDeployment returns the desired state of env, or ErrNotFound.
	GetDeployment(ctx context.Context, env spec.AppEnv) (spec.Deployment, error)
	// ListDeployments returns every deployment, ordered by app then env.
	ListDeployments(ctx context.Context) ([]spec.Deployment, error)
	// DeleteDeployment removes env's desired state; ErrNotFound if absent.
	DeleteDeployment(ctx context.Context, env spec.AppEnv) error

	// RecordRevision returns the service's revision with svc's hash,
	// recording it as the next number when the service has none with that
	// hash yet. Revisions are immutable once recorded.
	RecordRevision(ctx context.Context, env spec.AppEnv, svc spec.Service, cause string) (spec.Revision, error)
	// Revisions returns a service's revisions, oldest first.
	Revisions(ctx context.Context, env spec.AppEnv, service string) ([]spec.Revision, error)
	// PutRelease stores a release; one with ID 0 gets the next ID.
	PutRelease(ctx context.Context, r spec.Release) (spec.Release, error)
	// LatestRelease returns the service's newest release, or ErrNotFound.
	LatestRelease(ctx context.Context, env spec.AppEnv, service string) (spec.Release, error)
	// Releases returns up to limit of the newest releases of env (every
	// service when service is ""), newest first.
	Releases(ctx context.Context, env spec.AppEnv, service string, limit int) ([]spec.Release, error)
	// AppendEvent adds an event to the event stream and returns it with
	// its sequence number set. The stream keeps the newest 10,000 events.
	AppendEvent(ctx context.Context, e spec.Event) (spec.Event, error)
	// Events returns events with a sequence number above after, oldest
	// first, at most limit.
	Events(ctx context.Context, after uint64, limit int) ([]spec.Event, error)
	// Close releases the store.
	Close() error
}
