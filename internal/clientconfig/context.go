package clientconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Context is one server the CLI can talk to.
type Context struct {
	// Name is how the user picks the context ("local", "prod").
	Name string
	// Server is "https://host:port", or a unix socket: an absolute path or
	// "unix:///absolute/path". Plain http is refused: the token would
	// cross the network in the clear.
	Server string
	// CA is the certificate authority to trust for an https Server, in one
	// of two forms: an absolute path to a PEM file (what `haven up` writes:
	// the server's ca.crt, so a re-issued CA is picked up), or the PEM text
	// itself, recognised by its "-----BEGIN" line (a context that travels
	// as one file, like kubeconfig's certificate-authority-data). Empty
	// means the system roots, for a server whose certificate the operator
	// got from a public CA. Ignored for a unix socket.
	CA string
	// Token is the API token, "hvn_…". Empty until the user logs in.
	Token string
}

// pemPrefix marks an inline CA.
const pemPrefix = "-----BEGIN"

// SocketPath returns the unix socket path when Server names one.
func (c Context) SocketPath() (string, bool) {
	if p, ok := strings.CutPrefix(c.Server, "unix://"); ok {
		return p, true
	}
	if filepath.IsAbs(c.Server) {
		return c.Server, true
	}
	return "", false
}

// CAPEM returns the PEM bytes of the CA to trust: the inline text, or the
// file's contents. It returns nil and no error when CA is empty.
func (c Context) CAPEM() ([]byte, error) {
	switch {
	case c.CA == "":
		return nil, nil
	case c.caInline():
		return []byte(c.CA), nil
	}
	data, err := os.ReadFile(c.CA)
	if err != nil {
		return nil, fmt.Errorf("context %q: CA: %w", c.Name, err)
	}
	return data, nil
}

func (c Context) caInline() bool {
	return strings.HasPrefix(strings.TrimSpace(c.CA), pemPrefix)
}

// Validate reports what is wrong with c, if anything. Save refuses a
// config holding an invalid context, so the file always stays usable.
func (c Context) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errorf("a context needs a name")
	}
	if c.Name != strings.TrimSpace(c.Name) {
		return errorf("context %q: name has leading or trailing spaces", c.Name)
	}
	if c.Server == "" {
		return errorf("context %q: no server", c.Name)
	}
	if p, ok := c.SocketPath(); ok {
		if !filepath.IsAbs(p) {
			return errorf("context %q: socket path %q is not absolute", c.Name, p)
		}
	} else {
		u, err := url.Parse(c.Server)
		if err == nil && u.User != nil {
			return errorf("context %q: server URL must not carry credentials; use the token", c.Name)
		}
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return errorf("context %q: server %q is neither https://host:port nor an absolute unix socket path", c.Name, c.Server)
		}
	}
	// A relative path would depend on the directory the CLI runs in.
	if c.CA != "" && !c.caInline() && !filepath.IsAbs(c.CA) {
		return errorf("context %q: CA path %q is not absolute", c.Name, c.CA)
	}
	return nil
}

// MaskToken shortens a token to what is safe to show: its first eight
// characters ("hvn_abcd…") for a full-length token, fewer for a short one,
// so the shown part never comes close to the whole secret.
func MaskToken(token string) string {
	if token == "" {
		return ""
	}
	n := 8
	if len(token) < 24 {
		n = min(4, len(token)/2)
	}
	return token[:n] + "…"
}

// String describes c with its token masked.
func (c Context) String() string {
	s := c.Name + " server=" + c.Server
	if c.CA != "" {
		s += " ca=" + c.caSummary()
	}
	if c.Token != "" {
		s += " token=" + MaskToken(c.Token)
	}
	return s
}

// GoString keeps %#v from printing the token.
func (c Context) GoString() string {
	return fmt.Sprintf("clientconfig.Context{Name:%q, Server:%q, CA:%q, Token:%q}", c.Name, c.Server, c.caSummary(), MaskToken(c.Token))
}

func (c Context) caSummary() string {
	if c.caInline() {
		return "(inline PEM)"
	}
	return c.CA
}

// shown is a Context as printed by `-o json` or `-o yaml`: the token masked.
type shown struct {
	Name   string `json:"name" yaml:"name"`
	Server string `json:"server" yaml:"server"`
	CA     string `json:"ca,omitempty" yaml:"ca,omitempty"`
	Token  string `json:"token,omitempty" yaml:"token,omitempty"`
}

func (c Context) shown() shown {
	return shown{Name: c.Name, Server: c.Server, CA: c.caSummary(), Token: MaskToken(c.Token)}
}

// MarshalJSON masks the token, so printing contexts as JSON cannot leak it.
// The config file is written from a separate form (see fileContext).
func (c Context) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "…" and paths stay readable
	err := enc.Encode(c.shown())
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}

// MarshalYAML masks the token, as MarshalJSON does.
func (c Context) MarshalYAML() (any, error) {
	return c.shown(), nil
}
