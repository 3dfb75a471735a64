// Package federation holds the virtual-server example (legant.yaml): two
// demo expenses servers behind one slug. `legant demo --federation` serves
// exactly this file, with the members' URLs replaced by the demo's own.
package federation

import (
	_ "embed"
	"strings"
)

// Registry is legant.yaml as written.
//
//go:embed legant.yaml
var Registry string

const (
	// Slug is the virtual upstream's slug.
	Slug = "expenses-all"
	// TeamURL and TravelURL are the members' URLs in Registry.
	TeamURL   = "http://127.0.0.1:9000/mcp"
	TravelURL = "http://127.0.0.1:9001/mcp"
)

// Tools are the tools Registry registers, as callers see them.
var Tools = []string{"team__list_expenses", "team__submit_expense", "travel.list_expenses", "travel.submit_expense"}

// RegistryFor returns Registry with the members at team and travel.
func RegistryFor(team, travel string) string {
	return strings.NewReplacer(TeamURL, team, TravelURL, travel).Replace(Registry)
}
