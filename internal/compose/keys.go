package compose

import (
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	yaml "go.yaml.in/yaml/v4"
)

// Haven refuses every compose key it does not implement rather than
// dropping it: a user who writes `privileged: true` or `cap_add:` and gets a
// container without them would debug production for hours. The rules below
// list what Haven maps; compose-go's own types tell "not supported yet" apart
// from "not a compose key at all" (a typo).

// keyRule says what a YAML mapping may hold.
type keyRule struct {
	// known is the compose-go type the mapping decodes into; its yaml tags
	// are the keys compose knows. Nil for x-haven, whose keys are all ours.
	known reflect.Type
	// fields are the keys Haven implements, each with the rule for its
	// value (nil: the value is not checked, e.g. user-named env vars).
	fields map[string]*keyRule
	// items checks each mapping item of a sequence value (long syntax).
	items *keyRule
	// entries checks each value of a mapping of user-named entries
	// (`depends_on: {db: {...}}`, `networks: {front: {...}}`).
	entries *keyRule
	// only lists the scalar values Haven implements, when not all are.
	only []string
	// hint tells how to do without the key; shown after "remove it".
	hint string
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

var (
	depRule = &keyRule{known: typeOf[types.ServiceDependency](), fields: map[string]*keyRule{
		"condition": nil,
		"required":  {only: []string{"true"}, hint: "optional dependencies are not supported yet"},
	}}

	serviceRule = &keyRule{known: typeOf[types.ServiceConfig](), fields: withKeys(containerKeys, map[string]*keyRule{
		"image": nil,
		"build": {known: typeOf[types.BuildConfig](), fields: map[string]*keyRule{
			"context": nil, "dockerfile": nil, "args": nil, "target": nil,
		}},
		"command":     nil,
		"entrypoint":  nil,
		"working_dir": nil,
		"user":        nil,
		"environment": nil,
		"env_file": {items: &keyRule{known: typeOf[types.EnvFile](), fields: map[string]*keyRule{
			"path": nil, "required": nil,
		}}},
		"ports": {items: &keyRule{known: typeOf[types.ServicePortConfig](), fields: map[string]*keyRule{
			"target": nil, "published": nil, "host_ip": nil, "protocol": nil,
		}}},
		"expose": nil,
		"volumes": {items: &keyRule{known: typeOf[types.ServiceVolumeConfig](), fields: map[string]*keyRule{
			"type":      {only: []string{"volume", "bind"}, hint: "Haven mounts named volumes and bind mounts only"},
			"source":    nil,
			"target":    nil,
			"read_only": nil,
		}}},
		"networks": {entries: &keyRule{known: typeOf[types.ServiceNetworkConfig](), fields: map[string]*keyRule{},
			hint: "services reach each other by service name on the app's network"}},
		"depends_on": {entries: depRule},
		"deploy": {known: typeOf[types.DeployConfig](), fields: map[string]*keyRule{
			"mode":     {only: []string{"replicated"}, hint: "Haven runs deploy.replicas instances"},
			"replicas": nil,
			"resources": {known: typeOf[types.Resources](), fields: map[string]*keyRule{
				"limits": {known: typeOf[types.Resource](), fields: map[string]*keyRule{"cpus": nil, "memory": nil}},
			}},
		}},
		"labels":   nil,
		"profiles": nil,
		"secrets": {items: &keyRule{known: typeOf[types.ServiceSecretConfig](), fields: map[string]*keyRule{
			"source": nil, "target": nil,
		}}},
		"stop_grace_period": nil,
		"x-haven":           xHavenServiceRule,
	})}

	xHavenServiceRule = &keyRule{fields: map[string]*keyRule{
		"routes": {items: &keyRule{fields: map[string]*keyRule{
			"host": nil, "path": nil, "port": nil, "strip_prefix": nil,
			"limits": {fields: map[string]*keyRule{"max_body": nil, "body_timeout": nil, "max_conns_per_client": nil}},
		}}},
		"healthcheck": {fields: map[string]*keyRule{
			"type": nil, "path": nil, "port": nil, "interval": nil, "timeout": nil, "retries": nil, "start_period": nil,
		}},
		"release": {fields: map[string]*keyRule{
			"strategy": nil, "max_surge": nil, "max_unavailable": nil, "bake_time": nil,
			"steps": {items: &keyRule{fields: map[string]*keyRule{"weight": nil, "pause": nil}}},
			"analysis": {fields: map[string]*keyRule{
				"max_error_rate": nil, "max_p95_ratio": nil, "min_p95": nil, "min_requests": nil,
			}},
			"migrate": nil, "drain_timeout": nil,
		}},
		"alerts": {items: &keyRule{fields: map[string]*keyRule{
			"name": nil, "metric": nil, "op": nil, "value": nil, "for": nil, "severity": nil, "labels": nil,
		}}},
	}}

	volumeRule = &keyRule{known: typeOf[types.VolumeConfig](), fields: map[string]*keyRule{"labels": nil},
		hint: "Haven creates each named volume itself, once per app and environment"}
	networkRule = &keyRule{known: typeOf[types.NetworkConfig](), fields: map[string]*keyRule{
		"driver": {only: []string{"bridge"}},
	}, hint: "Haven puts all services of an app and environment on one network it creates"}
	secretRule = &keyRule{known: typeOf[types.SecretConfig](), fields: map[string]*keyRule{"file": nil, "external": nil},
		hint: "Haven reads secrets from files only: `file: ./secret.txt`"}
)

// keyHints say how to do without a service key Haven does not implement.
var keyHints = map[string]string{
	"container_name":    "Haven names containers itself, one per instance",
	"network_mode":      "every service of an app shares one network",
	"links":             "services reach each other by service name on the app's network",
	"external_links":    "services reach each other by service name on the app's network",
	"scale":             "use deploy.replicas",
	"cpus":              "use deploy.resources.limits.cpus",
	"mem_limit":         "use deploy.resources.limits.memory",
	"logging":           "Haven captures container output itself",
	"log_driver":        "Haven captures container output itself",
	"log_opt":           "Haven captures container output itself",
	"extends":           "copy the extended service's keys into this one",
	"configs":           "use a bind mount or a secret",
	"develop":           "it drives `docker compose watch`, not production",
	"restart_policy":    "use the service's `restart:` key",
	"deploy.labels":     "use the service's `labels:`",
	"update_config":     "Haven rolls releases out itself",
	"rollback_config":   "Haven rolls releases back itself",
	"stop_signal":       "Haven stops instances with SIGTERM, then SIGKILL after stop_grace_period",
	"pull_policy":       "Haven resolves images at deploy time",
	"start_interval":    "use interval",
	"include":           "list the files with --file instead",
	"aliases":           "services reach each other by service name on the app's network",
	"dockerfile_inline": "write the Dockerfile to a file and use build.dockerfile",
}

// topKnown are the top-level keys compose defines.
var topKnown = typeOf[types.Project]()

// checkKeys reports every key in the files that Haven does not implement,
// with its position. Services outside the active profiles are skipped: they
// are not deployed, so what they hold does not matter here.
func checkKeys(src *sources, profiles []string) problems {
	active := activeServices(src, profiles)
	var errs problems
	for _, f := range src.files {
		if f.root == nil {
			continue
		}
		for _, p := range pairs(f.root) {
			key := p.key.Value
			switch key {
			case "name", "version":
			case "include":
				errs.add(posOf(f, p.key), "key `include` is not supported by Haven yet; remove it (%s)", keyHints["include"])
			case "services":
				for _, s := range pairs(p.value) {
					if !active[s.key.Value] {
						continue
					}
					checkMapping(f, s.value, serviceRule, "service "+s.key.Value+": ", "", &errs)
				}
			case "volumes":
				checkEntries(f, p.value, volumeRule, "volume ", &errs)
			case "networks":
				checkEntries(f, p.value, networkRule, "network ", &errs)
			case "secrets":
				checkEntries(f, p.value, secretRule, "secret ", &errs)
			case "x-haven":
				// Reserved for app-wide settings; none exist yet, so any
				// key is a mistake worth reporting. A service's key put
				// here by mistake is pointed to where it belongs.
				for _, x := range pairs(p.value) {
					if _, perService := xHavenServiceRule.fields[x.key.Value]; perService {
						errs.add(posOf(f, x.key), "key `%[1]s` belongs in a service's x-haven, not the top-level one, which has no keys yet; move it to services.NAME.x-haven.%[1]s", x.key.Value)
						continue
					}
					errs.add(posOf(f, x.key), "unknown key `%s` in x-haven, which has no keys yet; remove it", x.key.Value)
				}
			default:
				if strings.HasPrefix(key, "x-") {
					continue // user extensions, often anchors: compose ignores them too
				}
				reportKey(f, p.key, key, yamlKeys(topKnown), keyHints[key], "", &errs)
			}
		}
	}
	return errs
}

func checkEntries(f *sourceFile, m *yaml.Node, rule *keyRule, subject string, errs *problems) {
	for _, e := range pairs(m) {
		checkMapping(f, e.value, rule, subject+e.key.Value+": ", "", errs)
	}
}

// checkMapping checks node against rule. subject prefixes messages
// ("service api: "); prefix is the dotted path of node ("deploy.").
func checkMapping(f *sourceFile, node *yaml.Node, rule *keyRule, subject, prefix string, errs *problems) {
	node = resolve(node)
	if rule == nil || node == nil {
		return
	}
	switch node.Kind {
	case yaml.ScalarNode:
		if rule.only != nil && node.Tag != "!!null" && !slices.Contains(rule.only, node.Value) {
			hint := rule.hint
			if hint == "" {
				hint = "use " + strings.Join(rule.only, " or ")
			}
			errs.add(posOf(f, node), "%s`%s: %s` is not supported by Haven yet; %s", subject, strings.TrimSuffix(prefix, "."), node.Value, hint)
		}
	case yaml.SequenceNode:
		if rule.items != nil {
			for _, it := range node.Content {
				checkMapping(f, it, rule.items, subject, prefix, errs)
			}
		}
	case yaml.MappingNode:
		if rule.entries != nil {
			for _, e := range pairs(node) {
				checkMapping(f, e.value, rule.entries, subject, prefix+e.key.Value+".", errs)
			}
			return
		}
		if rule.fields == nil {
			return
		}
		for _, p := range pairs(node) {
			key := p.key.Value
			if sub, ok := rule.fields[key]; ok {
				checkMapping(f, p.value, sub, subject, prefix+key+".", errs)
				continue
			}
			if strings.HasPrefix(key, "x-") && rule.known != nil {
				continue // compose extensions are ignored by compose as well
			}
			hint, ok := keyHints[prefix+key]
			if !ok {
				hint, ok = keyHints[key]
			}
			if !ok {
				hint = rule.hint
			}
			if rule.known == nil {
				reportXHavenKey(f, p.key, key, prefix, rule, subject, errs)
				continue
			}
			reportKey(f, p.key, prefix+key, yamlKeys(rule.known), hint, subject, errs)
		}
	}
}

// reportKey reports a compose key Haven refuses. dotted is its path below
// the subject ("deploy.placement"); known are the keys compose defines at
// that level, to tell a typo from an unsupported feature.
func reportKey(f *sourceFile, at *yaml.Node, dotted string, known []string, hint, subject string, errs *problems) {
	key := dotted[strings.LastIndex(dotted, ".")+1:]
	if !slices.Contains(known, key) {
		errs.add(posOf(f, at), "%s`%s` is not a compose key; fix its spelling or remove it", subject, dotted)
		return
	}
	msg := "%skey `%s` is not supported by Haven yet; remove it"
	if hint != "" {
		msg += " (" + hint + ")"
	}
	errs.add(posOf(f, at), msg, subject, dotted)
}

// reportXHavenKey reports a key x-haven does not define, listing the keys
// that exist at that level so a typo is fixed at once.
func reportXHavenKey(f *sourceFile, at *yaml.Node, key, prefix string, rule *keyRule, subject string, errs *problems) {
	known := make([]string, 0, len(rule.fields))
	for k := range rule.fields {
		known = append(known, "`"+k+"`")
	}
	sort.Strings(known)
	where := strings.TrimSuffix(prefix, ".")
	if len(known) == 0 {
		errs.add(posOf(f, at), "%sunknown key `%s` in %s, which has no keys yet; remove it", subject, key, where)
		return
	}
	errs.add(posOf(f, at), "%sunknown key `%s` in %s (known keys: %s); fix its spelling or remove it", subject, key, where, strings.Join(known, ", "))
}

// yamlKeys lists the yaml keys of a compose-go type, following inlined
// structs. Nil for a nil type.
func yamlKeys(t reflect.Type) []string {
	if t == nil {
		return nil
	}
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case strings.Contains(opts, "inline") && !strings.HasPrefix(name, "#"):
			keys = append(keys, yamlKeys(f.Type)...)
		case name != "" && name != "-" && !strings.HasPrefix(name, "#"):
			keys = append(keys, name)
		}
	}
	return keys
}

// activeServices returns the services that the given profiles enable, from
// the raw files: a service is active without `profiles:`, or when one of its
// profiles (across all files) is requested, or when "*" is.
func activeServices(src *sources, profiles []string) map[string]bool {
	declared := map[string][]string{}
	for _, f := range src.files {
		services, ok := get(f.root, "services")
		if !ok {
			continue
		}
		for _, s := range pairs(services.value) {
			name := s.key.Value
			if _, ok := declared[name]; !ok {
				declared[name] = nil
			}
			if p, ok := get(s.value, "profiles"); ok {
				for _, it := range content(p.value) {
					declared[name] = append(declared[name], resolve(it).Value)
				}
			}
		}
	}
	active := map[string]bool{}
	all := slices.Contains(profiles, "*")
	for name, ps := range declared {
		active[name] = len(ps) == 0 || all || slices.ContainsFunc(ps, func(p string) bool { return slices.Contains(profiles, p) })
	}
	return active
}
