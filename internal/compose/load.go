package compose

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	yaml "go.yaml.in/yaml/v4"

	"github.com/haven-platform/haven/internal/spec"
)

// Options say which compose project to load and how.
type Options struct {
	// Files are the compose files, merged in order (later files override
	// earlier ones). Empty means compose's discovery: compose.yaml (or
	// docker-compose.yml, …) plus its override file, in WorkingDir or the
	// nearest parent directory that has one.
	Files []string
	// ProjectName overrides the app name. Empty means the compose file's
	// `name:`, else COMPOSE_PROJECT_NAME, else the project directory's name
	// turned into a DNS label.
	ProjectName string
	// Profiles are the active compose profiles; services that list only
	// other profiles are left out of the App. "*" enables every profile.
	Profiles []string
	// WorkingDir is the project directory: relative paths (build contexts,
	// bind mounts, env files, secrets) resolve against it and `.env` is read
	// from it. Empty means the directory of the first file.
	WorkingDir string
	// Environment is used for ${VAR} interpolation instead of the process
	// environment when non-nil (tests, the server). The project's `.env`
	// file is read either way; values given here win over it, as the shell
	// environment does in docker compose.
	Environment map[string]string
}

// Result is a loaded compose project.
type Result struct {
	// App is the validated, canonical app.
	App *spec.App
	// Warnings name the keys Haven accepts that change nothing under it
	// (develop, pull_policy, deploy.labels, …), each with its place and
	// why, sorted like errors. Commands print them; they never fail a load.
	Warnings []*Problem
}

// Load reads the compose project opts describes and returns it as a
// validated spec.App. It is LoadResult without the warnings.
func Load(ctx context.Context, opts Options) (*spec.App, error) {
	r, err := LoadResult(ctx, opts)
	if err != nil {
		return nil, err
	}
	return r.App, nil
}

// LoadResult reads the compose project opts describes and returns it as a
// validated spec.App, with the warnings about keys that change nothing.
//
// Every problem with the input — YAML syntax, keys Haven does not implement,
// a bad x-haven block, compose-go's and spec.App.Validate's checks — is
// returned at once, joined one per line, each as a *Problem starting with
// "file:line:col:" when it has a place in a file (with a single file,
// every problem once the file is read: what no key can be pinned on is
// placed at its first line). All of them match spec.ErrInvalid with
// errors.Is.
func LoadResult(ctx context.Context, opts Options) (*Result, error) {
	guard := &credentialGuard{}
	po, err := projectOptions(opts, guard)
	if err != nil {
		return nil, err
	}
	if len(po.ConfigPaths) == 0 {
		return nil, &Problem{Msg: "no compose file found: create compose.yaml in the project directory or pass one with --file"}
	}

	// Our own parse comes first: it places syntax errors and unsupported
	// keys precisely, before compose-go reports them without a position.
	src, errs := parseSources(po.ConfigPaths)
	if len(errs) == 0 {
		errs = src.addReferenced()
	}
	files := src.names()
	if len(errs) > 0 {
		return nil, errs.err(files)
	}
	keyErrs, warns := checkKeys(src, opts.Profiles)
	errs = append(errs, keyErrs...)
	errs = append(errs, checkPortSyntax(src, opts.Profiles)...)
	errs = append(errs, checkName(src, opts.ProjectName)...)
	if len(errs) > 0 {
		return nil, src.place(errs).err(files)
	}

	// Read before loading: compose-go writes the name it settles on back
	// into this environment.
	explicitName := opts.ProjectName != "" || po.Environment["COMPOSE_PROJECT_NAME"] != "" || hasName(src)
	project, err := po.LoadProject(ctx)
	// A refused credential comes first: `${HAVEN_TOKEN:?}` also fails the
	// load, and the reason is the refusal, not the missing value.
	if refused := guard.problems(src); len(refused) > 0 {
		return nil, src.place(refused).err(files)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, src.place(locateComposeError(src, err)).err(files)
	}
	if refused := bareCredentials(src, project); len(refused) > 0 {
		return nil, src.place(refused).err(files)
	}

	m := &mapper{src: src, project: project, explicitName: explicitName}
	app := m.app()
	if len(m.errs) > 0 {
		return nil, src.place(m.errs).err(files)
	}
	if err := app.Validate(); err != nil {
		return nil, src.place(locateValidateErrors(src, app, m.composeNames, err)).err(files)
	}
	app.Canonicalize()
	return &Result{App: app, Warnings: append(warns, m.warns...).sorted(files)}, nil
}

