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
	// hints say, per key of this level Haven refuses, why and what to
	// write instead (before keyHints and hint).
	hints map[string]string
	// warn, on a key Haven accepts but that changes nothing under it,
	// says why; the key is reported as a warning, not an error.
	warn string
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

var (
	depRule = &keyRule{known: typeOf[types.ServiceDependency](), fields: map[string]*keyRule{
		"condition": nil,
		"required":  nil, // mapped (mapper.dependsOn)
		"restart":   nil, // warned about when true (mapper.dependsOn)
	}}

	// updateRule is deploy.update_config, mapped onto the rolling release
	// (mapper.updateConfig).
	updateRule = &keyRule{known: typeOf[types.UpdateConfig](), fields: map[string]*keyRule{
		"parallelism": nil, "order": nil, "failure_action": nil, "max_failure_ratio": nil,
		"delay":   {warn: "Haven starts the next batch as soon as the last one is healthy"},
		"monitor": {warn: "Haven watches each new instance until it is healthy, then moves on"},
	}}

	serviceRule = &keyRule{known: typeOf[types.ServiceConfig](), fields: withKeys(containerKeys, map[string]*keyRule{
		"image": nil,
		"build": {known: typeOf[types.BuildConfig](), fields: map[string]*keyRule{
			"context": nil, "dockerfile": nil, "args": nil, "target": nil,
		}, hint: "Haven's builder passes context, dockerfile, args and target; build the image with `docker build` and set `image:`"},
		"command":     nil,
		"entrypoint":  nil,
		"working_dir": nil,
		"user":        nil,
		"environment": nil,
		"env_file": {items: &keyRule{known: typeOf[types.EnvFile](), fields: map[string]*keyRule{
			"path": nil, "required": nil, "format": nil,
		}}},
		"ports": {items: &keyRule{known: typeOf[types.ServicePortConfig](), fields: map[string]*keyRule{
			"target": nil, "published": nil, "host_ip": nil, "protocol": nil,
			"name":         nil,
			"app_protocol": {warn: "the ingress speaks HTTP to routes' ports whatever the port says"},
			"mode":         {only: []string{"host", "ingress"}},
		}}},
		"expose": nil,
		"volumes": {items: &keyRule{known: typeOf[types.ServiceVolumeConfig](), fields: map[string]*keyRule{
			"type":        {only: []string{"volume", "bind"}, hint: "Haven mounts volumes and bind mounts; for a tmpfs use the service's `tmpfs:` key"},
			"source":      nil,
			"target":      nil,
			"read_only":   nil,
			"consistency": {warn: "consistency only tunes Docker Desktop's file sharing on macOS"},
			"bind": {known: typeOf[types.ServiceVolumeBind](), fields: map[string]*keyRule{
				"propagation": nil, "selinux": nil,
				"create_host_path": {warn: "Haven never creates a bind mount's host path: a missing one fails the start, so create it first"},
			}, hints: map[string]string{"recursive": "bind mounts are made as the engine makes them (recursive, and read-only recursively where the kernel allows)"}},
			"volume": {known: typeOf[types.ServiceVolumeVolume](), fields: map[string]*keyRule{
				"nocopy": nil,
			}, hints: map[string]string{
				"subpath": "it needs Docker Engine API 1.45 (Docker 26) and Haven speaks 1.41; mount the volume and point the program at the directory inside it",
				"labels":  "label the volume under top-level `volumes:`",
			}},
		}, hints: map[string]string{
			"tmpfs": "for a tmpfs use the service's `tmpfs:` key",
			"image": "copy the files into the service's image, or into a named volume",
		}}},
		"networks": {entries: &keyRule{known: typeOf[types.ServiceNetworkConfig](), fields: map[string]*keyRule{
			"aliases": nil, "ipv4_address": nil, "ipv6_address": nil,
			"priority":    {warn: "Haven puts every service on one network, so there is no order to choose"},
			"gw_priority": {warn: "Haven puts every service on one network, so there is no gateway to choose"},
		}, hint: "Haven puts every service of an app and environment on one network", hints: map[string]string{
			"interface_name":         "Haven names the interface on the app's network itself",
			"link_local_ips":         "Haven gives each instance its address on the app's network",
			"mac_address":            "the engine picks each instance's MAC address, as two instances must differ",
			"driver_opts":            "the options belong to the app's network (top-level `networks:`), which every service shares",
			"use_service_name_alias": "every instance answers to its service name: other services rely on it",
		}}},
		"volumes_from": nil, // mapper.volumesFrom
		"network_mode": nil, // checked by mapper.networkMode
		"links":        nil, // aliases (mapper.links)
		"depends_on":   {entries: depRule},
		"scale":        nil,
		"deploy": {known: typeOf[types.DeployConfig](), fields: map[string]*keyRule{
			"mode":            {only: []string{"replicated", "global"}},
			"replicas":        nil,
			"labels":          {warn: "they label a Swarm service, which Haven does not create; use the service's `labels:` for its containers"},
			"endpoint_mode":   {warn: "services are always reached by name on the app's network, which resolves to its instances"},
			"update_config":   updateRule,
			"rollback_config": {warn: "Haven rolls back with the release's own policy (update_config or x-haven.release)"},
			"restart_policy": {known: typeOf[types.RestartPolicy](), fields: map[string]*keyRule{
				"condition":    nil,
				"delay":        {warn: "Haven replaces a failed instance with its own backoff"},
				"max_attempts": {warn: "Haven keeps replacing a failed instance, with a growing backoff"},
				"window":       {warn: "Haven judges a new instance by its health check"},
			}},
			"resources": {known: typeOf[types.Resources](), fields: map[string]*keyRule{
				"limits": {known: typeOf[types.Resource](), fields: map[string]*keyRule{"cpus": nil, "memory": nil}},
				"reservations": {known: typeOf[types.Resource](), fields: map[string]*keyRule{
					"cpus":   {warn: "reservations place instances across nodes; with one node nothing is reserved"},
					"memory": {warn: "reservations place instances across nodes; with one node nothing is reserved"},
				}},
			}},
		}},
		"labels":      nil,
		"profiles":    nil,
		"mem_limit":   nil,
		"pull_policy": {warn: "Haven resolves images from the engine at deploy time (build or pull them before `haven deploy`)"},
		"attach":      {warn: "Haven captures every instance's output; read it with `haven logs`"},
		"develop":     {warn: "it drives `docker compose watch`, not a deployment"},
		"extends":     {known: typeOf[types.ExtendsConfig](), fields: map[string]*keyRule{"service": nil, "file": nil}},
		"secrets": {items: &keyRule{known: typeOf[types.ServiceSecretConfig](), fields: map[string]*keyRule{
			"source": nil, "target": nil,
		}, hint: "a file secret is mounted as its file is; set its owner and mode on the host"}},
		"configs": {items: &keyRule{known: typeOf[types.ServiceConfigObjConfig](), fields: map[string]*keyRule{
			// uid, gid and mode apply to configs with content; for
			// file configs they are warned about (mapper.configs).
			"source": nil, "target": nil, "uid": nil, "gid": nil, "mode": nil,
		}}},
		"stop_grace_period": nil,
		"x-haven":           xHavenServiceRule,
	}), hints: map[string]string{
		"name": "a service's name is its key under `services:`; remove `name:`",
		// The runtime keys Haven refuses (containerKeys has the rest).
		"annotations":         "container annotations need Docker Engine API 1.43 and Haven speaks 1.41; use `labels:`",
		"blkio_config":        "Haven sets no block I/O weights or limits yet; the instance gets the node's default share",
		"cgroup":              "each instance gets the Engine's default cgroup namespace; sharing the node's would let it see every container's limits",
		"cgroup_parent":       "Haven keeps instances in the Engine's cgroup tree, where its limits apply; limit the service with deploy.resources.limits",
		"cpu_count":           "it applies to Windows containers only; use `cpus:` or deploy.resources.limits.cpus",
		"cpu_percent":         "it applies to Windows containers only; use `cpus:` or deploy.resources.limits.cpus",
		"cpu_rt_period":       "real-time scheduling needs a node and Engine set up for it, which Haven does not manage",
		"cpu_rt_runtime":      "real-time scheduling needs a node and Engine set up for it, which Haven does not manage",
		"credential_spec":     "it applies to Windows containers only (gMSA); Haven runs Linux containers",
		"device_cgroup_rules": "list each device under `devices:` (which needs app.deploy-privileged)",
		"gpus":                "give the GPU's device files under `devices:` (e.g. /dev/nvidia0, with app.deploy-privileged)",
		"isolation":           "it applies to Windows containers only; Haven runs Linux containers with the default isolation",
		"log_driver":          "it is the old form of `logging:`, which Haven accepts without using it: it keeps every instance's output itself (`haven logs`)",
		"log_opt":             "it is the old form of `logging:`, which Haven accepts without using it: it keeps every instance's output itself (`haven logs`)",
		"mac_address":         "the Engine picks each instance's MAC address, as two replicas must differ",
		"oom_kill_disable":    "an instance the kernel may not kill can take the node's memory; set a memory limit and let Haven replace the instance",
		"storage_opt":         "Haven does not size the container's root filesystem; keep data in a volume",
		"umask":               "set the umask in the image's entrypoint (`umask 027; exec ...`)",
		"use_api_socket":      "it hands the Engine, and so the node, to the service; bind-mount /var/run/docker.sock under `volumes:` if that is what you mean",
	}}

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

	volumeRule = &keyRule{known: typeOf[types.VolumeConfig](), fields: map[string]*keyRule{
		"labels": nil, "driver": nil, "driver_opts": nil, "external": nil, "name": nil,
	}}
	networkRule = &keyRule{known: typeOf[types.NetworkConfig](), fields: map[string]*keyRule{
		"driver":      {only: []string{"bridge"}, hint: "Haven's app network is a bridge on one machine; overlay networks come with multi-node"},
		"name":        nil, // the network to join when external, else warned (mapper.network)
		"driver_opts": nil, "internal": nil, "enable_ipv6": nil, "attachable": nil, "labels": nil, "external": nil,
		"enable_ipv4": {only: []string{"true"}, hint: "the app's network always has IPv4: the ingress reaches instances over it"},
		"ipam": {known: typeOf[types.IPAMConfig](), fields: map[string]*keyRule{
			"driver": nil,
			"config": {items: &keyRule{known: typeOf[types.IPAMPool](), fields: map[string]*keyRule{
				"subnet": nil, "ip_range": nil, "gateway": nil,
			}, hints: map[string]string{"aux_addresses": "reserve the addresses by leaving them outside ip_range"}}},
		}, hints: map[string]string{"options": "Haven's IPAM driver takes no options"}},
	}, hint: "Haven puts all services of an app and environment on one network it creates"}
	secretRule = &keyRule{known: typeOf[types.SecretConfig](), fields: map[string]*keyRule{"file": nil, "external": nil,
		"labels": {warn: "a file secret is mounted as its file is; labels are kept nowhere"}},
		hint: "Haven reads secrets from files only: `file: ./secret.txt`", hints: map[string]string{
			"environment": "the value would be stored in the deployment record; keep it in a file (`file:`) or in Haven's secret store (`external: true`, then `haven secret set`)",
		}}
	configRule = &keyRule{known: typeOf[types.ConfigObjConfig](), fields: map[string]*keyRule{"file": nil, "content": nil, "environment": nil,
		"name":   {warn: "a config is mounted from its file or written from its content; the name is kept nowhere"},
		"labels": {warn: "a config is mounted from its file or written from its content; labels are kept nowhere"}},
		hint: "Haven mounts configs from files or writes their content", hints: map[string]string{
			"external":        "Haven has no config store; write the value to a file and use `file:`, or use `content:`",
			"template_driver": "Haven mounts the file as it is",
		}}
	includeRule = &keyRule{known: typeOf[types.IncludeConfig](), fields: map[string]*keyRule{
		"path": nil, "project_directory": nil, "env_file": nil,
	}}
)

