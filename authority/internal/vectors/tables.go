package vectors

import "time"

type verifyRow struct {
	name, token string
	opts        Options
	want        string // error kind; "" = valid
}

func (g *generator) verifyTable(t map[string]string) []verifyRow {
	def := defaultOptions()
	with := func(edit func(*Options)) Options { o := defaultOptions(); edit(&o); return o }
	return []verifyRow{
		{"valid single-hop (EdDSA)", t["root"], def, ""},
		{"valid single-hop (RS256)", t["rsa"], def, ""},
		{"valid multi-hop (planner then executor)", t["multi-hop"], def, ""},
		{"valid: audience compared canonically", t["root"], with(func(o *Options) { o.Audience = "HTTPS://GW.Example:443/mcp/./expenses/" }), ""},
		{"valid: expired 10s ago, inside the 30s leeway", t["in-leeway"], def, ""},
		{"valid: no act, actor not required", t["no-act"], with(func(o *Options) { o.RequireActor = false }), ""},
		{"expired", t["expired"], def, "expired"},
		{"expired 10s ago, no leeway", t["in-leeway"], with(func(o *Options) { o.LeewaySeconds = 0 }), "expired"},
		{"not yet valid", t["not-yet"], def, "not_yet_valid"},
		{"wrong audience", t["root"], with(func(o *Options) { o.Audience = "https://gw.example/mcp/payroll" }), "audience"},
		{"wrong issuer", t["root"], with(func(o *Options) { o.Issuer = "https://evil.example" }), "issuer"},
		{"unknown kid", t["other-key"], def, "unknown_key"},
		{"bad signature (payload swapped)", t["bad-signature"], def, "signature"},
		{"alg none", t["alg-none"], def, "algorithm"},
		{"HS256 keyed with the RSA public key (PEM)", t["hs256-rsa-public"], def, "algorithm"},
		{"HS256 keyed with the Ed25519 public key", t["hs256-ed25519-public"], def, "algorithm"},
		{"RS256 token when only EdDSA is allowed", t["rsa"], with(func(o *Options) { o.Algorithms = []string{"EdDSA"} }), "algorithm"},
		{"missing act", t["no-act"], def, "missing_actor"},
		{"wrong typ (JWT)", t["wrong-typ"], def, "type"},
		{"unknown key in legant_delegation", t["unknown-detail-key"], def, "constraints"},
		{"malformed (two segments)", "eyJhbGciOiJFZERTQSJ9.e30", def, "malformed"},
	}
}

type authorizeRow struct {
	name   string
	action Action
	want   Authorize
}

func at(t time.Time) string { return t.Format(time.RFC3339) }

func authorizeTable() []authorizeRow {
	in := at(now)
	usd := func(v string) *Amount { return &Amount{Value: v, Currency: "USD"} }
	allow := Authorize{Allow: true}
	deny := func(c string) Authorize { return Authorize{Constraint: c} }
	return append([]authorizeRow{
		{"tool allowed", Action{Tool: "submit_expense", At: in}, allow},
		{"tool not allowed", Action{Tool: "delete_expense", At: in}, deny("tools")},
		{"resource allowed", Action{Tool: "submit_expense", Resource: "https://files.example/receipts", At: in}, allow},
		{"resource allowed in another spelling", Action{Tool: "submit_expense", Resource: "HTTPS://Files.Example:443/receipts/", At: in}, allow},
		{"resource not allowed", Action{Tool: "submit_expense", Resource: "https://files.example/payroll", At: in}, deny("resources")},
		{"category travel", Action{Tool: "submit_expense", Category: "travel", At: in}, allow},
		{"category Travel (case variant)", Action{Tool: "submit_expense", Category: "Travel", At: in}, allow},
		{"category TRAVEL (case variant)", Action{Tool: "submit_expense", Category: " TRAVEL ", At: in}, allow},
		{"category not allowed", Action{Tool: "submit_expense", Category: "electronics", At: in}, deny("categories")},
		{"amount below max_amount", Action{Tool: "submit_expense", Amount: usd("499.99"), At: in}, allow},
		{"amount equal to max_amount", Action{Tool: "submit_expense", Amount: usd("500.000"), At: in}, allow},
		{"amount just above max_amount", Action{Tool: "submit_expense", Amount: usd("500.0000001"), At: in}, deny("max_amount")},
		{"amount above max_amount", Action{Tool: "submit_expense", Amount: usd("700"), At: in}, deny("max_amount")},
		{"currency mismatch", Action{Tool: "submit_expense", Amount: &Amount{Value: "100", Currency: "EUR"}, At: in}, deny("currency")},
		{"amount without currency", Action{Tool: "submit_expense", Amount: &Amount{Value: "100"}, At: in}, deny("currency")},
		{"window: inside (Wednesday 10:30 Paris)", Action{Tool: "submit_expense", At: in}, allow},
		{"window: outside (Wednesday 17:30 Paris)", Action{Tool: "submit_expense", At: at(now.Add(7 * time.Hour))}, deny("window")},
		{"window: outside (Saturday 10:30 Paris)", Action{Tool: "submit_expense", At: at(now.Add(72 * time.Hour))}, deny("window")},
		{"window: last minute (Friday 16:59 Paris)", Action{Tool: "submit_expense", At: "2026-03-06T16:59:59+01:00"}, allow},
		{"window: end is exclusive (Friday 17:00 Paris)", Action{Tool: "submit_expense", At: "2026-03-06T17:00:00+01:00"}, deny("window")},
		// Edges for SDKs in other languages (decimals beyond float64,
		// Unicode folding and trimming, DST).
		{"amount: 40 digits, one unit above max_amount", Action{Tool: "submit_expense", Amount: usd("500.0000000000000000000000000000000000001"), At: in}, deny("max_amount")},
		{"amount: 40 digits, just below max_amount", Action{Tool: "submit_expense", Amount: usd("499.9999999999999999999999999999999999999"), At: in}, allow},
		{"amount: zero", Action{Tool: "submit_expense", Amount: usd("0"), At: in}, allow},
		{"amount: trailing zeros equal to max_amount", Action{Tool: "submit_expense", Amount: usd("500.0000000000000000000000000000000000"), At: in}, allow},
		{"category: long s folds to s (meal\u017f)", Action{Tool: "submit_expense", Category: "meal\u017f", At: in}, allow},
		{"category: fullwidth letters are not ASCII", Action{Tool: "submit_expense", Category: "\uff34\uff32\uff21\uff36\uff25\uff2c", At: in}, deny("categories")},
		{"category: U+0085 and U+00A0 are trimmed", Action{Tool: "submit_expense", Category: "\u0085TRAVEL\u00a0", At: in}, allow},
		{"category: U+FEFF is not trimmed", Action{Tool: "submit_expense", Category: "\ufefftravel", At: in}, deny("categories")},
		{"category: combining accent is not dropped", Action{Tool: "submit_expense", Category: "trave\u0301l", At: in}, deny("categories")},
		{"window: DST, Monday 08:59 CEST is outside", Action{Tool: "submit_expense", At: "2026-03-30T06:59:59Z"}, deny("window")},
		{"window: DST, Monday 09:00 CEST is inside", Action{Tool: "submit_expense", At: "2026-03-30T07:00:00Z"}, allow},
		{"window: DST, Friday 09:00 CET is inside", Action{Tool: "submit_expense", At: "2026-03-27T08:00:00Z"}, allow},
		{"window: DST, Monday 16:59 CEST is inside", Action{Tool: "submit_expense", At: "2026-03-30T14:59:59Z"}, allow},
		{"window: Sunday 02:30 UTC on the DST night is outside", Action{Tool: "submit_expense", At: "2026-03-29T02:30:00+02:00"}, deny("window")},
		{"resource: dot segments and default port", Action{Tool: "submit_expense", Resource: "https://files.example:0443/a/../receipts", At: in}, allow},
		{"resource: query is kept", Action{Tool: "submit_expense", Resource: "https://files.example/receipts?all", At: in}, deny("resources")},
	}, edgeRows()...)
}

