// Command legant is the Legant binary: gateway, issuer and offline tools.
// Commands are thin: each parses flags and calls into a package that owns the logic.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "legant",
		Short:         "Authorization gateway for AI agents acting on a user's behalf",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newVersionCmd(),
		newLintCmd(),
		newExplainCmd(),
		newWhoCanCmd(),
		newKeysCmd(),
		newMintCmd(),
		newAttenuateCmd(),
		newShowCmd(),
		newMigrateCmd(),
		newRevokeCmd(),
		newAuditCmd(),
		newGatewayCmd(),
		newDemoCmd(),
		newSnippetCmd(),
		newBenchCmd(),
		newBenchProxyCmd(),
		newSessionsCmd(),
		newKillCmd(),
		newWatchCmd(),
		newUsersCmd(),
		newInitCmd(),
		newApplyCmd(),
		newGuardCmd(),
		newConnectionsCmd(),
		newRegistryCmd(),
	// Each command group adds its constructor on its own line here.
	)
	return root
}

func main() {
	if err := newRootCmd().Execute(); err != nil {
		var code exitCode
		if errors.As(err, &code) { // the command already said why (legant guard check)
			os.Exit(int(code))
		}
		fmt.Fprintln(os.Stderr, "legant:", err)
		os.Exit(1)
	}
}