// place puts the problems no key could be placed on (an app without
// services, a check of the merged project) at the top of the file when the
// project has only one: there is then no doubt where they come from, and
// every problem of a readable file names it. With several files such a
// problem belongs to none of them and stays unplaced.
func (s *sources) place(ps problems) problems {
	if len(s.files) != 1 {
		return ps
	}
	for _, p := range ps {
		if p.Pos.IsZero() {
			p.Pos = Position{File: s.files[0].name, Line: 1, Column: 1}
		}
	}
	return ps
}

// projectOptions turns Options into compose-go's ProjectOptions, with
// Haven's credential variables out of the environment and refused to
// interpolation (guard).
func projectOptions(opts Options, guard *credentialGuard) (*cli.ProjectOptions, error) {
	fns := []cli.ProjectOptionsFn{}
	if opts.WorkingDir != "" {
		fns = append(fns, cli.WithWorkingDirectory(opts.WorkingDir))
	}
	if opts.ProjectName != "" {
		if !spec.ValidName(opts.ProjectName) {
			return nil, &Problem{Msg: fmt.Sprintf("app name %q must be a lowercase DNS label (a-z, 0-9, '-', at most 63 characters); pass another --name", opts.ProjectName)}
		}
		fns = append(fns, cli.WithName(opts.ProjectName))
	}
	if opts.Environment != nil {
		env := make([]string, 0, len(opts.Environment))
		for k, v := range opts.Environment {
			env = append(env, k+"="+v)
		}
		sort.Strings(env)
		fns = append(fns, cli.WithEnv(env))
	} else {
		fns = append(fns, cli.WithOsEnv)
	}
	fns = append(fns,
		// Discovery first: it settles the project directory that .env
		// is then read from.
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithProfiles(opts.Profiles),
		cli.WithResolvedPaths(true),
		// Never reach for the network: git and OCI remote includes would
		// make loading slow and non-reproducible.
		cli.WithLoadOptions(func(o *loader.Options) { o.ResourceLoaders = nil }),
		cli.WithLoadOptions(guard.loadOption),
	)
	po, err := cli.NewProjectOptions(opts.Files, fns...)
	if err != nil {
		return nil, &Problem{Msg: err.Error()}
	}
	dropCredentials(po.Environment)
	return po, nil
}

// checkName reports an invalid `name:` at its position (compose-go would
// reject it without one). Interpolated names are checked after loading.
func checkName(src *sources, override string) problems {
	var errs problems
	if override != "" {
		return nil
	}
	for _, f := range src.files {
		p, ok := get(f.root, "name")
		if !ok {
			continue
		}
		if v := resolve(p.value).Value; !strings.Contains(v, "$") && !spec.ValidName(v) {
			errs.add(posOf(f, p.value), "app name %q must be a lowercase DNS label (a-z, 0-9, '-', at most 63 characters); change `name:`", v)
		}
	}
	return errs
}

// hasName reports whether a file sets the project's `name:`. An explicit
// name is used as given (and must be valid); only a name derived from the
// directory is rewritten into a DNS label.
func hasName(src *sources) bool {
	for _, f := range src.files {
		if _, ok := get(f.root, "name"); ok {
			return true
		}
	}
	return false
}

// dnsLabel turns a directory name into an app name: compose allows '_' and
// longer names, a DNS label does not.
func dnsLabel(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	for strings.Contains(out, "--") {
		out = strings.ReplaceAll(out, "--", "-")
	}
	if len(out) > 63 {
		out = strings.TrimRight(out[:63], "-")
	}
	return out
}

