package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newCompletionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Print the completion script of a shell (cobra's generator). Load it with:

  bash:  source <(haven completion bash)     # or save it in /etc/bash_completion.d/haven
  zsh:   haven completion zsh > "${fpath[1]}/_haven"
  fish:  haven completion fish > ~/.config/fish/completions/haven.fish`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"bash", "zsh", "fish"},
		// No server is needed to print a script.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		RunE: func(c *cobra.Command, args []string) error {
			root := c.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(g.out(), true)
			case "zsh":
				return root.GenZshCompletion(g.out())
			case "fish":
				return root.GenFishCompletion(g.out(), true)
			}
			return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("no completion for shell %q: choose bash, zsh or fish", args[0])}
		},
	}
}
