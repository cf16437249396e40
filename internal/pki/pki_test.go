package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnsureServerTLSCreatesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	_, p, err := EnsureServerTLS(dir, []string{"api.example.test", "10.1.2.3", "[fd00::7]"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	want := Paths{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "server.crt"), Key: filepath.Join(dir, "server.key")}
	if p != want {
		t.Fatalf("paths = %+v, want %+v", p, want)
	}
	for path, mode := range map[string]os.FileMode{
		dir:                          0o700 | os.ModeDir,
		p.CA:                         0o644,
		filepath.Join(dir, "ca.key"): 0o600,
		p.Cert:                       0o644,
		p.Key:                        0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", filepath.Base(path), fi.Mode(), mode)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("dir holds %d entries, want 4 (no temp files left)", len(entries))
	}

	ca := readCert(t, p.CA)
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA: IsCA=%v KeyUsage=%v", ca.IsCA, ca.KeyUsage)
	}
	if !strings.HasPrefix(ca.Subject.CommonName, "Haven local CA ") || len(ca.Subject.CommonName) <= len("Haven local CA ") {
		t.Errorf("CA CommonName = %q", ca.Subject.CommonName)
	}
	checkP256(t, ca)
	if life := ca.NotAfter.Sub(ca.NotBefore); life < 9*365*24*time.Hour {
		t.Errorf("CA lives %v, want about 10 years", life)
	}

	srv := readCert(t, p.Cert)
	checkP256(t, srv)
	if srv.IsCA || len(srv.ExtKeyUsage) != 1 || srv.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("server cert: IsCA=%v ExtKeyUsage=%v", srv.IsCA, srv.ExtKeyUsage)
	}
	if life := srv.NotAfter.Sub(srv.NotBefore); life < 360*24*time.Hour || life > 370*24*time.Hour {
		t.Errorf("server cert lives %v, want about a year", life)
	}
	host, _ := os.Hostname()
	for _, name := range []string{"localhost", "127.0.0.1", "::1", host, "api.example.test", "10.1.2.3", "fd00::7"} {
		if err := srv.VerifyHostname(name); err != nil {
			t.Errorf("server cert does not name %q: %v", name, err)
		}
	}
	if err := srv.CheckSignatureFrom(ca); err != nil {
		t.Errorf("server cert not signed by the CA: %v", err)
	}
}

func TestServeAndVerify(t *testing.T) {
	dir := t.TempDir()
	cfg, p, err := EnsureServerTLS(dir, []string{"api.example.test"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x", cfg.MinVersion)
	}
	addr := serve(t, cfg)
	_, port, _ := net.SplitHostPort(addr)

	client, err := ClientTLS(p.CA)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		get(t, client, "https://"+net.JoinHostPort(host, port)+"/")
	}
	// A name the server is reached by through DNS or a tunnel.
	named := client.Clone()
	named.ServerName = "api.example.test"
	if err := handshake(addr, named); err != nil {
		t.Errorf("as api.example.test: %v", err)
	}
	// A name the certificate does not carry.
	other := client.Clone()
	other.ServerName = "evil.example.test"
	var hostErr x509.HostnameError
	if err := handshake(addr, other); !errors.As(err, &hostErr) {
		t.Errorf("as evil.example.test: err = %v, want a hostname error", err)
	}
}

func TestClientWithoutTheCAFails(t *testing.T) {
	cfg, _, err := EnsureServerTLS(t.TempDir(), nil, "", "")
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, cfg)
	err = handshake(addr, &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "localhost"})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("err = %v, want x509.UnknownAuthorityError", err)
	}
}

func TestOldTLSRefused(t *testing.T) {
	cfg, p, err := EnsureServerTLS(t.TempDir(), nil, "", "")
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, cfg)
	client, err := ClientTLS(p.CA)
	if err != nil {
		t.Fatal(err)
	}
	old := client.Clone()
	old.ServerName = "localhost"
	old.MinVersion = tls.VersionTLS10
	old.MaxVersion = tls.VersionTLS11
	if err := handshake(addr, old); err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.1 handshake: err = %v, want a protocol version error", err)
	}
	v12 := client.Clone()
	v12.ServerName = "localhost"
	v12.MaxVersion = tls.VersionTLS12
	if err := handshake(addr, v12); err != nil {
		t.Errorf("TLS 1.2 handshake: %v", err)
	}
}

