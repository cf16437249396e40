package pki

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
)

// keyPairReloader serves a certificate and key from files and reloads them
// when either file changes. Checking costs two stat calls per handshake,
// which is nothing next to the handshake itself.
type keyPairReloader struct {
	certFile, keyFile string

	mu    sync.Mutex
	cert  *tls.Certificate
	stamp string // modification times and sizes of both files when cert was loaded
}

// GetCertificate implements tls.Config.GetCertificate. When the files
// cannot be loaded (a rotation caught between writing the certificate and
// the key) it keeps serving the previous pair and tries again on the next
// handshake.
func (r *keyPairReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	stamp, statErr := r.currentStamp()
	r.mu.Lock()
	defer r.mu.Unlock()
	if statErr == nil && stamp != r.stamp {
		c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
		if err == nil {
			r.cert, r.stamp = &c, stamp
		} else if r.cert == nil {
			return nil, fmt.Errorf("pki: load %s: %w", r.certFile, err)
		}
	}
	if r.cert == nil {
		return nil, fmt.Errorf("pki: load %s: %w", r.certFile, statErr)
	}
	return r.cert, nil
}

func (r *keyPairReloader) currentStamp() (string, error) {
	c, err := os.Stat(r.certFile)
	if err != nil {
		return "", err
	}
	k, err := os.Stat(r.keyFile)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d/%d/%d/%d", c.ModTime().UnixNano(), c.Size(), k.ModTime().UnixNano(), k.Size()), nil
}