// keyHints say how to do without a key Haven refuses, and why.
var keyHints = map[string]string{
	"external_links":                     "Haven starts no container outside the app; run it as a service of the app, or reach it by its host address",
	"log_driver":                         "use `logging:`",
	"log_opt":                            "use `logging:`",
	"deploy.placement":                   "placement comes with multi-node; on one machine every instance runs there",
	"deploy.resources.limits.pids":       "use the service's `pids_limit:`",
	"deploy.resources.reservations.pids": "use the service's `pids_limit:`",
	"pull_refresh_after":                 "Haven resolves images at deploy time; redeploy to pick up a new image",
	"volume_driver":                      "set `driver:` on the top-level volume",
	"label_file":                         "compose-go does not read it into the labels; write the labels under `labels:`",
	"dockerfile":                         "use build.dockerfile",
	"devices":                            "GPUs and other devices: use the service's `devices:`",
	"generic_resources":                  "they are Swarm's node resources; with one node there is nothing to reserve",
	"dockerfile_inline":                  "write the Dockerfile to a file and use build.dockerfile",
	"models":                             "Haven runs no model runner; run one as a service of the app",
	"jobs":                               "run one-off commands with `haven exec SERVICE -- CMD`, or a migration with x-haven.release.migrate",
	"provider":                           "Haven creates no provider resources; run it as a service or outside Haven",
	"pre_start":                          "run the step in the image's entrypoint",
	"post_start":                         "run the step in the image's entrypoint",
	"pre_stop":                           "handle SIGTERM in the process; Haven drains traffic before stopping it",
	"net":                                "use network_mode",
}

