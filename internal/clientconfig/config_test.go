package clientconfig

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	token    = "hvn_abcdSECRETSECRETSECRETSECRET"
	inlineCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
)

func sample() *Config {
	c := &Config{}
	c.Upsert(Context{Name: "local", Server: "https://127.0.0.1:7400", CA: "/var/lib/haven/tls/ca.crt", Token: token})
	c.Upsert(Context{Name: "sock", Server: "/run/haven/api.sock"})
	c.Upsert(Context{Name: "prod", Server: "https://haven.example.com:443", CA: inlineCA, Token: "hvn_other"})
	return c
}

func TestMissingFileIsEmpty(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "nope", "config"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Current != "" || len(c.Contexts) != 0 {
		t.Errorf("got %+v, want empty", c)
	}
	if _, ok := c.CurrentContext(); ok {
		t.Error("empty config has a current context")
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "home", ".haven", "config")
	c := sample()
	if err := c.Use("prod"); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip:\n got %#v\nwant %#v", got.Contexts, c.Contexts)
	}
	if ctx, ok := got.CurrentContext(); !ok || ctx.Name != "prod" || ctx.Token != "hvn_other" {
		t.Errorf("current = %v, %v", ctx, ok)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(filepath.Dir(path))
	if di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", di.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), token) {
		t.Error("the file itself must hold the real token")
	}
	if !strings.HasPrefix(string(data), "# Haven CLI contexts") {
		t.Errorf("no header:\n%s", data)
	}
}

func TestSaveIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte("current: old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A reader holding the old file keeps seeing it whole: Save replaces
	// the file by rename, never rewrites it in place.
	reader, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	if err := sample().Save(path); err != nil {
		t.Fatal(err)
	}
	old := make([]byte, 64)
	n, _ := reader.Read(old)
	if string(old[:n]) != "current: old\n" {
		t.Errorf("old reader saw %q", old[:n])
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("a looser existing file stays %v, want 0600", fi.Mode().Perm())
	}

	// A config that fails validation leaves the file as it was.
	before, _ := os.ReadFile(path)
	bad := sample()
	bad.Upsert(Context{Name: "bad", Server: "http://plain.example.com"})
	if err := bad.Save(path); err == nil {
		t.Fatal("saved a plain-http context")
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) {
		t.Error("failed Save changed the file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries, want 1 (no temp files left)", len(entries))
	}
}

func TestSaveThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles", "haven.yaml")
	os.MkdirAll(filepath.Dir(real), 0o700)
	os.WriteFile(real, nil, 0o600)
	link := filepath.Join(dir, "config")
	if err := os.Symlink(real, link); err != nil {
		t.Skip(err)
	}
	if err := sample().Save(link); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("symlink replaced by a file")
	}
	c, err := Load(real)
	if err != nil || len(c.Contexts) != 3 {
		t.Errorf("target not written: %v, %v", c, err)
	}
}

