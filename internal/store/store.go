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
	// Close releases the store.
	Close() error
}
