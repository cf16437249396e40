package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/haven-platform/haven/internal/atomicfile"
)

// Lifetimes. The CA lives long because every client that trusts it would
// have to be told again about a new one; the server certificate lives short
// because re-issuing it costs nothing and clients never see the change.
const (
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 365 * 24 * time.Hour
	// renewBefore is how close to expiry a certificate may get before it is
	// replaced at start, so a server restarted now and then never serves an
	// expired one.
	renewBefore = 30 * 24 * time.Hour
	// backdate is subtracted from NotBefore so that a client whose clock is
	// a little behind the server's accepts a certificate issued a moment ago.
	backdate = time.Hour
)

// authority is a loaded CA: its certificate and the key that signs with it.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// loadOrCreateCA returns the CA kept in certPath and keyPath, creating one
// if either file is missing or the CA is about to expire. A CA that is
// present but unreadable is an error rather than silently replaced: every
// client trusting it would stop connecting, and the operator should decide.
func loadOrCreateCA(certPath, keyPath string, now time.Time) (*authority, error) {
	// The certificate is written after the key, so a crash while creating
	// a CA leaves at most a lone key, which no client can trust yet.
	if !exists(certPath) || !exists(keyPath) {
		return createCA(certPath, keyPath, now)
	}
	ca, err := loadCA(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("pki: %w (to start over with a new CA, remove %s and %s; clients must then trust the new one)", err, certPath, keyPath)
	}
	if !now.Add(renewBefore).Before(ca.cert.NotAfter) {
		return createCA(certPath, keyPath, now)
	}
	return ca, nil
}

func loadCA(certPath, keyPath string) (*authority, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	// X509KeyPair checks that the key belongs to the certificate.
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA %s: %w", certPath, err)
	}
	if !pair.Leaf.IsCA {
		return nil, fmt.Errorf("CA %s: not a CA certificate", certPath)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("CA %s: key cannot sign", keyPath)
	}
	return &authority{cert: pair.Leaf, key: signer}, nil
}

func createCA(certPath, keyPath string, now time.Time) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	// A random suffix keeps the subjects of two Haven installations apart:
	// a client that trusts both would otherwise pick a chain by name and
	// try the wrong key.
	suffix := make([]byte, 4)
	rand.Read(suffix)
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "Haven local CA " + hex.EncodeToString(suffix), Organization: []string{"Haven"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		// It signs server certificates directly, never another CA.
		MaxPathLenZero: true,
		KeyUsage:       x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := writeKeyPair(certPath, keyPath, der, key); err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key}, nil
}

// writeKeyPair writes the key (0600) and then the certificate (0644: it is
// public, and clients on the same machine read ca.crt).
func writeKeyPair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := atomicfile.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return fmt.Errorf("pki: write %s: %w", keyPath, err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := atomicfile.WriteFile(certPath, certPEM, 0o644); err != nil {
		return fmt.Errorf("pki: write %s: %w", certPath, err)
	}
	return nil
}

func randomSerial() *big.Int {
	// 128 random bits: serials must be unique per CA, and unpredictable
	// serials are what the CA/Browser rules ask for.
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n.Add(n, big.NewInt(1)) // never zero
}

// Fingerprint returns the SHA-256 fingerprint of the first certificate in
// the PEM file at path, in the form `openssl x509 -fingerprint -sha256`
// prints ("AB:CD:…"), so a user can compare what the CLI shows with the
// server's ca.crt before trusting it.
func Fingerprint(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return "", errors.New("pki: no certificate in " + path)
		}
		if block.Type == "CERTIFICATE" {
			sum := sha256.Sum256(block.Bytes)
			h := strings.ToUpper(hex.EncodeToString(sum[:]))
			parts := make([]string, 0, len(sum))
			for i := 0; i < len(h); i += 2 {
				parts = append(parts, h[i:i+2])
			}
			return strings.Join(parts, ":"), nil
		}
	}
}
