package auth

import (
	"github.com/haven-platform/haven/internal/golden"

	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

// TestGrantsGolden walks every role × permission against the written
// matrix in testdata/grants.txt. A change to the grant table fails here
// until the golden file (and doc.go's table) are updated on purpose.
func TestGrantsGolden(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("# May a user with ROLE@prod do PERMISSION ...\n")
	sb.WriteString("#   bound:    in prod\n#   unbound:  in staging\n#   all-envs: across all environments (env \"\")\n")
	sb.WriteString("#   star:     in staging, with ROLE@* instead\n")
	sb.WriteString("# (admin is always bound as admin@*)\n")
	fmt.Fprintf(&sb, "%-10s %-22s %-6s %-8s %-9s %s\n", "role", "permission", "bound", "unbound", "all-envs", "star")
	for _, r := range Roles() {
		env := "prod"
		if r == RoleAdmin {
			env = "*" // admin bindings are always admin@*
		}
		bound := Identity{User: "u", Bindings: []Binding{mustNormalize(t, b(r, env))}}
		star := Identity{User: "u", Bindings: []Binding{mustNormalize(t, b(r, "*"))}}
		for _, p := range Permissions() {
			fmt.Fprintf(&sb, "%-10s %-22s %-6s %-8s %-9s %s\n", r, p,
				yesNo(bound.Can(p, "prod")), yesNo(bound.Can(p, "staging")), yesNo(bound.Can(p, "")), yesNo(star.Can(p, "staging")))
		}
	}
	got := sb.String()
	path := filepath.Join("testdata", "grants.txt")
	golden.Check(t, path, []byte(got))
}

func mustNormalize(t *testing.T, in Binding) Binding {
	t.Helper()
	out, err := in.normalize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCanEdges(t *testing.T) {
	if (Identity{}).Can(PermTokenSelf, "") {
		t.Error("anonymous identity holds token.self")
	}
	noRoles := Identity{User: "u"}
	if !noRoles.Can(PermTokenSelf, "") || noRoles.Can(PermAppRead, "prod") {
		t.Error("an identity without bindings must hold token.self and nothing else")
	}
	two := Identity{User: "u", Bindings: []Binding{b(RoleViewer, "prod"), b(RoleDevOps, "dev")}}
	for _, c := range []struct {
		p    Permission
		env  string
		want bool
	}{
		{PermAppRead, "prod", true},
		{PermAppRead, "other", true}, // devops reads everywhere
		{PermSecretRead, "dev", true},
		{PermSecretRead, "prod", false},
		{PermAppDeploy, "prod", false},
		{PermAppDeploy, "", false},
		{PermAdmin, "dev", false},
	} {
		if got := two.Can(c.p, c.env); got != c.want {
			t.Errorf("viewer@prod+devops@dev Can(%s, %q) = %v, want %v", c.p, c.env, got, c.want)
		}
	}
	for _, p := range Permissions() {
		if grants[RoleAdmin][p] == 0 && p != PermTokenSelf {
			t.Errorf("admin lacks %s", p)
		}
	}
}

// TestRolesNested checks the property narrowing relies on: each role
// grants at least what the weaker ones grant, in the same places.
func TestRolesNested(t *testing.T) {
	rs := Roles()
	for i := 1; i < len(rs); i++ {
		for p, sc := range grants[rs[i-1]] {
			if grants[rs[i]][p] < sc {
				t.Errorf("%s grants %s more widely than %s", rs[i-1], p, rs[i])
			}
		}
	}
}

func TestParseBinding(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Binding
		err  bool
	}{
		{"developer@staging", b(RoleDeveloper, "staging"), false},
		{"devops@*", b(RoleDevOps, "*"), false},
		{"admin", b(RoleAdmin, "*"), false},
		{"admin@*", b(RoleAdmin, "*"), false},
		{"admin@prod", Binding{}, true},
		{"viewer", Binding{}, true},
		{"viewer@", Binding{}, true},
		{"viewer@Prod", Binding{}, true},
		{"root@prod", Binding{}, true},
	} {
		got, err := ParseBinding(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseBinding(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseBinding(%q) error %v does not wrap ErrInvalid", c.in, err)
		}
		if err == nil && got.String() != strings.Replace(c.in, "admin", "admin@*", 1) && c.in != "admin@*" {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), c.in)
		}
	}
}

func TestIntersect(t *testing.T) {
	for _, c := range []struct {
		name        string
		token, user []Binding
		want        []Binding
	}{
		{"same", []Binding{b(RoleDevOps, "prod")}, []Binding{b(RoleDevOps, "prod")}, []Binding{b(RoleDevOps, "prod")}},
		{"user demoted", []Binding{b(RoleDevOps, "prod")}, []Binding{b(RoleViewer, "prod")}, []Binding{b(RoleViewer, "prod")}},
		{"token narrower env", []Binding{b(RoleDeveloper, "dev")}, []Binding{b(RoleDevOps, "*")}, []Binding{b(RoleDeveloper, "dev")}},
		{"star token, bound user", []Binding{b(RoleDevOps, "*")}, []Binding{b(RoleDevOps, "dev"), b(RoleViewer, "prod")},
			[]Binding{b(RoleDevOps, "dev"), b(RoleViewer, "prod")}},
		{"admin user", []Binding{b(RoleViewer, "prod")}, []Binding{b(RoleAdmin, "*")}, []Binding{b(RoleViewer, "prod")}},
		{"env removed", []Binding{b(RoleDevOps, "prod")}, []Binding{b(RoleDevOps, "dev")}, nil},
		{"user has none", []Binding{b(RoleAdmin, "*")}, nil, nil},
		{"covered meets dropped", []Binding{b(RoleDevOps, "*"), b(RoleDeveloper, "dev")}, []Binding{b(RoleDevOps, "*"), b(RoleDevOps, "dev")},
			[]Binding{b(RoleDevOps, "*")}},
	} {
		got := intersect(c.token, c.user)
		if !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("%s: intersect(%v, %v) = %v, want %v", c.name, c.token, c.user, got, c.want)
		}
	}
}
