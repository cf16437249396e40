package auth

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// Role is a named set of permissions granted through a Binding. The roles
// are nested: each grants at least what the one before it grants
// (viewer ⊂ developer ⊂ devops ⊂ admin), which is what lets a token be
// narrowed to a weaker role than its user holds.
type Role string

// The roles, weakest first.
const (
	RoleViewer    Role = "viewer"
	RoleDeveloper Role = "developer"
	RoleDevOps    Role = "devops"
	RoleAdmin     Role = "admin"
)

// Roles returns every role, weakest first.
func Roles() []Role { return []Role{RoleViewer, RoleDeveloper, RoleDevOps, RoleAdmin} }

// rank orders the roles; a binding of a lower rank grants a subset of what
// a binding of a higher rank for the same environment grants.
func (r Role) rank() int { return slices.Index(Roles(), r) }

// ParseRole returns the Role named s, or an error wrapping ErrInvalid that
// lists the roles there are.
func ParseRole(s string) (Role, error) {
	r := Role(strings.TrimSpace(s))
	if r.rank() < 0 {
		return "", fmt.Errorf("%w: unknown role %q (one of viewer, developer, devops, admin)", ErrInvalid, s)
	}
	return r, nil
}

// Permission names one kind of action. Every API route declares the one it
// needs; Identity.Can decides.
type Permission string

// The permissions. Env-scoped ones are checked against the environment a
// request targets; env-less ones (PermTokenSelf, PermAdmin) ignore it.
const (
	PermAppRead   Permission = "app.read"   // status, ps, deployments, instances
	PermAppLogs   Permission = "app.logs"   // service logs
	PermAppDeploy Permission = "app.deploy" // deploy, scale, down (later rollback, tasks)
	// PermAppDeployPrivileged is needed, on top of PermAppDeploy, to
	// deploy a service that can take its node over: privileged, a
	// dangerous cap_add, pid or ipc "host", devices, or confinement
	// turned off (spec.ContainerOptions.PrivilegedKeys). A developer may
	// deploy their app but not root the machine it shares.
	PermAppDeployPrivileged Permission = "app.deploy-privileged"
	PermEnvManage           Permission = "env.manage"   // env create/delete
	PermSecretList          Permission = "secret.list"  // secret names and versions, never values
	PermSecretRead          Permission = "secret.read"  // secret values
	PermSecretWrite         Permission = "secret.write" // set, rm
	PermTokenSelf           Permission = "token.self"   // own tokens, own MFA: any authenticated identity, no env
	PermAdmin               Permission = "admin"        // users, bindings, everyone's tokens, audit, key rotation, server settings; no env
)

// Permissions returns every permission, in the order of the grant table in
// doc.go.
func Permissions() []Permission {
	return []Permission{PermAppRead, PermAppLogs, PermAppDeploy, PermAppDeployPrivileged, PermEnvManage,
		PermSecretList, PermSecretRead, PermSecretWrite, PermTokenSelf, PermAdmin}
}

// EnvScoped reports whether p is checked against an environment. Routes
// guarded by an env-less permission need not name one.
func (p Permission) EnvScoped() bool { return p != PermTokenSelf && p != PermAdmin }

// scope says where a role's permission applies.
type scope int

const (
	bound      scope = iota + 1 // only in the binding's environment ("*" = all)
	everywhere                  // in every environment, whatever the binding names
)

// grants is the one place that says what each role may do; doc.go shows it
// as a table and testdata/grants.txt pins it. PermTokenSelf is not here:
// every authenticated identity holds it, even one with no bindings, so a
// user can always manage their own tokens and MFA.
var grants = map[Role]map[Permission]scope{
	RoleViewer: {
		PermAppRead: bound,
	},
	RoleDeveloper: {
		// "read elsewhere": a developer sees every environment, so they can
		// compare theirs with staging or prod, but changes only their own.
		PermAppRead:   everywhere,
		PermAppLogs:   bound,
		PermAppDeploy: bound,
	},
	RoleDevOps: {
		PermAppRead:             everywhere,
		PermAppLogs:             bound,
		PermAppDeploy:           bound,
		PermAppDeployPrivileged: bound,
		PermEnvManage:           bound,
		PermSecretList:          bound,
		PermSecretRead:          bound,
		PermSecretWrite:         bound,
	},
	RoleAdmin: {
		PermAppRead:             everywhere,
		PermAppLogs:             everywhere,
		PermAppDeploy:           everywhere,
		PermAppDeployPrivileged: everywhere,
		PermEnvManage:           everywhere,
		PermSecretList:          everywhere,
		PermSecretRead:          everywhere,
		PermSecretWrite:         everywhere,
		PermAdmin:               everywhere,
	},
}

// AllEnvs is the Binding environment that stands for every environment,
// present and future.
const AllEnvs = "*"

// Binding grants a Role in one environment, or in every one with AllEnvs.
type Binding struct {
	Role Role   `json:"role"`
	Env  string `json:"env"`
}

