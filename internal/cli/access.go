package cli

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/haven-platform/haven/internal/api"
	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/client"
	"github.com/haven-platform/haven/internal/clientconfig"
	"github.com/haven-platform/haven/internal/spec"
)

// readLine reads one line from stdin (a password or a code), without its
// newline.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read from standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// parseBindings reads ROLE@ENV bindings ("developer@prod", "admin").
func parseBindings(pairs []string) ([]auth.Binding, error) {
	var out []auth.Binding
	for _, p := range pairs {
		b, err := auth.ParseBinding(p)
		if err != nil {
			return nil, &ExitError{Code: ExitInvalid, Err: err}
		}
		out = append(out, b)
	}
	return out, nil
}

func newLoginCmd(g *globals) *cobra.Command {
	var user, code, name string
	var passwordStdin bool
	c := &cobra.Command{
		Use:   "login --server https://HOST:7443 --user NAME",
		Short: "Log in to a server and save it as the current context in ~/.haven/config",
		Long: `Log in with a password (and a TOTP code when MFA is on) and keep the session
token in a context of ~/.haven/config, like kubeconfig. The password is read
from standard input. Pass --ca with the server's CA certificate (the server's
<data-dir>/tls/ca.crt) unless a public CA signed it.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if g.addr == "" {
				return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("pass --server https://HOST:PORT")}
			}
			if user == "" {
				return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("pass --user NAME")}
			}
			password, err := readPassword(g, bufio.NewReader(os.Stdin), passwordStdin)
			if err != nil {
				return err
			}
			resp, err := client.New(g.conn.addr, "", g.conn.tls).Login(c.Context(), user, password, code)
			if err != nil {
				return err
			}
			if name == "" {
				name = user + "@" + hostOf(g.addr)
			}
			path := clientconfig.DefaultPath()
			cfg, err := clientconfig.Load(path)
			if err != nil {
				return err
			}
			cfg.Upsert(clientconfig.Context{Name: name, Server: g.addr, CA: g.ca, Token: resp.Token})
			if err := cfg.Use(name); err != nil {
				return err
			}
			if err := cfg.Save(path); err != nil {
				return err
			}
			fmt.Fprintf(g.out(), "Logged in as %s; context %q saved in %s (expires %s)\n", user, name, path, resp.Info.Expires.Local().Format(time.RFC1123))
			return nil
		},
	}
	c.Flags().StringVar(&user, "user", "", "user name")
	c.Flags().StringVar(&code, "code", "", "current TOTP code, for users with MFA")
	c.Flags().StringVar(&name, "context-name", "", "name of the saved context (default USER@HOST)")
	c.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input without a prompt")
	return c
}

func hostOf(server string) string {
	if u, err := url.Parse(server); err == nil && u.Host != "" {
		return u.Host
	}
	return server
}

func newTokenCmd(g *globals) *cobra.Command {
	root := &cobra.Command{Use: "token", Short: "Create, list and revoke API tokens (for CI and scripts)"}
	var binds []string
	var ttl time.Duration
	var user, code string
	var reauth, passwordStdin bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a token; it is printed once and stored hashed",
		Long: `Create an API token. A token never carries more than the credential you run
this with, nor outlives it: from a 12-hour login session, tokens live at most
12 hours. With --reauth you give your password again (and a current code when
MFA is on), read like haven login reads it; the password is then the creating
credential, so the token may carry all your roles and live up to a year.
Wrong passwords count toward the login rate limit.`,
		Example: "  haven token create ci-deploy --bind developer@staging --ttl 720h --reauth\n  haven token create ci-deploy --ttl 2160h --reauth --password-stdin < password.txt",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if !reauth && (passwordStdin || code != "") {
				return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("--password-stdin and --code give the password again and go with --reauth: add --reauth")}
			}
			bindings, err := parseBindings(binds)
			if err != nil {
				return err
			}
			req := api.TokenRequest{Name: args[0], User: user, Bindings: bindings, TTL: spec.Duration(ttl), Code: code}
			in := bufio.NewReader(os.Stdin) // one reader: the password and the code share stdin
			if reauth {
				if req.Password, err = readPassword(g, in, passwordStdin); err != nil {
					return err
				}
			}
			cl := g.client()
			resp, err := cl.CreateToken(c.Context(), req)
			if reauth && client.MFARequired(err) && req.Code == "" {
				if req.Code, err = readCode(g, in, "MFA is on: current code from your authenticator: ", "--code"); err != nil {
					return err
				}
				resp, err = cl.CreateToken(c.Context(), req)
			}
			if err != nil {
				if !reauth && client.BeyondCredential(err) {
					return fmt.Errorf("%w\nadd --reauth to give your password again: a token created that way may carry all your roles and live up to a year", err)
				}
				return err
			}
			if done, err := g.printData(resp); done {
				return err
			}
			fmt.Fprintf(g.errw(), "Token %s (id %s) expires %s. It is shown this once:\n", resp.Info.Name, resp.Info.ID, resp.Info.Expires.Local().Format(time.RFC1123))
			fmt.Fprintln(g.out(), resp.Token)
			return nil
		},
	}
	create.Flags().StringArrayVar(&binds, "bind", nil, "ROLE@ENV the token may act as (repeatable; default: all that the credential you run this with acts as, or with --reauth all your roles; never more)")
	create.Flags().DurationVar(&ttl, "ttl", 0, "lifetime (default 90 days or, if sooner, when the credential you run this with expires; at most a year; past your session's end needs --reauth)")
	create.Flags().StringVar(&user, "user", "", "whose token (admins only; default yourself); with --reauth you give your own password")
	create.Flags().BoolVar(&reauth, "reauth", false, "give your password again (prompted, or --password-stdin) so the token is bounded by your roles and a year, not by the calling credential")
	create.Flags().BoolVar(&passwordStdin, "password-stdin", false, "with --reauth: read the password from standard input without a prompt")
	create.Flags().StringVar(&code, "code", "", "with --reauth: current TOTP code, for users with MFA (asked for when needed)")
	var all bool
	list := &cobra.Command{
		Use: "list", Short: "List tokens (never their secrets)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			tokens, err := g.client().ListTokens(c.Context(), all)
			if err != nil {
				return err
			}
			if done, err := g.printData(tokens); done {
				return err
			}
			t := newTable(g.out(), "ID", "NAME", "USER", "BINDINGS", "EXPIRES", "LAST USED")
			for _, tk := range tokens {
				t.row(tk.ID, tk.Name, tk.User, bindingsString(tk.Bindings), tk.Expires.Local().Format("2006-01-02"), ago(tk.LastUsed))
			}
			return t.flush()
		},
	}
	list.Flags().BoolVar(&all, "all", false, "everyone's tokens (admins only)")
	revoke := &cobra.Command{
		Use: "revoke ID", Short: "Revoke a token", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := g.client().RevokeToken(c.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.out(), "token %s revoked\n", args[0])
			return nil
		},
	}
	root.AddCommand(create, list, revoke)
	return root
}

func bindingsString(bs []auth.Binding) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = b.String()
	}
	return orDash(strings.Join(parts, ","))
}

func newUserCmd(g *globals) *cobra.Command {
	root := &cobra.Command{Use: "user", Short: "Manage users and their roles per environment (admins)"}
	var binds []string
	var passwordStdin bool
	add := &cobra.Command{
		Use:     "add NAME --bind ROLE@ENV",
		Short:   "Add a user; without --password-stdin a password is generated and printed once",
		Example: "  haven user add ana --bind developer@staging --bind viewer@prod",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			bindings, err := parseBindings(binds)
			if err != nil {
				return err
			}
			password := ""
			if passwordStdin {
				if password, err = readLine(os.Stdin); err != nil {
					return err
				}
			} else {
				b := make([]byte, 18)
				_, _ = rand.Read(b)
				password = base64.RawURLEncoding.EncodeToString(b)
			}
			if err := g.client().AddUser(c.Context(), api.UserRequest{Name: args[0], Password: password, Bindings: bindings}); err != nil {
				return err
			}
			fmt.Fprintf(g.errw(), "user %s added (%s)\n", args[0], bindingsString(bindings))
			if !passwordStdin {
				fmt.Fprintf(g.errw(), "Initial password, shown this once:\n")
				fmt.Fprintln(g.out(), password)
			}
			return nil
		},
	}
	add.Flags().StringArrayVar(&binds, "bind", nil, "ROLE@ENV (repeatable): viewer, developer or devops on an environment or *; admin")
	add.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	list := &cobra.Command{
		Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			users, err := g.client().ListUsers(c.Context())
			if err != nil {
				return err
			}
			if done, err := g.printData(users); done {
				return err
			}
			t := newTable(g.out(), "NAME", "BINDINGS", "MFA")
			for _, u := range users {
				t.row(u.Name, bindingsString(u.Bindings), u.MFA)
			}
			return t.flush()
		},
	}
	remove := &cobra.Command{
		Use: "remove NAME", Short: "Remove a user and its tokens", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := g.client().RemoveUser(c.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.out(), "user %s removed\n", args[0])
			return nil
		},
	}
	var rebinds []string
	bind := &cobra.Command{
		Use: "bind NAME --bind ROLE@ENV", Short: "Replace a user's role bindings", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			bindings, err := parseBindings(rebinds)
			if err != nil {
				return err
			}
			if err := g.client().SetBindings(c.Context(), args[0], bindings); err != nil {
				return err
			}
			fmt.Fprintf(g.out(), "user %s: %s\n", args[0], bindingsString(bindings))
			return nil
		},
	}
	bind.Flags().StringArrayVar(&rebinds, "bind", nil, "ROLE@ENV (repeatable)")
	resetMFA := &cobra.Command{
		Use: "reset-mfa NAME", Short: "Turn a user's MFA off (they lost their device); they enrol again after logging in", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := g.client().ResetMFA(c.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.out(), "user %s: MFA off\n", args[0])
			return nil
		},
	}
	root.AddCommand(add, list, remove, bind, resetMFA)
	return root
}

func newMFACmd(g *globals) *cobra.Command {
	root := &cobra.Command{Use: "mfa", Short: "Multi-factor authentication (TOTP, RFC 6238)"}
	var code, current string
	var passwordStdin bool
	enable := &cobra.Command{
		Use:   "enable",
		Short: "Enrol an authenticator app (or move to a new one), then confirm with a current code",
		Long: `Asks for your password (and, when MFA is already on, a current code from
your authenticator), prints the otpauth:// URL and secret for the app, then
reads a code of the new secret (--code or standard input) to confirm. From
then on, login needs a code. When moving to a new device, the old one keeps
working until the new one is confirmed. A token alone cannot change MFA:
the password is read like haven login reads it.`,
		Example: "  haven mfa enable\n  haven mfa enable --password-stdin --current-code 123456 < password.txt",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			in := bufio.NewReader(os.Stdin) // one reader: the password and the codes share stdin
			password, err := readPassword(g, in, passwordStdin)
			if err != nil {
				return err
			}
			cl := g.client()
			resp, err := cl.EnableMFA(c.Context(), password, current)
			if client.MFARequired(err) && current == "" {
				if current, err = readCode(g, in, "MFA is on: current code from your authenticator: ", "--current-code"); err != nil {
					return err
				}
				resp, err = cl.EnableMFA(c.Context(), password, current)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out(), "otpauth URL: %s\nsecret:      %s\n", resp.URL, resp.Secret)
			if code == "" {
				if code, err = readCode(g, in, "Code from the new authenticator entry: ", "--code"); err != nil {
					return err
				}
			}
			if err := cl.ConfirmMFA(c.Context(), code); err != nil {
				return err
			}
			fmt.Fprintln(g.out(), "MFA is on")
			return nil
		},
	}
	enable.Flags().StringVar(&code, "code", "", "code of the new secret, to confirm without a prompt")
	enable.Flags().StringVar(&current, "current-code", "", "current code of the active secret, when MFA is already on")
	enable.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input without a prompt")
	var offCode string
	var offPasswordStdin bool
	disable := &cobra.Command{
		Use:   "disable",
		Short: "Turn your MFA off (needs your password and a current code)",
		Long:  "Turns MFA off for you after checking your password and a current code. Lost your device? An admin runs haven user reset-mfa NAME.",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			in := bufio.NewReader(os.Stdin)
			password, err := readPassword(g, in, offPasswordStdin)
			if err != nil {
				return err
			}
			if offCode == "" {
				if offCode, err = readCode(g, in, "Current code from your authenticator: ", "--code"); err != nil {
					return err
				}
			}
			if err := g.client().DisableMFA(c.Context(), password, offCode); err != nil {
				return err
			}
			fmt.Fprintln(g.out(), "MFA is off")
			return nil
		},
	}
	disable.Flags().StringVar(&offCode, "code", "", "current code, without a prompt")
	disable.Flags().BoolVar(&offPasswordStdin, "password-stdin", false, "read the password from standard input without a prompt")
	root.AddCommand(enable, disable)
	return root
}

// readPassword reads the caller's password from in, prompting on stderr
// unless --password-stdin says a script pipes it.
func readPassword(g *globals, in *bufio.Reader, quiet bool) (string, error) {
	if !quiet {
		fmt.Fprint(g.errw(), "Password: ")
		// At a terminal the password is read without echo, straight from
		// the descriptor; nothing can be buffered yet, since the password
		// is always the first thing read.
		if fd := int(os.Stdin.Fd()); in.Buffered() == 0 && term.IsTerminal(fd) {
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(g.errw())
			return string(b), err
		}
	}
	return readLine(in)
}

// readCode prompts for a one-time code and reads it from in; at the end of
// input it says which flag passes the code instead.
func readCode(g *globals, in *bufio.Reader, prompt, flag string) (string, error) {
	fmt.Fprint(g.errw(), prompt)
	code, err := readLine(in)
	if err != nil {
		return "", &ExitError{Code: ExitInvalid, Err: fmt.Errorf("a one-time code is needed and standard input has none: pass it with %s", flag)}
	}
	return strings.TrimSpace(code), nil
}
