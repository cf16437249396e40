package compose

import (
	"sort"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	yaml "go.yaml.in/yaml/v4"
)

// credentialVars are the environment variables Haven's CLI and server take
// credentials from (cli's --token default, secrets.EnvMasterKey and
// secrets.EnvMasterKeyNext). A compose file is interpolated in the
// deployer's environment and its result is stored in the deployment, which
// every app.read holder can read: `${HAVEN_TOKEN}` in a file CI deploys
// would hand CI's token to all of them. So these names are never looked up:
// not by ${…} interpolation, not by a bare `environment: [NAME]`, not from
// `.env`.
var credentialVars = map[string]bool{
	"HAVEN_TOKEN":           true,
	"HAVEN_MASTER_KEY":      true,
	"HAVEN_MASTER_KEY_NEXT": true,
}

const credentialHint = "is Haven's credential and is never put into a deployment; pass the value as a secret (`haven secret set`)"

// credentialGuard refuses credential names to compose-go's interpolation
// and remembers which ones the files asked for.
type credentialGuard struct {
	mu    sync.Mutex
	asked map[string]bool
}

// loadOption wraps compose-go's substitution so that a credential name
// resolves to nothing and is recorded. Wrapping the substitution (not only
// the lookup) covers every path that interpolates, the project name's too.
func (g *credentialGuard) loadOption(o *loader.Options) {
	if o.Interpolate == nil {
		return
	}
	next := o.Interpolate.Substitute
	if next == nil {
		next = template.Substitute
	}
	o.Interpolate.Substitute = func(s string, m template.Mapping) (string, error) {
		return next(s, func(name string) (string, bool) {
			if credentialVars[name] {
				g.mu.Lock()
				if g.asked == nil {
					g.asked = map[string]bool{}
				}
				g.asked[name] = true
				g.mu.Unlock()
				return "", false
			}
			return m(name)
		})
	}
}

// problems places each refused reference on the values that make it, found
// with compose's own template parser (so "$$HAVEN_TOKEN", an escaped
// dollar, is not one). The walk also finds references compose did not
// evaluate (a default that was not needed, a service of an inactive
// profile): a file that names the credential is refused whatever the
// environment.
func (g *credentialGuard) problems(src *sources) problems {
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs problems
	placed := map[string]bool{}
	for _, f := range src.files {
		walkScalars(f.root, func(n *yaml.Node) {
			for _, name := range referencedCredentials(n.Value) {
				placed[name] = true
				errs.add(posOf(f, n), "`${%s}` %s", name, credentialHint)
			}
		})
	}
	names := make([]string, 0, len(g.asked))
	for name := range g.asked {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !placed[name] {
			errs.add(Position{}, "`${%s}` %s", name, credentialHint)
		}
	}
	return errs
}

// referencedCredentials returns the credential names s refers to, each
// once. It substitutes twice: with every name set, so `${X:?}` does not stop
// before later references, and with none set, so defaults
// (`${A:-${HAVEN_TOKEN}}`) are looked into.
func referencedCredentials(s string) []string {
	if !strings.Contains(s, "$") {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, set := range []bool{true, false} {
		_, _ = template.Substitute(s, func(name string) (string, bool) {
			if credentialVars[name] && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
			if set {
				return "x", true
			}
			return "", false
		})
	}
	return out
}

func walkScalars(n *yaml.Node, fn func(*yaml.Node)) {
	if n == nil {
		return
	}
	if n.Kind == yaml.ScalarNode {
		fn(n)
		return
	}
	for _, c := range n.Content {
		walkScalars(c, fn)
	}
}

// dropCredentials removes the credential variables from the environment
// compose-go resolves names in, so nothing it does can read them.
func dropCredentials(env types.Mapping) {
	for name := range credentialVars {
		delete(env, name)
	}
}

// bareCredentials refuses `environment: [HAVEN_TOKEN]` (a name without a
// value, which compose fills in from the deployer's environment): with the
// credentials dropped it would silently be empty, and the author meant the
// credential.
func bareCredentials(src *sources, project *types.Project) problems {
	var errs problems
	names := make([]string, 0, len(project.Services))
	for name := range project.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for k, v := range project.Services[name].Environment {
			if credentialVars[k] && v == nil {
				errs.add(src.best("services", name, "environment", k), "service %s: `%s` without a value would take Haven's credential from the deployer's environment; it %s", name, k, credentialHint)
			}
		}
	}
	return errs
}