// checkPortSyntax parses every short-syntax port of the active services the
// way compose-go will, so a bad one ("abc", "70000:80") is reported on its
// own line instead of compose-go's unplaced "Invalid hostPort: 70000".
func checkPortSyntax(src *sources, profiles []string) problems {
	active := activeServices(src, profiles)
	var errs problems
	for _, f := range src.files {
		services, ok := get(f.root, "services")
		if !ok {
			continue
		}
		for _, s := range pairs(services.value) {
			ports, ok := get(s.value, "ports")
			if !ok || !active[s.key.Value] {
				continue
			}
			for _, it := range content(ports.value) {
				it = resolve(it)
				if it.Kind != yaml.ScalarNode || strings.Contains(it.Value, "$") { // interpolated values are checked after loading
					continue
				}
				if _, err := types.ParsePortConfig(it.Value); err != nil {
					errs.add(posOf(f, it), "service %s: port %q is invalid: %s; write it as \"HOST:CONTAINER\" with ports 1-65535 (e.g. \"8080:80\")", s.key.Value, it.Value, lowerFirst(err.Error()))
				}
			}
		}
	}
	return errs
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

var (
	reValidating = regexp.MustCompile(`^validating (.+?): (\S+) (.*)$`)
	reUndefDep   = regexp.MustCompile(`^service "([^"]+)" depends on undefined service "([^"]+)"`)
	reCycle      = regexp.MustCompile(`dependency cycle detected: (.*)$`)
	reServiceRef = regexp.MustCompile(`^service "?([a-zA-Z0-9._-]+)"? `)
	reUndefRef   = regexp.MustCompile(`^service "([^"]+)" refers to undefined (volume|network|secret|config) (\S+)$`)
	reBadPort    = regexp.MustCompile(`^Invalid (hostPort|containerPort|proto|ip address|port)`)
	reNoImage    = regexp.MustCompile(`^service "([^"]+)" has neither an image nor a build context`)
	reInvalidSuf = regexp.MustCompile(`: invalid compose project$`)
)

// locateComposeError turns an error from compose-go into located Problems
// with Haven's wording where the error is one users commonly hit.
func locateComposeError(src *sources, err error) problems {
	var errs problems
	msg := err.Error()
	msg = reInvalidSuf.ReplaceAllString(msg, "")
	if p, ok := locateRuntimeError(src, msg); ok { // container.go
		return append(errs, p)
	}
	switch {
	case reUndefDep.MatchString(msg):
		m := reUndefDep.FindStringSubmatch(msg)
		errs.add(src.best("services", m[1], "depends_on", m[2]),
			"service %s: depends_on names %q, which is not a service of this app (or is only in an inactive profile); fix the name, add the service or enable its profile", m[1], m[2])
	case reCycle.MatchString(msg):
		chain := strings.Split(reCycle.FindStringSubmatch(msg)[1], " -> ")
		pos := Position{}
		if len(chain) > 1 {
			pos = src.best("services", chain[0], "depends_on", chain[1])
		}
		errs.add(pos, "dependency cycle: %s; remove one of these depends_on entries", strings.Join(chain, " -> "))
	case reBadPort.MatchString(msg):
		// Literal ports were checked before loading, so this one came from
		// ${VAR} interpolation: point at the interpolated port entries.
		found := false
		for _, f := range src.files {
			services, _ := get(f.root, "services")
			for _, s := range pairs(services.value) {
				ports, _ := get(s.value, "ports")
				for _, it := range content(ports.value) {
					if it = resolve(it); it.Kind == yaml.ScalarNode && strings.Contains(it.Value, "$") {
						found = true
						errs.add(posOf(f, it), "service %s: port %q is invalid once interpolated: %s; set the variable to a port 1-65535", s.key.Value, it.Value, lowerFirst(msg))
					}
				}
			}
		}
		if !found {
			errs.add(Position{}, "%s", msg)
		}
	case reUndefRef.MatchString(msg):
		m := reUndefRef.FindStringSubmatch(msg)
		svc, kind, name := m[1], m[2], m[3]
		errs.add(src.best("services", svc, kind+"s", name),
			"service %s: uses %s %q, which is not declared under top-level `%ss:`; declare it there or fix the name", svc, kind, name, kind)
	case reNoImage.MatchString(msg):
		name := reNoImage.FindStringSubmatch(msg)[1]
		errs.add(src.best("services", name), "service %s: has neither `image:` nor `build:`; add one of them", name)
	case reValidating.MatchString(msg):
		// JSON-schema errors name the offending path: services.api.ports.0
		m := reValidating.FindStringSubmatch(msg)
		path := strings.Split(m[2], ".")
		pos := src.best(path...)
		errs.add(pos, "`%s` %s; see https://docs.docker.com/reference/compose-file/", m[2], m[3])
	default:
		pos := Position{}
		if m := reServiceRef.FindStringSubmatch(msg); m != nil {
			pos = src.best("services", m[1])
		}
		if pos.IsZero() && len(src.files) == 1 {
			// At least name the file: with one file there is no doubt.
			pos = Position{File: src.files[0].name, Line: 1, Column: 1}
		}
		errs.add(pos, "%s", strings.TrimPrefix(msg, "yaml: "))
	}
	return errs
}

// locateValidateErrors places each of spec.App.Validate's problems on the
// key of the compose file it comes from. Validate words its messages for
// any App; here they are only given a position.
// renamed maps the services Haven renamed back to their compose names.
func locateValidateErrors(src *sources, app *spec.App, renamed map[string]string, err error) problems {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	var errs problems
	for _, e := range list {
		msg := strings.TrimPrefix(e.Error(), spec.ErrInvalid.Error()+": ")
		errs = append(errs, &Problem{Pos: validatePos(src, app, renamed, msg), Msg: msg})
	}
	return errs
}

var (
	reSvcMsg     = regexp.MustCompile(`^service ([a-z0-9-]+|"[^"]*"|\S+?): (.*)$`)
	reDepCycle   = regexp.MustCompile(`^dependency cycle: (.*); `)
	reDependsOn  = regexp.MustCompile(`depends_on names "([^"]+)"`)
	reNumber     = regexp.MustCompile(`port (\d+)`)
	reRouteShown = regexp.MustCompile(`route (\S+ -> :\d+)`)
	reQuoted     = regexp.MustCompile(`"([^"]*)"`)
	reSvcName    = regexp.MustCompile(`^service name "([^"]*)"`)
)

func validatePos(src *sources, app *spec.App, renamed map[string]string, msg string) Position {
	if m := reDepCycle.FindStringSubmatch(msg); m != nil {
		chain := strings.Split(m[1], " -> ")
		if len(chain) > 1 {
			return src.best("services", chain[0], "depends_on", chain[1])
		}
	}
	if strings.HasPrefix(msg, "app name") {
		pos, _ := src.find("name")
		return pos
	}
	if strings.HasPrefix(msg, "app ") { // the app's size bounds
		pos, _ := src.find("services")
		return pos
	}
	if m := reSvcName.FindStringSubmatch(msg); m != nil {
		return src.best("services", m[1])
	}
	m := reSvcMsg.FindStringSubmatch(msg)
	if m == nil {
		return Position{}
	}
	name, rest := strings.Trim(m[1], `"`), m[2]
	svc, _ := app.Service(name)
	if orig, ok := renamed[name]; ok {
		name = orig
	}
	at := func(path ...string) Position { return src.best(append([]string{"services", name}, path...)...) }
	switch {
	case strings.Contains(rest, "depends_on names"):
		return at("depends_on", reDependsOn.FindStringSubmatch(rest)[1])
	case strings.HasPrefix(rest, "route"):
		if r := reRouteShown.FindStringSubmatch(rest); r != nil && svc != nil {
			for i, route := range svc.Routes {
				if route.String() == r[1] {
					return at("x-haven", "routes", fmt.Sprint(i))
				}
			}
		}
		return at("x-haven", "routes")
	case strings.Contains(rest, "health check"):
		if pos, ok := src.find("services", name, "x-haven", "healthcheck"); ok {
			return pos
		}
		return at("healthcheck")
	case strings.Contains(rest, "network_mode"):
		return at("network_mode")
	case strings.Contains(rest, "ipv4_address"):
		for _, n := range svc.Networks {
			if pos, ok := src.find("services", name, "networks", n, "ipv4_address"); ok {
				return pos
			}
			if pos, ok := src.find("services", name, "networks", n, "ipv6_address"); ok {
				return pos
			}
		}
		return at("networks")
	case strings.Contains(rest, "exposed port"):
		return at("expose")
	case strings.Contains(rest, "port"):
		if n := reNumber.FindStringSubmatch(rest); n != nil && svc != nil {
			if i := portIndex(svc, n[1]); i >= 0 {
				return at("ports", fmt.Sprint(i))
			}
		}
		return at("ports")
	case strings.Contains(rest, "mounts volume"):
		return at("volumes")
	case strings.Contains(rest, "uses secret"):
		if q := reQuoted.FindStringSubmatch(rest); q != nil {
			return at("secrets", q[1])
		}
		return at("secrets")
	case strings.Contains(rest, "replicas"):
		return at("deploy", "replicas")
	case strings.Contains(rest, "restart policy"):
		return at("restart")
	}
	return at()
}

// portIndex finds the published (or else target) port n among svc.Ports.
// Port lists are not reordered by compose-go, so the index also names the
// item in the file when no range was expanded.
func portIndex(svc *spec.Service, n string) int {
	for i, p := range svc.Ports {
		if fmt.Sprint(p.Published) == n {
			return i
		}
	}
	for i, p := range svc.Ports {
		if fmt.Sprint(p.Target) == n {
			return i
		}
	}
	return -1
}

// absPath makes p absolute against dir (compose-go already resolves most
// paths; this is the safety net for the ones it leaves relative).
func absPath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || strings.Contains(p, "://") {
		return p
	}
	return filepath.Join(dir, p)
}
