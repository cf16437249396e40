package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/haven-platform/haven/internal/api"
	"github.com/haven-platform/haven/internal/audit"
	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/control"
	"github.com/haven-platform/haven/internal/secrets"
)

// Login exchanges a password (and TOTP code) for a session token.
func (c *Client) Login(ctx context.Context, user, password, code string) (api.TokenResponse, error) {
	var out api.TokenResponse
	err := c.do(ctx, http.MethodPost, "/v1/login", api.LoginRequest{User: user, Password: password, Code: code}, &out)
	return out, err
}

// WhoAmI returns the caller's identity.
func (c *Client) WhoAmI(ctx context.Context) (auth.Identity, error) {
	var out auth.Identity
	err := c.do(ctx, http.MethodGet, "/v1/whoami", nil, &out)
	return out, err
}

// CreateToken creates an API token; its secret is in the answer only.
// With req.Password (and req.Code when MFA is on) the server checks the
// caller's password again and bounds the token by it rather than by the
// calling token; MFARequired(err) says a code is needed.
func (c *Client) CreateToken(ctx context.Context, req api.TokenRequest) (api.TokenResponse, error) {
	var out api.TokenResponse
	err := c.do(ctx, http.MethodPost, "/v1/tokens", req, &out)
	return out, err
}

// BeyondCredential reports whether err is the server refusing a token
// because it would outlive, or act beyond, the credential creating it
// (auth.Delegate's refusals): the case where giving the password again
// (TokenRequest.Password, `haven token create --reauth`) lifts the bound
// to the user's own roles and up to a year.
func BeyondCredential(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == api.KindInvalid &&
		(strings.Contains(e.Message, "would outlive the credential creating it") || strings.Contains(e.Message, "is wider than the credential creating the token"))
}

// ListTokens lists the caller's tokens (everyone's with all, for admins).
func (c *Client) ListTokens(ctx context.Context, all bool) ([]auth.TokenInfo, error) {
	var out []auth.TokenInfo
	path := "/v1/tokens"
	if all {
		path += "?all=1"
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// RevokeToken revokes a token by id.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil, nil)
}

// EnableMFA starts TOTP enrolment (or re-enrolment) for the caller. It
// needs the caller's password and, when MFA is on, a current code.
func (c *Client) EnableMFA(ctx context.Context, password, code string) (api.MFAEnableResponse, error) {
	var out api.MFAEnableResponse
	err := c.do(ctx, http.MethodPost, "/v1/mfa/enable", api.MFAEnableRequest{Password: password, Code: code}, &out)
	return out, err
}

// ConfirmMFA finishes enrolment with a current code of the new secret.
func (c *Client) ConfirmMFA(ctx context.Context, code string) error {
	return c.do(ctx, http.MethodPost, "/v1/mfa/confirm", api.MFAConfirmRequest{Code: code}, nil)
}

// DisableMFA turns the caller's MFA off, with their password and a
// current code.
func (c *Client) DisableMFA(ctx context.Context, password, code string) error {
	return c.do(ctx, http.MethodPost, "/v1/mfa/disable", api.MFADisableRequest{Password: password, Code: code}, nil)
}

// ResetMFA turns another user's MFA off (admins: a lost device).
func (c *Client) ResetMFA(ctx context.Context, user string) error {
	return c.do(ctx, http.MethodDelete, "/v1/users/"+url.PathEscape(user)+"/mfa", nil, nil)
}

// MFARequired reports whether err is the server asking for a current
// one-time code (the password was right, MFA is on, no code was given).
func MFARequired(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == api.KindUnauthenticated && strings.Contains(e.Message, "one-time code")
}

// AddUser creates a user.
func (c *Client) AddUser(ctx context.Context, req api.UserRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/users", req, nil)
}

// ListUsers lists users.
func (c *Client) ListUsers(ctx context.Context) ([]auth.User, error) {
	var out []auth.User
	err := c.do(ctx, http.MethodGet, "/v1/users", nil, &out)
	return out, err
}

// RemoveUser deletes a user (and so its tokens).
func (c *Client) RemoveUser(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/users/"+url.PathEscape(name), nil, nil)
}

// SetBindings replaces a user's role bindings.
func (c *Client) SetBindings(ctx context.Context, name string, bindings []auth.Binding) error {
	return c.do(ctx, http.MethodPut, "/v1/users/"+url.PathEscape(name)+"/bindings", bindings, nil)
}

func secretPath(env, name string) string {
	return "/v1/envs/" + url.PathEscape(env) + "/secrets/" + url.PathEscape(name)
}

// SetSecret stores a new version of a secret.
func (c *Client) SetSecret(ctx context.Context, env, name string, value []byte) (int, error) {
	var out api.SecretVersion
	err := c.do(ctx, http.MethodPut, secretPath(env, name), value, &out)
	return out.Version, err
}

// GetSecret returns a secret's value (latest when version is 0).
func (c *Client) GetSecret(ctx context.Context, env, name string, version int) ([]byte, error) {
	path := secretPath(env, name)
	if version > 0 {
		path += "?version=" + strconv.Itoa(version)
	}
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// ListSecrets lists an environment's secrets, without values.
func (c *Client) ListSecrets(ctx context.Context, env string) ([]secrets.Info, error) {
	var out []secrets.Info
	err := c.do(ctx, http.MethodGet, "/v1/envs/"+url.PathEscape(env)+"/secrets", nil, &out)
	return out, err
}

// DeleteSecret removes a secret and all its versions.
func (c *Client) DeleteSecret(ctx context.Context, env, name string) error {
	return c.do(ctx, http.MethodDelete, secretPath(env, name), nil, nil)
}

// RotateKey re-wraps every secret under a new master key.
func (c *Client) RotateKey(ctx context.Context) (string, error) {
	var out map[string]string
	err := c.do(ctx, http.MethodPost, "/v1/secrets/rotate-key", nil, &out)
	return out["key_id"], err
}

// Envs lists environments.
func (c *Client) Envs(ctx context.Context) ([]control.Environment, error) {
	var out []control.Environment
	err := c.do(ctx, http.MethodGet, "/v1/envs", nil, &out)
	return out, err
}

// CreateEnv clones environment from into name.
func (c *Client) CreateEnv(ctx context.Context, name, from string, withData bool) (control.Environment, error) {
	var out control.Environment
	err := c.do(ctx, http.MethodPost, "/v1/envs/"+url.PathEscape(name), api.EnvCreateRequest{From: from, WithData: withData}, &out)
	return out, err
}

// DeleteEnv takes down every app of an environment.
func (c *Client) DeleteEnv(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/envs/"+url.PathEscape(name), nil, nil)
}

// Audit queries the audit trail.
func (c *Client) Audit(ctx context.Context, f audit.Filter) ([]audit.Record, error) {
	q := url.Values{}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format("2006-01-02T15:04:05.999999999Z07:00"))
	}
	if f.Actor != "" {
		q.Set("user", f.Actor)
	}
	if f.Action != "" {
		q.Set("action", f.Action)
	}
	var out []audit.Record
	err := c.do(ctx, http.MethodGet, "/v1/audit?"+q.Encode(), nil, &out)
	return out, err
}

// VerifyAudit checks the audit chain on the server.
func (c *Client) VerifyAudit(ctx context.Context) (audit.Report, error) {
	var out audit.Report
	err := c.do(ctx, http.MethodGet, "/v1/audit/verify", nil, &out)
	return out, err
}
