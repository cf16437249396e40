package clientconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/haven-platform/haven/internal/atomicfile"
	"gopkg.in/yaml.v3"
)

// Config is the whole file: the contexts and which one is current.
type Config struct {
	// Current names the context commands use when none is given. It may
	// name no context (after a hand edit); CurrentContext then reports
	// none.
	Current string
	// Contexts in the order they were added; names are unique.
	Contexts []Context
}

// fileConfig and fileContext are the on-disk form. They are separate from
// Config and Context so that the real token is written only here, while
// every other way of printing a Context masks it.
type fileConfig struct {
	Current  string        `yaml:"current,omitempty"`
	Contexts []fileContext `yaml:"contexts"`
}

type fileContext struct {
	Name   string `yaml:"name"`
	Server string `yaml:"server"`
	CA     string `yaml:"ca,omitempty"`
	Token  string `yaml:"token,omitempty"`
}

// header opens every saved file, for whoever opens it in an editor.
const header = "# Haven CLI contexts, written by `haven login` and `haven context`.\n# Holds API tokens: keep this file private (0600).\n"

// DefaultPath is $HAVEN_CONFIG when set, else ~/.haven/config.
func DefaultPath() string {
	if p := os.Getenv("HAVEN_CONFIG"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		// No home (a bare container): fall back to the working directory
		// rather than failing every command that only reads contexts.
		return filepath.Join(".haven", "config")
	}
	return filepath.Join(home, ".haven", "config")
}

// Load reads the config at path. A missing file is an empty config, not an
// error: a fresh machine has no contexts yet. CA paths written relative
// are taken relative to the file's directory, as kubeconfig does, and
// returned absolute.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("clientconfig: %w", err)
	}
	var f fileConfig
	if err := yaml.Unmarshal(data, &f); err != nil {
		// Not %w: yaml quotes the offending value, which may be a token.
		return nil, fmt.Errorf("clientconfig: %s: %s", path, scrubTokens(err.Error()))
	}
	c := &Config{Current: f.Current}
	base := filepath.Dir(path)
	for _, fc := range f.Contexts {
		ctx := Context(fc)
		if ctx.CA != "" && !ctx.caInline() && !filepath.IsAbs(ctx.CA) {
			if abs, err := filepath.Abs(filepath.Join(base, ctx.CA)); err == nil {
				ctx.CA = abs
			}
		}
		c.Contexts = append(c.Contexts, ctx)
	}
	return c, nil
}

// Save writes c to path: validated first, then through a temporary file
// and a rename so a crash or a concurrent CLI never leaves half a file, with
// mode 0600 from the first byte. A missing directory is created 0700. When
// path is a symlink (dotfiles kept elsewhere), the file it points to is
// replaced and the link kept.
func (c *Config) Save(path string) error {
	f := fileConfig{Current: c.Current, Contexts: []fileContext{}}
	seen := map[string]bool{}
	for _, ctx := range c.Contexts {
		if err := ctx.Validate(); err != nil {
			return fmt.Errorf("clientconfig: %w", err)
		}
		if seen[ctx.Name] {
			return errorf("clientconfig: two contexts named %q", ctx.Name)
		}
		seen[ctx.Name] = true
		f.Contexts = append(f.Contexts, fileContext(ctx))
	}
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("clientconfig: %w", err)
	}
	enc.Close()
	data := buf.Bytes()

	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("clientconfig: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("clientconfig: save %s: %w", path, err)
	}
	return nil
}

// Use makes the named context current.
func (c *Config) Use(name string) error {
	if c.index(name) < 0 {
		return c.notFound(name)
	}
	c.Current = name
	return nil
}

// Upsert replaces the context with ctx's name, keeping its place, or adds
// ctx at the end. It does not change the current context; a caller that
// wants the new context used calls Use.
func (c *Config) Upsert(ctx Context) {
	if i := c.index(ctx.Name); i >= 0 {
		c.Contexts[i] = ctx
		return
	}
	c.Contexts = append(c.Contexts, ctx)
}

// Remove deletes the named context. Removing the current one leaves no
// context current, rather than silently switching to another server.
func (c *Config) Remove(name string) error {
	i := c.index(name)
	if i < 0 {
		return c.notFound(name)
	}
	c.Contexts = slices.Delete(c.Contexts, i, i+1)
	if c.Current == name {
		c.Current = ""
	}
	return nil
}

// CurrentContext returns the current context, if Current names one.
func (c *Config) CurrentContext() (Context, bool) {
	if i := c.index(c.Current); i >= 0 && c.Current != "" {
		return c.Contexts[i], true
	}
	return Context{}, false
}

// Get returns the named context.
func (c *Config) Get(name string) (Context, bool) {
	if i := c.index(name); i >= 0 {
		return c.Contexts[i], true
	}
	return Context{}, false
}

func (c *Config) index(name string) int {
	return slices.IndexFunc(c.Contexts, func(ctx Context) bool { return ctx.Name == name })
}

func (c *Config) notFound(name string) error {
	names := make([]string, len(c.Contexts))
	for i, ctx := range c.Contexts {
		names[i] = ctx.Name
	}
	return errorf("clientconfig: no context %q (have: %v)", name, names)
}

// tokenPattern matches what looks like a Haven token inside a message.
var tokenPattern = regexp.MustCompile(`hvn_[A-Za-z0-9_\-]+`)

// errorf is fmt.Errorf for messages that quote user input (a name, a
// server), which a slip of the keyboard can turn into a token.
func errorf(format string, args ...any) error {
	return errors.New(scrubTokens(fmt.Sprintf(format, args...)))
}

// scrubTokens masks every token-looking word in s, for messages built by
// code that does not know which of its inputs are secret.
func scrubTokens(s string) string {
	return tokenPattern.ReplaceAllStringFunc(s, MaskToken)
}