func TestUseUpsertRemove(t *testing.T) {
	c := sample()
	if err := c.Use("nope"); err == nil {
		t.Error("Use of a missing context succeeded")
	}
	if err := c.Use("local"); err != nil {
		t.Fatal(err)
	}

	// Upsert replaces in place and leaves Current alone.
	c.Upsert(Context{Name: "local", Server: "https://127.0.0.1:7401", Token: "hvn_new"})
	if names(c) != "local,sock,prod" {
		t.Errorf("order after replace: %s", names(c))
	}
	if ctx, _ := c.CurrentContext(); ctx.Server != "https://127.0.0.1:7401" || ctx.CA != "" {
		t.Errorf("replaced context = %v", ctx)
	}
	c.Upsert(Context{Name: "dev", Server: "https://dev.example.com"})
	if names(c) != "local,sock,prod,dev" || c.Current != "local" {
		t.Errorf("after add: %s, current %q", names(c), c.Current)
	}
	if ctx, ok := c.Get("dev"); !ok || ctx.Server != "https://dev.example.com" {
		t.Errorf("Get(dev) = %v, %v", ctx, ok)
	}

	if err := c.Remove("sock"); err != nil {
		t.Fatal(err)
	}
	if names(c) != "local,prod,dev" || c.Current != "local" {
		t.Errorf("after remove: %s, current %q", names(c), c.Current)
	}
	if err := c.Remove("sock"); err == nil {
		t.Error("second Remove succeeded")
	}
	// Removing the current context leaves none current.
	if err := c.Remove("local"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.CurrentContext(); ok || c.Current != "" {
		t.Errorf("current after removing it: %q", c.Current)
	}
}

func TestTokenNeverShown(t *testing.T) {
	c := sample()
	c.Use("local")
	ctx, _ := c.CurrentContext()
	jsonCtx, _ := json.Marshal(ctx)
	jsonCfg, _ := json.Marshal(c)
	yamlCtx, _ := yaml.Marshal(ctx)
	yamlCfg, _ := yaml.Marshal(c)
	shown := map[string]string{
		"String": ctx.String(),
		"%v":     fmt.Sprintf("%v", ctx),
		"%+v":    fmt.Sprintf("%+v", ctx),
		"%#v":    fmt.Sprintf("%#v", ctx),
		//lint:ignore S1025 the test is of what %s prints
		"%s":          fmt.Sprintf("%s", ctx),
		"%q":          fmt.Sprintf("%q", ctx),
		"config %v":   fmt.Sprintf("%v", c),
		"config %+v":  fmt.Sprintf("%+v", *c),
		"config %#v":  fmt.Sprintf("%#v", c.Contexts),
		"json":        string(jsonCtx),
		"json config": string(jsonCfg),
		"yaml":        string(yamlCtx),
		"yaml config": string(yamlCfg),
	}
	for how, s := range shown {
		if strings.Contains(s, "SECRET") {
			t.Errorf("%s shows the token: %s", how, s)
		}
		if !strings.Contains(s, "hvn_abcd…") {
			t.Errorf("%s does not show the masked token: %s", how, s)
		}
	}
	if !strings.Contains(string(jsonCtx), `"token":"hvn_abcd…"`) {
		t.Errorf("json = %s", jsonCtx)
	}

	// Errors that quote input a token may have slipped into.
	path := filepath.Join(t.TempDir(), "config")
	os.WriteFile(path, []byte("contexts: "+token+"\n"), 0o600)
	_, loadErr := Load(path)
	errs := map[string]error{
		"Load":              loadErr,
		"Use":               c.Use(token),
		"Remove":            c.Remove(token),
		"Validate":          Context{Name: "x", Server: token}.Validate(),
		"Validate name":     Context{Name: " " + token, Server: "https://h"}.Validate(),
		"Validate userinfo": Context{Name: "x", Server: "https://me:" + token + "@h"}.Validate(),
	}
	for how, err := range errs {
		if err == nil {
			t.Errorf("%s: no error", how)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s error shows the token: %v", how, err)
		}
	}
}

func TestMaskToken(t *testing.T) {
	for in, want := range map[string]string{
		"":                                  "",
		"hvn_abcdefghijklmnopqrstuvwxyz012": "hvn_abcd…",
		"hvn_short":                         "hvn_…",
		"abc":                               "a…",
	} {
		if got := MaskToken(in); got != want {
			t.Errorf("MaskToken(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := []Context{
		{Name: "a", Server: "https://127.0.0.1:7400"},
		{Name: "a", Server: "https://[::1]:7400", CA: "/etc/haven/ca.crt"},
		{Name: "a", Server: "https://h", CA: inlineCA},
		{Name: "a", Server: "/run/haven.sock"},
		{Name: "a", Server: "unix:///run/haven.sock"},
	}
	for _, c := range ok {
		if err := c.Validate(); err != nil {
			t.Errorf("%v: %v", c, err)
		}
	}
	bad := []Context{
		{Server: "https://h"},
		{Name: "a"},
		{Name: "a", Server: "http://h"},
		{Name: "a", Server: "h:7400"},
		{Name: "a", Server: "unix://run/haven.sock"},
		{Name: "a", Server: "run/haven.sock"},
		{Name: "a", Server: "https://h", CA: "ca.crt"},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%v: no error", c)
		}
	}
	two := &Config{Contexts: []Context{{Name: "a", Server: "https://h"}, {Name: "a", Server: "https://g"}}}
	if err := two.Save(filepath.Join(t.TempDir(), "config")); err == nil {
		t.Error("saved two contexts with one name")
	}
}

func TestSocketPath(t *testing.T) {
	for server, want := range map[string]string{
		"/run/h.sock":        "/run/h.sock",
		"unix:///run/h.sock": "/run/h.sock",
		"https://h":          "",
	} {
		got, ok := Context{Server: server}.SocketPath()
		if got != want || ok != (want != "") {
			t.Errorf("SocketPath(%q) = %q, %v", server, got, ok)
		}
	}
}

func TestCAPEMAndRelativePaths(t *testing.T) {
	dir := t.TempDir()
	caFile := filepath.Join(dir, "certs", "ca.crt")
	os.MkdirAll(filepath.Dir(caFile), 0o700)
	os.WriteFile(caFile, []byte(inlineCA), 0o644)
	// Written by hand with a path relative to the config file.
	path := filepath.Join(dir, "config")
	os.WriteFile(path, []byte("current: a\ncontexts:\n  - name: a\n    server: https://h\n    ca: certs/ca.crt\n  - name: b\n    server: https://h\n    ca: |\n      "+strings.ReplaceAll(strings.TrimSpace(inlineCA), "\n", "\n      ")+"\n  - name: c\n    server: https://h\n"), 0o600)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.Get("a")
	if a.CA != caFile {
		t.Errorf("relative CA = %q, want %q", a.CA, caFile)
	}
	for _, name := range []string{"a", "b"} {
		ctx, _ := c.Get(name)
		pem, err := ctx.CAPEM()
		if err != nil || strings.TrimSpace(string(pem)) != strings.TrimSpace(inlineCA) {
			t.Errorf("%s: CAPEM = %q, %v", name, pem, err)
		}
	}
	if pem, err := (Context{Name: "c"}).CAPEM(); pem != nil || err != nil {
		t.Errorf("empty CA: %q, %v", pem, err)
	}
	if _, err := (Context{Name: "d", CA: filepath.Join(dir, "missing")}).CAPEM(); err == nil {
		t.Error("missing CA file: no error")
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("HAVEN_CONFIG", "/elsewhere/haven.yaml")
	if got := DefaultPath(); got != "/elsewhere/haven.yaml" {
		t.Errorf("with HAVEN_CONFIG: %q", got)
	}
	t.Setenv("HAVEN_CONFIG", "")
	t.Setenv("HOME", "/home/someone")
	if got := DefaultPath(); got != "/home/someone/.haven/config" {
		t.Errorf("default: %q", got)
	}
}

func names(c *Config) string {
	var s []string
	for _, ctx := range c.Contexts {
		s = append(s, ctx.Name)
	}
	return strings.Join(s, ",")
}