// topKnown are the top-level keys compose defines.
var topKnown = typeOf[types.Project]()

// report collects what checking finds: errors refuse the input, warnings
// name keys that are accepted but change nothing under Haven.
type report struct {
	errs, warns problems
}

// checkKeys reports every key in the files that Haven does not implement,
// with its position, and warns about the keys it accepts without effect.
// Services outside the active profiles are skipped: they are not deployed,
// so what they hold does not matter here.
func checkKeys(src *sources, profiles []string) (errs, warns problems) {
	active := activeServices(src, profiles)
	r := &report{}
	for _, f := range src.files {
		if f.root == nil {
			continue
		}
		if f.extended != nil {
			// Only the extended services are loaded from this file.
			services, _ := get(f.root, "services")
			for _, s := range pairs(services.value) {
				if f.extended[s.key.Value] {
					checkMapping(f, s.value, serviceRule, "service "+s.key.Value+": ", "", r)
				}
			}
			continue
		}
		for _, p := range pairs(f.root) {
			key := p.key.Value
			switch key {
			case "name":
			case "version":
				r.warns.add(posOf(f, p.key), "key `version` is obsolete and changes nothing (as in docker compose); remove it")
			case "include":
				for _, it := range content(p.value) {
					if resolve(it).Kind == yaml.MappingNode {
						checkMapping(f, it, includeRule, "include: ", "", r)
					}
				}
			case "services":
				for _, s := range pairs(p.value) {
					if !active[s.key.Value] {
						continue
					}
					checkMapping(f, s.value, serviceRule, "service "+s.key.Value+": ", "", r)
				}
			case "volumes":
				checkEntries(f, p.value, volumeRule, "volume ", r)
			case "networks":
				checkEntries(f, p.value, networkRule, "network ", r)
			case "secrets":
				checkEntries(f, p.value, secretRule, "secret ", r)
			case "configs":
				checkEntries(f, p.value, configRule, "config ", r)
			case "x-haven":
				// Reserved for app-wide settings; none exist yet, so any
				// key is a mistake worth reporting. A service's key put
				// here by mistake is pointed to where it belongs.
				for _, x := range pairs(p.value) {
					if _, perService := xHavenServiceRule.fields[x.key.Value]; perService {
						r.errs.add(posOf(f, x.key), "key `%[1]s` belongs in a service's x-haven, not the top-level one, which has no keys yet; move it to services.NAME.x-haven.%[1]s", x.key.Value)
						continue
					}
					r.errs.add(posOf(f, x.key), "unknown key `%s` in x-haven, which has no keys yet; remove it", x.key.Value)
				}
			default:
				if strings.HasPrefix(key, "x-") {
					continue // user extensions, often anchors: compose ignores them too
				}
				reportKey(f, p.key, key, yamlKeys(topKnown), keyHints[key], "", &r.errs)
			}
		}
	}
	return r.errs, r.warns
}

