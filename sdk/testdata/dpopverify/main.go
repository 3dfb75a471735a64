// Command dpopverify verifies DPoP proofs made by the TypeScript and Python
// SDKs with Go's dpop.Verify (their tests run it with go run): a JSON array
// of {proof, method, url, access_token, jkt, now} on stdin, a JSON array of
// {ok, code, jkt} on stdout, in the same order.
package main

import (
	"encoding/json"
	"log"
	"os"
	"time"

	"github.com/openlegant/legant/authority/dpop"
)

type request struct {
	Proof       string `json:"proof"`
	Method      string `json:"method"`
	URL         string `json:"url"`
	AccessToken string `json:"access_token"`
	JKT         string `json:"jkt"`
	Now         int64  `json:"now"`
}

type result struct {
	OK   bool   `json:"ok"`
	Code string `json:"code,omitempty"` // dpop.ErrorCode of the refusal
	JKT  string `json:"jkt,omitempty"`  // the proof's key thumbprint when it verified
}

func main() {
	var in []request
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		log.Fatal(err)
	}
	out := make([]result, len(in))
	for i, r := range in {
		p, err := dpop.Verify(r.Proof, dpop.VerifyOptions{Method: r.Method, URL: r.URL, AccessToken: r.AccessToken, JKT: r.JKT},
			time.Unix(r.Now, 0))
		if err != nil {
			out[i] = result{Code: dpop.ErrorCode(err)}
			continue
		}
		out[i] = result{OK: true, JKT: p.JKT}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		log.Fatal(err)
	}
}
