package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names inside the directory EnsureServerTLS manages.
const (
	CAFile         = "ca.crt"
	caKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
)

// Paths says where the files the server serves with are. CA is the
// certificate clients should trust; it is empty when the operator supplied
// the server certificate, because Haven then does not know (and need not
// know) which authority issued it: clients use their system roots or a CA
// the operator hands out.
type Paths struct {
	CA   string
	Cert string
	Key  string
}

// EnsureServerTLS returns the API server's TLS configuration.
//
// With certFile and keyFile empty, it makes sure dir (created 0700) holds a
// CA and a server certificate signed by it, creating them at first start
// and reusing them afterwards (see the package comment). The server
// certificate names "localhost", 127.0.0.1, ::1, the machine's hostname and
// every entry of extraHosts (an IP address or a DNS name, wildcards
// allowed); it is re-issued from the same CA when it expires within 30
// days, was not signed by the CA, or lacks one of those names. A re-issued
// certificate keeps the names of the one it replaces, so a name used once
// keeps working.
//
// With certFile and keyFile set, that pair is used instead and never
// written to; dir and extraHosts are ignored.
//
// The returned config loads the certificate through GetCertificate and
// picks up a replaced pair on the next handshake, so a certificate rotated
// by another process (certbot, a restarted `haven up`) is served without a
// restart.
func EnsureServerTLS(dir string, extraHosts []string, certFile, keyFile string) (*tls.Config, Paths, error) {
	return ensureServerTLS(dir, extraHosts, certFile, keyFile, time.Now())
}

// ensureServerTLS is EnsureServerTLS at a given time, so tests can move the
// clock instead of forging certificates.
func ensureServerTLS(dir string, extraHosts []string, certFile, keyFile string, now time.Time) (*tls.Config, Paths, error) {
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, Paths{}, errors.New("pki: a TLS certificate needs both a certificate file and a key file")
		}
		// Load once now so a wrong path or a mismatched pair stops the start
		// with a clear message instead of failing every handshake.
		if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
			return nil, Paths{}, fmt.Errorf("pki: TLS certificate %s: %w", certFile, err)
		}
		p := Paths{Cert: certFile, Key: keyFile}
		return serverConfig(p), p, nil
	}

	if dir == "" {
		return nil, Paths{}, errors.New("pki: no directory for the TLS files")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, Paths{}, fmt.Errorf("pki: %w", err)
	}
	// MkdirAll leaves an existing directory's mode alone; this one holds
	// private keys, so tighten it.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, Paths{}, fmt.Errorf("pki: %w", err)
	}
	p := Paths{
		CA:   filepath.Join(dir, CAFile),
		Cert: filepath.Join(dir, ServerCertFile),
		Key:  filepath.Join(dir, ServerKeyFile),
	}
	ca, err := loadOrCreateCA(p.CA, filepath.Join(dir, caKeyFile), now)
	if err != nil {
		return nil, Paths{}, err
	}
	want := defaultNames()
	want.add(extraHosts...)
	if err := ensureServerCert(p.Cert, p.Key, ca, want, now); err != nil {
		return nil, Paths{}, err
	}
	return serverConfig(p), p, nil
}

// serverConfig is the one TLS policy of the API server.
func serverConfig(p Paths) *tls.Config {
	r := &keyPairReloader{certFile: p.Cert, keyFile: p.Key}
	return &tls.Config{
		// TLS 1.0 and 1.1 are deprecated (RFC 8996); every client Haven
		// ships speaks 1.3, and 1.2 keeps curl and older tools working.
		MinVersion: tls.VersionTLS12,
		// The post-quantum hybrid first, then the classic curves every
		// client has. Go's cipher suite defaults are already sound.
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256},
		GetCertificate:   r.GetCertificate,
	}
}

// ensureServerCert keeps the server certificate at certPath if it is
// usable for want at now, and issues a new one from ca otherwise.
func ensureServerCert(certPath, keyPath string, ca *authority, want names, now time.Time) error {
	if old, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		if usable(old.Leaf, ca, want, now) {
			return nil
		}
		if signedBy(old.Leaf, ca) {
			// Keep the names the old certificate had, so dropping a
			// --tls-host flag does not break clients that use that name.
			want.add(old.Leaf.DNSNames...)
			for _, ip := range old.Leaf.IPAddresses {
				want.add(ip.String())
			}
		}
	}
	return issueServerCert(certPath, keyPath, ca, want, now)
}

// usable reports whether cert can be served for another while: signed by
// ca, valid now and for renewBefore more, for server authentication, and
// naming everything in want.
func usable(cert *x509.Certificate, ca *authority, want names, now time.Time) bool {
	if !now.Add(renewBefore).Before(cert.NotAfter) || now.Before(cert.NotBefore) {
		return false
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return false
	}
	for _, d := range want.dns {
		if !slices.ContainsFunc(cert.DNSNames, func(h string) bool { return strings.EqualFold(h, d) }) {
			return false
		}
	}
	for _, ip := range want.ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func signedBy(cert *x509.Certificate, ca *authority) bool {
	return cert.CheckSignatureFrom(ca.cert) == nil
}

func issueServerCert(certPath, keyPath string, ca *authority, want names, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	notAfter := now.Add(serverValidity)
	// A certificate outliving its CA would fail verification anyway; end it
	// with the CA so the renewal check sees the real deadline.
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		// Clients match the SANs, not the CommonName; this is for people
		// reading the certificate.
		Subject:               pkix.Name{CommonName: "Haven API server", Organization: []string{"Haven"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              want.dns,
		IPAddresses:           want.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return fmt.Errorf("pki: issue server certificate: %w", err)
	}
	return writeKeyPair(certPath, keyPath, der, key)
}

// names is the set of subject alternative names a server certificate must
// carry, deduplicated, in the order first added.
type names struct {
	dns []string
	ips []net.IP
}

// defaultNames are the names a local client reaches the server by.
func defaultNames() names {
	var n names
	n.add("localhost", "127.0.0.1", "::1")
	if h, err := os.Hostname(); err == nil {
		n.add(h)
	}
	return n
}

// add records each host as an IP address if it parses as one and as a DNS
// name otherwise. Brackets around an IPv6 address are accepted because
// that is how one is written in a URL.
func (n *names) add(hosts ...string) {
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(n.ips, ip.Equal) {
				n.ips = append(n.ips, ip)
			}
			continue
		}
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if !slices.Contains(n.dns, h) {
			n.dns = append(n.dns, h)
		}
	}
}