// edgeRows are the authorize edges the fuzzers and the SDK ports in other
// languages found: decimals past float precision, category normalization
// (Go's whitespace and case folding, not another library's), resource
// spellings, and windows on both sides of the Paris DST changes.
func edgeRows() []authorizeRow {
	in := at(now)
	usd := func(v string) *Amount { return &Amount{Value: v, Currency: "USD"} }
	allow := Authorize{Allow: true}
	deny := func(c string) Authorize { return Authorize{Constraint: c} }
	cat := func(c string) Action { return Action{Tool: "submit_expense", Category: c, At: in} }
	res := func(r string) Action { return Action{Tool: "submit_expense", Resource: r, At: in} }
	when := func(t string) Action { return Action{Tool: "submit_expense", At: t} }
	return []authorizeRow{
		{"decimal: 40 digits just below max_amount", Action{Tool: "submit_expense", Amount: usd("499.9999999999999999999999999999999999999"), At: in}, allow},
		{"decimal: above max_amount by 1e-35 (a float would round it to 500)", Action{Tool: "submit_expense", Amount: usd("500.00000000000000000000000000000000001"), At: in}, deny("max_amount")},
		{"decimal: zero", Action{Tool: "submit_expense", Amount: usd("0"), At: in}, allow},
		{"decimal: 0.1 is not 0.1000000000000000055511151231257827", Action{Tool: "submit_expense", Amount: usd("500.1000000000000000055511151231257827"), At: in}, deny("max_amount")},
		{"category: long s folds to s (MEALſ)", cat("MEALſ"), allow},
		{"category: no-break and ideographic spaces are trimmed", cat("\u00a0travel\u3000"), allow},
		{"category: U+001C is not space in Go (not trimmed)", cat("\u001ctravel"), deny("categories")},
		{"category: zero-width space is not trimmed", cat("\u200btravel"), deny("categories")},
		{"category: a combining accent makes another category", cat("TRAVE\u0301L"), deny("categories")},
		{"category: fullwidth letters are another category", cat("ＴＲＡＶＥＬ"), deny("categories")},
		{"resource: dot segments and doubled slashes cleaned", res("https://FILES.example//receipts/./x/.."), allow},
		{"resource: empty query is kept", res("https://files.example/receipts?"), deny("resources")},
		{"resource: default port with leading zero", res("https://files.example:0443/receipts"), allow},
		{"resource: percent-encoded path is not decoded", res("https://files.example/%72eceipts"), deny("resources")},
		{"window: Monday 09:00 Paris after the spring DST change (07:00Z)", when("2026-03-30T07:00:00Z"), allow},
		{"window: Monday 08:59 Paris after the spring DST change (06:59Z)", when("2026-03-30T06:59:59Z"), deny("window")},
		{"window: Monday 17:00 Paris after the spring DST change (15:00Z)", when("2026-03-30T15:00:00Z"), deny("window")},
		{"window: Friday 16:59 Paris before the spring DST change (15:59Z)", when("2026-03-27T15:59:59Z"), allow},
		{"window: Monday 09:00 Paris after the autumn DST change (08:00Z)", when("2026-10-26T08:00:00Z"), allow},
		{"window: Monday 08:59 Paris after the autumn DST change (07:59Z)", when("2026-10-26T07:59:59Z"), deny("window")},
		{"window: Sunday in the repeated hour of the autumn change", when("2026-10-25T01:30:00+01:00"), deny("window")},
	}
}
