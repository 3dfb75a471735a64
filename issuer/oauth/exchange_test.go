package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

func exchangeForm(subject, resource, scope, details string) url.Values {
	f := url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {subject},
		"subject_token_type": {oauth.TokenTypeAccessToken}, "resource": {resource}}
	if scope != "" {
		f.Set("scope", scope)
	}
	if details != "" {
		f.Set("authorization_details", details)
	}
	return f
}

func TestTokenExchange(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, b, nil)
		agentA := h.publicClient()
		bID, bSecret := h.confidentialClient("Sub-agent B")
		cID, cSecret := h.confidentialClient("Sub-agent C")
		h.login(h.browser, testUser, testPassword)
		parent := str(h.codeToken(agentA, url.Values{"max_amount": {"200"}, "currency": {"USD"}}), "access_token")
		parentClaims, _ := h.verify(parent)

		narrow := `[{"type":"legant_delegation","actions":["submit_expense"],"max_amount":{"value":"50","currency":"USD"}}]`
		status, out := h.token(exchangeForm(parent, h.resource, "expenses:write", narrow), bID, bSecret)
		if status != http.StatusOK || str(out, "issued_token_type") != oauth.TokenTypeAccessToken || str(out, "refresh_token") != "" {
			t.Fatalf("exchange = %d %v", status, out)
		}
		child, err := h.verify(str(out, "access_token"))
		if err != nil {
			t.Fatal(err)
		}
		if child.Chain().String() != "agent:"+agentA+" → agent:"+bID || child.ParentID != parentClaims.DelegationID ||
			child.Subject != testUser || child.ClientID != bID || strings.Join(child.Scopes, " ") != "expenses:write" ||
			child.Constraints.MaxAmount.Value.String() != "50" || child.Constraints.Tools.Contains("list_expenses") {
			t.Fatalf("child = %+v (%s)", child, child.Provenance())
		}
		g, err := h.st.GetGrant(ctx, child.DelegationID)
		if err != nil || g.ParentID != parentClaims.DelegationID || len(g.Agents) != 2 {
			t.Fatalf("child grant = %+v, %v", g, err)
		}

		// B passes a narrower slice on to C: the chain grows again.
		status, out = h.token(exchangeForm(str(out, "access_token"), h.resource, "", ""), cID, cSecret)
		if status != http.StatusOK {
			t.Fatalf("second hop = %d %v", status, out)
		}
		grandchild, _ := h.verify(str(out, "access_token"))
		if len(grandchild.Chain()) != 3 || grandchild.Constraints.MaxAmount.Value.String() != "50" {
			t.Fatalf("grandchild = %s %+v", grandchild.Provenance(), grandchild.Constraints)
		}

		refusals := []struct {
			name, resource, scope, details string
			code, mention                  string
		}{
			{"wider amount", h.resource, "", `[{"type":"legant_delegation","max_amount":{"value":"500","currency":"USD"}}]`, "invalid_authorization_details", "max_amount"},
			{"other tool", h.resource, "", `[{"type":"legant_delegation","actions":["delete_all"]}]`, "invalid_authorization_details", "tools"},
			{"wider scope", h.resource, "expenses:admin", "", "invalid_scope", "expenses:admin"},
			{"other resource", h.issuer + "/mcp/notes", "", "", "invalid_target", "/mcp/notes"},
			{"unknown resource", h.issuer + "/mcp/nope", "", "", "invalid_target", "nope"},
			{"other currency", h.resource, "", `[{"type":"legant_delegation","max_amount":{"value":"5","currency":"EUR"}}]`, "invalid_authorization_details", "EUR"},
			{"unknown detail key", h.resource, "", `[{"type":"legant_delegation","max_amout":{"value":"5"}}]`, "invalid_authorization_details", "max_amout"},
			{"other detail type", h.resource, "", `[{"type":"payment_initiation"}]`, "invalid_authorization_details", ""},
		}
		for _, r := range refusals {
			t.Run(r.name, func(t *testing.T) {
				status, out := h.token(exchangeForm(parent, r.resource, r.scope, r.details), bID, bSecret)
				if status != http.StatusBadRequest || str(out, "error") != r.code || !strings.Contains(str(out, "error_description"), r.mention) {
					t.Fatalf("= %d %v, want %s naming %q", status, out, r.code, r.mention)
				}
			})
		}
		t.Run("public client", func(t *testing.T) {
			status, out := h.token(exchangeForm(parent, h.resource, "", ""), agentA, "")
			if status != http.StatusBadRequest || str(out, "error") != "unauthorized_client" {
				t.Fatalf("= %d %v", status, out)
			}
		})
		t.Run("actor_token", func(t *testing.T) {
			f := exchangeForm(parent, h.resource, "", "")
			f.Set("actor_token", parent)
			f.Set("actor_token_type", oauth.TokenTypeAccessToken)
			if status, out := h.token(f, bID, bSecret); status != http.StatusBadRequest || str(out, "error") != "invalid_request" {
				t.Fatalf("= %d %v", status, out)
			}
		})
		t.Run("garbage subject", func(t *testing.T) {
			if status, out := h.token(exchangeForm("not.a.token", h.resource, "", ""), bID, bSecret); status != http.StatusBadRequest || str(out, "error") != "invalid_grant" {
				t.Fatalf("= %d %v", status, out)
			}
		})
		t.Run("cycle", func(t *testing.T) {
			// B exchanging its own token again would put B twice in the chain.
			_, own := h.token(exchangeForm(parent, h.resource, "", ""), bID, bSecret)
			status, out := h.token(exchangeForm(str(own, "access_token"), h.resource, "", ""), bID, bSecret)
			if status != http.StatusBadRequest || str(out, "error") != "invalid_request" || !strings.Contains(str(out, "error_description"), "already in the chain") {
				t.Fatalf("= %d %v", status, out)
			}
		})
		t.Run("revoking the parent revokes the children", func(t *testing.T) {
			if _, err := h.st.Revoke(ctx, store.RevokeRequest{Kind: revfeed.KindDelegation, Value: parentClaims.DelegationID, Reason: "test"}); err != nil {
				t.Fatal(err)
			}
			for _, c := range []string{child.DelegationID, grandchild.DelegationID} {
				g, _ := h.st.GetGrant(ctx, c)
				if g.RevokedVersion == 0 {
					t.Errorf("delegation %s not revoked with its ancestor", c)
				}
			}
			if _, revoked := h.st.Revocations().Revoked(grandchild); !revoked {
				t.Error("grandchild token still valid")
			}
			status, out := h.token(exchangeForm(parent, h.resource, "", ""), bID, bSecret)
			if status != http.StatusBadRequest || str(out, "error") != "invalid_grant" {
				t.Fatalf("exchange of a revoked token = %d %v", status, out)
			}
		})
	})
}

func TestMintCap(t *testing.T) {
	b := storetest.Backends(t)[0]
	h := newHarness(t, b, func(o *oauth.Options) { o.MintsPerHour = 2 })
	bID, bSecret := h.confidentialClient("B")
	h.login(h.browser, testUser, testPassword)
	parent := str(h.codeToken(h.publicClient(), nil), "access_token")                                            // mint 1
	if status, out := h.token(exchangeForm(parent, h.resource, "", ""), bID, bSecret); status != http.StatusOK { // mint 2
		t.Fatalf("= %d %v", status, out)
	}
	status, out := h.token(exchangeForm(parent, h.resource, "", ""), bID, bSecret)
	if status != http.StatusBadRequest || !strings.Contains(str(out, "error_description"), "limit") {
		t.Fatalf("third mint in the hour = %d %v", status, out)
	}
}
