// Command haven is Haven's single binary: the CLI, and with `haven server`
// the control plane, agent and ingress. This is the only package that knows
// every concrete type; it wires them and hands the result to package cli.
package main

import (
	"context"
	"os"

	"github.com/haven-platform/haven/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(cli.Main(context.Background(), cli.Deps{RunServer: runServer, Version: version}, os.Args[1:]))
}