func checkEntries(f *sourceFile, m *yaml.Node, rule *keyRule, subject string, r *report) {
	for _, e := range pairs(m) {
		checkMapping(f, e.value, rule, subject+e.key.Value+": ", "", r)
	}
}

// checkMapping checks node against rule. subject prefixes messages
// ("service api: "); prefix is the dotted path of node ("deploy.").
func checkMapping(f *sourceFile, node *yaml.Node, rule *keyRule, subject, prefix string, r *report) {
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
			r.errs.add(posOf(f, node), "%s`%s: %s` is not supported by Haven yet; %s", subject, strings.TrimSuffix(prefix, "."), node.Value, hint)
		}
	case yaml.SequenceNode:
		if rule.items != nil {
			for _, it := range node.Content {
				checkMapping(f, it, rule.items, subject, prefix, r)
			}
		}
	case yaml.MappingNode:
		if rule.entries != nil {
			for _, e := range pairs(node) {
				checkMapping(f, e.value, rule.entries, subject, prefix+e.key.Value+".", r)
			}
			return
		}
		if rule.fields == nil {
			return
		}
		for _, p := range pairs(node) {
			key := p.key.Value
			if sub, ok := rule.fields[key]; ok {
				if sub != nil && sub.warn != "" {
					r.warns.add(posOf(f, p.key), "%skey `%s` changes nothing under Haven: %s", subject, prefix+key, sub.warn)
				}
				checkMapping(f, p.value, sub, subject, prefix+key+".", r)
				continue
			}
			if strings.HasPrefix(key, "x-") && rule.known != nil {
				continue // compose extensions are ignored by compose as well
			}
			hint := hintFor(rule, prefix, key)
			if rule.known == nil {
				reportXHavenKey(f, p.key, key, prefix, rule, subject, &r.errs)
				continue
			}
			reportKey(f, p.key, prefix+key, yamlKeys(rule.known), hint, subject, &r.errs)
		}
	}
}

// hintFor says why Haven refuses key (at prefix, under rule) and what to
// write instead: the rule's own hint for the key, else keyHints by path
// or by name, else the rule's hint for its level.
func hintFor(rule *keyRule, prefix, key string) string {
	if h, ok := rule.hints[key]; ok {
		return h
	}
	if h, ok := keyHints[prefix+key]; ok {
		return h
	}
	if h, ok := keyHints[key]; ok {
		return h
	}
	return rule.hint
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
		if f.extended != nil {
			continue // its services are templates, not the project's
		}
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
