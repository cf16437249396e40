package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/haven-platform/haven/internal/spec"
)

func newSecretCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "secret",
		Short: "Manage an environment's secrets, encrypted at rest",
		Long: `Secrets are versioned and encrypted (AES-256-GCM, a data key per version
wrapped by the server's master key). Services receive one through compose:

  secrets:
    db_password:
      external: true      # the value set with: haven secret set db_password --env ENV
  services:
    api:
      secrets: [db_password]   # mounted at /run/secrets/db_password`,
	}
	var env, file string
	var version int
	set := &cobra.Command{
		Use: "set NAME --env ENV [--file F]", Short: "Store a new version, read from standard input or --file", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var value []byte
			var err error
			if file != "" {
				value, err = os.ReadFile(file)
			} else {
				value, err = io.ReadAll(io.LimitReader(os.Stdin, 64<<10+1))
			}
			if err != nil {
				return err
			}
			v, err := g.client().SetSecret(c.Context(), env, args[0], value)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out(), "secret %s/%s: version %d\n", env, args[0], v)
			return nil
		},
	}
	set.Flags().StringVar(&file, "file", "", "read the value from this file")
	get := &cobra.Command{
		Use: "get NAME --env ENV", Short: "Print a secret's value", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			value, err := g.client().GetSecret(c.Context(), env, args[0], version)
			if err != nil {
				return err
			}
			_, err = g.out().Write(value)
			return err
		},
	}
	get.Flags().IntVar(&version, "version", 0, "an earlier version (default the latest)")
	list := &cobra.Command{
		Use: "list --env ENV", Short: "List secrets (names and versions, never values)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			infos, err := g.client().ListSecrets(c.Context(), env)
			if err != nil {
				return err
			}
			if done, err := g.printData(infos); done {
				return err
			}
			t := newTable(g.out(), "NAME", "VERSION", "UPDATED", "BY")
			for _, s := range infos {
				t.row(s.Name, s.Version, ago(s.Updated), s.UpdatedBy)
			}
			return t.flush()
		},
	}
	rm := &cobra.Command{
		Use: "rm NAME --env ENV", Short: "Delete a secret and all its versions", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := g.client().DeleteSecret(c.Context(), env, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.out(), "secret %s/%s removed\n", env, args[0])
			return nil
		},
	}
	for _, c := range []*cobra.Command{set, get, list, rm} {
		c.Flags().StringVar(&env, "env", spec.DefaultEnv, "environment")
	}
	rotate := &cobra.Command{
		Use: "rotate-key", Short: "Re-wrap every secret's data key under a new master key (admins)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			id, err := g.client().RotateKey(c.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out(), "master key rotated; new key id %s\n", id)
			return nil
		},
	}
	root.AddCommand(set, get, list, rm, rotate)
	return root
}