func TestSecondCallReuses(t *testing.T) {
	dir := t.TempDir()
	_, p, err := EnsureServerTLS(dir, []string{"a.example.test"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	fp1 := fingerprint(t, p.CA)
	cert1 := readFile(t, p.Cert)
	key1 := readFile(t, p.Key)

	// Same request, and one asking for less: both keep everything.
	for _, extra := range [][]string{{"a.example.test"}, nil} {
		_, p2, err := EnsureServerTLS(dir, extra, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if p2 != p {
			t.Fatalf("paths changed: %+v, %+v", p, p2)
		}
		if fingerprint(t, p.CA) != fp1 {
			t.Error("CA replaced")
		}
		if !bytes.Equal(readFile(t, p.Cert), cert1) || !bytes.Equal(readFile(t, p.Key), key1) {
			t.Errorf("server cert re-issued for extra hosts %v", extra)
		}
	}
}

func TestReissueNearExpiry(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	_, p, err := ensureServerTLS(dir, []string{"a.example.test"}, "", "", now)
	if err != nil {
		t.Fatal(err)
	}
	fp := fingerprint(t, p.CA)
	old := readCert(t, p.Cert)

	// 300 days on, the certificate still has two months: kept.
	if _, _, err := ensureServerTLS(dir, nil, "", "", now.Add(300*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if readCert(t, p.Cert).SerialNumber.Cmp(old.SerialNumber) != 0 {
		t.Fatal("re-issued with two months left")
	}

	// 340 days on, under 30 days left: re-issued from the same CA, keeping
	// the extra name even though this call does not ask for it.
	later := now.Add(340 * 24 * time.Hour)
	if _, _, err := ensureServerTLS(dir, nil, "", "", later); err != nil {
		t.Fatal(err)
	}
	renewed := readCert(t, p.Cert)
	if renewed.SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Fatal("not re-issued with under 30 days left")
	}
	if !renewed.NotAfter.After(later.Add(300 * 24 * time.Hour)) {
		t.Errorf("renewed NotAfter = %v", renewed.NotAfter)
	}
	if fingerprint(t, p.CA) != fp {
		t.Error("CA replaced when only the server cert expired")
	}
	if err := renewed.CheckSignatureFrom(readCert(t, p.CA)); err != nil {
		t.Error(err)
	}
	if err := renewed.VerifyHostname("a.example.test"); err != nil {
		t.Errorf("renewed cert dropped a name: %v", err)
	}
}

func TestReissueForNewName(t *testing.T) {
	dir := t.TempDir()
	_, p, err := EnsureServerTLS(dir, []string{"a.example.test"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	fp := fingerprint(t, p.CA)
	if _, _, err := EnsureServerTLS(dir, []string{"b.example.test", "192.0.2.9"}, "", ""); err != nil {
		t.Fatal(err)
	}
	c := readCert(t, p.Cert)
	for _, name := range []string{"a.example.test", "b.example.test", "192.0.2.9", "localhost"} {
		if err := c.VerifyHostname(name); err != nil {
			t.Errorf("after adding names: %v", err)
		}
	}
	if fingerprint(t, p.CA) != fp {
		t.Error("CA replaced when adding a name")
	}
}

func TestNewCAWhenServerCertFromAnother(t *testing.T) {
	// A server cert left over from a CA that was removed must not be kept.
	dir := t.TempDir()
	_, p, err := EnsureServerTLS(dir, nil, "", "")
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(p.CA)
	os.Remove(filepath.Join(dir, "ca.key"))
	if _, _, err := EnsureServerTLS(dir, nil, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := readCert(t, p.Cert).CheckSignatureFrom(readCert(t, p.CA)); err != nil {
		t.Errorf("server cert not from the new CA: %v", err)
	}
}

func TestCorruptCAIsAnError(t *testing.T) {
	dir := t.TempDir()
	_, p, err := EnsureServerTLS(dir, nil, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.CA, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := EnsureServerTLS(dir, nil, "", ""); err == nil || !strings.Contains(err.Error(), "remove") {
		t.Fatalf("err = %v, want an error telling how to start over", err)
	}
	if string(readFile(t, p.CA)) != "garbage" {
		t.Error("a corrupt CA was overwritten")
	}
}

func TestOperatorCertificate(t *testing.T) {
	opDir := t.TempDir()
	certFile, keyFile := selfSigned(t, opDir, "op-1")
	certBefore, keyBefore := readFile(t, certFile), readFile(t, keyFile)

	dir := filepath.Join(t.TempDir(), "unused")
	cfg, p, err := EnsureServerTLS(dir, []string{"ignored.example.test"}, certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if p != (Paths{Cert: certFile, Key: keyFile}) {
		t.Errorf("paths = %+v", p)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("generated-TLS dir touched: %v", err)
	}

	addr := serve(t, cfg)
	client, err := ClientTLS(certFile) // the self-signed cert is its own CA
	if err != nil {
		t.Fatal(err)
	}
	client.ServerName = "localhost"
	if got := servedCN(t, addr, client); got != "op-1" {
		t.Errorf("served %q, want the operator's op-1", got)
	}

	// The operator rotates the pair in place: the next handshake serves it.
	time.Sleep(10 * time.Millisecond) // let the modification time move
	rotatedCert, rotatedKey := selfSigned(t, t.TempDir(), "op-2")
	os.WriteFile(certFile, readFile(t, rotatedCert), 0o644)
	os.WriteFile(keyFile, readFile(t, rotatedKey), 0o600)
	client2, err := ClientTLS(certFile)
	if err != nil {
		t.Fatal(err)
	}
	client2.ServerName = "localhost"
	if got := servedCN(t, addr, client2); got != "op-2" {
		t.Errorf("after rotation served %q, want op-2", got)
	}

	// A second start with the original pair leaves the files alone.
	os.WriteFile(certFile, certBefore, 0o644)
	os.WriteFile(keyFile, keyBefore, 0o600)
	if _, _, err := EnsureServerTLS(dir, nil, certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, certFile), certBefore) || !bytes.Equal(readFile(t, keyFile), keyBefore) {
		t.Error("operator files rewritten")
	}
}

func TestOperatorCertificateErrors(t *testing.T) {
	certA, _ := selfSigned(t, t.TempDir(), "a")
	_, keyB := selfSigned(t, t.TempDir(), "b")
	for name, files := range map[string][2]string{
		"cert only":  {certA, ""},
		"key only":   {"", keyB},
		"mismatched": {certA, keyB},
		"missing":    {certA + ".nope", keyB},
	} {
		if _, _, err := EnsureServerTLS(t.TempDir(), nil, files[0], files[1]); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestClientTLSErrors(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.crt")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o644)
	for _, f := range []string{"", filepath.Join(t.TempDir(), "missing"), notPEM} {
		if _, err := ClientTLS(f); err == nil {
			t.Errorf("ClientTLS(%q): no error", f)
		}
	}
}

// serve runs an HTTPS server with cfg on a loopback port until the test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		// Refused handshakes are the point of some tests; keep them quiet.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go srv.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func get(t *testing.T, cfg *tls.Config, url string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "ok" {
		t.Fatalf("GET %s: %q", url, body)
	}
}

func handshake(addr string, cfg *tls.Config) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	return conn.Close()
}

func servedCN(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// selfSigned writes a self-signed server certificate for localhost, as an
// operator might bring.
func selfSigned(t *testing.T, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "op.crt"), filepath.Join(dir, "op.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certFile, keyFile
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(readFile(t, path))
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fingerprint(t *testing.T, path string) string {
	t.Helper()
	fp, err := Fingerprint(path)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

func checkP256(t *testing.T, c *x509.Certificate) {
	t.Helper()
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("%s: key is %T, want ECDSA P-256", c.Subject.CommonName, c.PublicKey)
	}
}