// String formats b as role@env, the form ParseBinding reads.
func (b Binding) String() string { return string(b.Role) + "@" + b.Env }

// ParseBinding reads role@env (e.g. developer@staging, devops@*). A bare
// "admin" means admin@*; other roles must name an environment, so that
// forgetting one never grants every environment by accident.
func ParseBinding(s string) (Binding, error) {
	role, env, _ := strings.Cut(strings.TrimSpace(s), "@")
	r, err := ParseRole(role)
	if err != nil {
		return Binding{}, err
	}
	return Binding{Role: r, Env: env}.normalize()
}

// normalize validates b and fills admin's environment, which is always
// every environment: admin rights are not per environment.
func (b Binding) normalize() (Binding, error) {
	if _, err := ParseRole(string(b.Role)); err != nil {
		return Binding{}, err
	}
	if b.Role == RoleAdmin {
		if b.Env != "" && b.Env != AllEnvs {
			return Binding{}, fmt.Errorf("%w: binding %s: admin is not bound to one environment; use admin@*", ErrInvalid, b)
		}
		b.Env = AllEnvs
		return b, nil
	}
	if b.Env == "" {
		return Binding{}, fmt.Errorf("%w: binding %s needs an environment: %s@ENV, or %s@* for every one", ErrInvalid, b, b.Role, b.Role)
	}
	if b.Env != AllEnvs && !spec.ValidName(b.Env) {
		return Binding{}, fmt.Errorf("%w: binding %s: environment %q must be a lowercase DNS label or *", ErrInvalid, b, b.Env)
	}
	return b, nil
}

// normalizeBindings validates every binding and returns them sorted and
// without duplicates, so stored records compare and print stably.
func normalizeBindings(in []Binding) ([]Binding, error) {
	out := make([]Binding, 0, len(in))
	for _, b := range in {
		n, err := b.normalize()
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b Binding) int {
		if c := strings.Compare(a.Env, b.Env); c != 0 {
			return c
		}
		return a.Role.rank() - b.Role.rank()
	})
	return slices.Compact(out), nil
}

// covers reports whether holding u grants at least what b grants. Roles
// are nested, so that is: u's role is at least b's, and u's environment
// includes b's.
func (u Binding) covers(b Binding) bool {
	return u.Role.rank() >= b.Role.rank() && (u.Env == AllEnvs || u.Env == b.Env)
}

// meet returns the binding granting what both a and b grant, if any: the
// weaker role in the narrower environment.
func meet(a, b Binding) (Binding, bool) {
	env := a.Env
	switch {
	case a.Env == AllEnvs:
		env = b.Env
	case b.Env == AllEnvs, a.Env == b.Env:
	default:
		return Binding{}, false
	}
	role := a.Role
	if b.Role.rank() < role.rank() {
		role = b.Role
	}
	return Binding{Role: role, Env: env}, true
}

// intersect returns the bindings granting what both token and user grant.
// It is exact for every binding pair except developer's and devops's
// read-everywhere: a token for developer@prod of a user who is now only
// developer@staging keeps nothing, not app.read elsewhere. Erring towards
// less is the safe side, and it only arises after a user's bindings were
// cut below their tokens'.
func intersect(token, user []Binding) []Binding {
	var out []Binding
	for _, t := range token {
		for _, u := range user {
			if m, ok := meet(t, u); ok {
				out = append(out, m)
			}
		}
	}
	out, _ = normalizeBindings(out) // both inputs are valid, so is every meet
	return minimal(out)
}

// minimal drops every binding another one in bs covers: what bs grants is
// the union of its bindings' grants, so they add nothing, and without
// them an intersection of two "*" bindings with bound ones reads as what
// it means (devops@* rather than devops@*, devops@dev, devops@staging).
func minimal(bs []Binding) []Binding {
	return slices.DeleteFunc(slices.Clone(bs), func(b Binding) bool {
		return slices.ContainsFunc(bs, func(o Binding) bool { return o != b && o.covers(b) })
	})
}

// Identity is who a request acts as: a user, the token (or login session)
// it presented, the bindings that token carries right now, and when it
// expires (which bounds every credential created with it, see Delegate).
type Identity struct {
	User     string    `json:"user"`
	TokenID  string    `json:"token_id"`
	Bindings []Binding `json:"bindings"`
	Expires  time.Time `json:"expires,omitzero"`
}

// Can reports whether id holds permission p in environment env. For
// env-less permissions env is ignored. For env-scoped ones an empty env
// (a request across all environments) is allowed only by a grant that
// covers every environment: a role granting p everywhere, or a binding to
// "*". The zero Identity (anonymous) can do nothing.
func (id Identity) Can(p Permission, env string) bool {
	if id.User == "" {
		return false
	}
	if p == PermTokenSelf {
		return true
	}
	for _, b := range id.Bindings {
		switch grants[b.Role][p] {
		case everywhere:
			return true
		case bound:
			if b.Env == AllEnvs || (env != "" && b.Env == env) {
				return true
			}
		}
	}
	return false
}
