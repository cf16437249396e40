package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ClientTLS returns a client configuration that trusts exactly the
// certificates in the PEM file caFile and nothing else: not the system
// roots, so a context pinned to a Haven CA cannot be answered by a server
// holding some other publicly trusted certificate.
func ClientTLS(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, errors.New("pki: no CA file given")
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("pki: read CA: %w", err)
	}
	cfg, err := ClientTLSFromPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%w in %s", err, caFile)
	}
	return cfg, nil
}

// ClientTLSFromPEM is ClientTLS for a CA held in memory, such as one
// written inline in a CLI context.
func ClientTLSFromPEM(caPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("pki: no CA certificate")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
