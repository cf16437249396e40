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
			if !passwordStdin {
				fmt.Fprint(g.errw(), "Password: ")
			}
			password, err := readLine(os.Stdin)
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
	var user string
	create := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a token; it is printed once and stored hashed",
		Example: "  haven token create ci-deploy --bind developer@staging --ttl 720h",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			bindings, err := parseBindings(binds)
			if err != nil {
				return err
			}
			resp, err := g.client().CreateToken(c.Context(), api.TokenRequest{Name: args[0], User: user, Bindings: bindings, TTL: spec.Duration(ttl)})
			if err != nil {
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
	create.Flags().StringArrayVar(&binds, "bind", nil, "ROLE@ENV the token may act as (repeatable; default: all of the user's)")
	create.Flags().DurationVar(&ttl, "ttl", 0, "lifetime (default 90 days, at most a year)")
	create.Flags().StringVar(&user, "user", "", "whose token (admins only; default yourself)")
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
	root.AddCommand(add, list, remove, bind)
	return root
}

func newMFACmd(g *globals) *cobra.Command {
	root := &cobra.Command{Use: "mfa", Short: "Multi-factor authentication (TOTP, RFC 6238)"}
	var code string
	enable := &cobra.Command{
		Use:   "enable",
		Short: "Enrol an authenticator app, then confirm with a current code",
		Long:  "Prints the otpauth:// URL and secret for an authenticator app, then reads a current code (--code or standard input) to confirm. From then on, login needs a code.",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl := g.client()
			resp, err := cl.EnableMFA(c.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out(), "otpauth URL: %s\nsecret:      %s\n", resp.URL, resp.Secret)
			if code == "" {
				fmt.Fprint(g.errw(), "Code from your authenticator: ")
				if code, err = readLine(os.Stdin); err != nil {
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
	enable.Flags().StringVar(&code, "code", "", "current code, to confirm without a prompt")
	root.AddCommand(enable)
	return root
}
