// Package clientconfig keeps the CLI's contexts, like a kubeconfig: for
// each named server, where it is (an https URL or a unix socket), which CA
// to trust for it, and the API token to present. One context is current;
// `haven login` adds one and `haven context use` switches.
//
// The file (DefaultPath: ~/.haven/config, or $HAVEN_CONFIG) is YAML and
// holds tokens, so it is written 0600 in a 0700 directory, atomically, and
// a token never leaves this package unmasked except to Save: String,
// GoString, JSON and YAML forms of a Context and every error show only its
// first characters (MaskToken).
//
// May import: atomicfile, stdlib, gopkg.in/yaml.v3.
package clientconfig
