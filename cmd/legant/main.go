// Command legant is the Legant binary: gateway, issuer and offline tools.
// Commands are thin: each parses flags and calls into a package that owns the logic.
package main

import (
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
		newSessionsCmd(),
		newKillCmd(),
		newWatchCmd(),
		newUsersCmd(),
	// Each command group adds its constructor on its own line here.
	)
	return root
}

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "legant:", err)
		os.Exit(1)
	}
}
