package api

import (
	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/control"
	"github.com/haven-platform/haven/internal/spec"
)

// DeployRequest is the body of PUT /v1/deployments/{app}/{env}.
type DeployRequest struct {
	App spec.App `json:"app"`
}

// DeployResponse answers a deploy.
type DeployResponse struct {
	Deployment spec.Deployment  `json:"deployment"`
	Changes    []control.Change `json:"changes"`
}

// ScaleRequest is the body of POST /v1/deployments/{app}/{env}/scale.
type ScaleRequest struct {
	Replicas map[string]int `json:"replicas"`
}

// Version describes the server.
type Version struct {
	Version   string `json:"version"`
	GoVersion string `json:"go_version"`
	Driver    string `json:"driver"`
	Ingress   string `json:"ingress"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	// Kind is one of the Kind* constants; clients decide on it, people read Message.
	Kind    string `json:"kind"`
	Message string `json:"error"`
}

// Error kinds.
const (
	KindInvalid     = "invalid"     // bad input: fix the request (400)
	KindNotFound    = "not_found"   // no such deployment or service (404)
	KindConflict    = "conflict"    // a concurrent change or a taken port (409)
	KindUnavailable = "unavailable" // the runtime (Docker) cannot be reached (503)
	KindInternal    = "internal"    // a bug or an unexpected failure (500)

	KindUnauthenticated = "unauthenticated" // no valid credentials (401)
	KindForbidden       = "forbidden"       // authenticated, but lacks the permission (403)
	KindRateLimited     = "rate_limited"    // too many failed logins (429)
)

// LoginRequest is the body of POST /v1/login.
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
	// Code is the current TOTP code, for users with MFA.
	Code string `json:"code,omitempty"`
}

// TokenResponse carries a token's secret, shown this once, and its record.
type TokenResponse struct {
	Token string         `json:"token"`
	Info  auth.TokenInfo `json:"info"`
}

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	Name string `json:"name"`
	// User is whose token it is; only admins may name someone else.
	User     string         `json:"user,omitempty"`
	Bindings []auth.Binding `json:"bindings,omitempty"`
	TTL      spec.Duration  `json:"ttl,omitempty"`
	// Password, when set, is the caller's own password given again (sudo
	// mode): the token is then bounded by it (the caller's roles, up to a
	// year) instead of by the calling token's scope and expiry. Code is a
	// current TOTP code, needed with it when MFA is on. Neither is ever
	// echoed, logged or audited.
	Password string `json:"password,omitempty"`
	Code     string `json:"code,omitempty"`
}

// UserRequest is the body of POST /v1/users.
type UserRequest struct {
	Name     string         `json:"name"`
	Password string         `json:"password"`
	Bindings []auth.Binding `json:"bindings"`
}

// MFAEnableResponse starts an MFA enrolment.
type MFAEnableResponse struct {
	// URL is the otpauth:// URL an authenticator app reads (as a QR code).
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

// MFAEnableRequest is the body of POST /v1/mfa/enable. Changing a second
// factor needs the first one and the current second one, never only a
// token.
type MFAEnableRequest struct {
	Password string `json:"password"`
	// Code is a current code of the active secret; needed when MFA is on.
	Code string `json:"code,omitempty"`
}

// MFAConfirmRequest finishes an enrolment with a current code of the new
// secret.
type MFAConfirmRequest struct {
	Code string `json:"code"`
}

// MFADisableRequest is the body of POST /v1/mfa/disable: the password and
// a current code.
type MFADisableRequest struct {
	Password string `json:"password"`
	Code     string `json:"code"`
}

// SecretVersion answers a secret write.
type SecretVersion struct {
	Version int `json:"version"`
}

// EnvCreateRequest is the body of POST /v1/envs/{env}.
type EnvCreateRequest struct {
	From     string `json:"from"`
	WithData bool   `json:"with_data,omitempty"`
}

// ImageRequest is the body of POST …/services/{service}/image.
type ImageRequest struct {
	Image string `json:"image"`
}

// RollbackRequest is the body of POST …/services/{service}/rollback.
type RollbackRequest struct {
	// To is a revision number; 0 means the one before the serving one.
	To int `json:"to,omitempty"`
}
