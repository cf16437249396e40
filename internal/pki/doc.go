// Package pki gives the API server its TLS identity and the CLI a way to
// trust it.
//
// At first start EnsureServerTLS creates a private certificate authority
// (ca.crt, ca.key) and a server certificate signed by it (server.crt,
// server.key) in the server's data directory, so `haven up` on a laptop
// serves HTTPS with no manual step. Later starts reuse them; the server
// certificate alone is re-issued when it nears expiry or lacks a name the
// server is now reached by, so clients that trust the CA keep working. An
// operator who brings a certificate (for example from a public CA) gets it
// used as is and never overwritten.
//
// ClientTLS builds the client side: it trusts exactly one CA file, not the
// system roots, so a context pinned to a Haven CA cannot be fooled by any
// other certificate.
//
// May import: atomicfile, stdlib.
package pki
