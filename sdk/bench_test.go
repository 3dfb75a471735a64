package sdk_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/openlegant/legant/sdk"
)

// benchVerifier returns a Verifier whose key set and feed are cached (warm),
// and a token it accepts.
func benchVerifier(b *testing.B) (*sdk.Verifier, string) {
	b.Helper()
	issuer := startIssuer()
	b.Cleanup(issuer.Close)
	v, err := sdk.NewVerifier(context.Background(), issuer.URL, "https://api.example/expenses",
		&sdk.VerifierOptions{AllowHTTP: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() })
	return v, issuer.token()
}

var benchAction = sdk.Action{Tool: "submit_expense", Scope: "expenses:write", Amount: "499.99", Currency: "USD"}

// BenchmarkVerifyAuthorize is the per-request cost with a warm cache: verify
// the token (Ed25519 signature, claims, revocation set), then authorize one
// action.
func BenchmarkVerifyAuthorize(b *testing.B) {
	v, tok := benchVerifier(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, err := v.Verify(ctx, tok)
		if err != nil {
			b.Fatal(err)
		}
		if d := sdk.Authorize(c, benchAction); !d.Allow {
			b.Fatal(d.Message)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	v, tok := benchVerifier(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthorize(b *testing.B) {
	v, tok := benchVerifier(b)
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := sdk.Authorize(c, benchAction); !d.Allow {
			b.Fatal(d.Message)
		}
	}
}

func BenchmarkVerifyAuthorizeParallel(b *testing.B) {
	v, tok := benchVerifier(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := v.Verify(ctx, tok)
			if err != nil {
				b.Error(err)
				return
			}
			if d := sdk.Authorize(c, benchAction); !d.Allow {
				b.Error(d.Message)
				return
			}
		}
	})
}

// BenchmarkVerifyAuthorizeFirstUse is the cost for a token seen for the
// first time (the signature is checked): every iteration uses a new token.
func BenchmarkVerifyAuthorizeFirstUse(b *testing.B) {
	issuer := startIssuer()
	b.Cleanup(issuer.Close)
	v, err := sdk.NewVerifier(context.Background(), issuer.URL, "https://api.example/expenses",
		&sdk.VerifierOptions{AllowHTTP: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() })
	tokens := make([]string, b.N)
	for i := range tokens {
		tokens[i] = issuer.tokenID(fmt.Sprint("bench-", i))
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := v.Verify(ctx, tokens[i])
		if err != nil {
			b.Fatal(err)
		}
		if d := sdk.Authorize(c, benchAction); !d.Allow {
			b.Fatal(d.Message)
		}
	}
}
