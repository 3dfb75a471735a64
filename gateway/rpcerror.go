package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/openlegant/legant/policy"
)

// JSON-RPC error codes the gateway answers with, beyond the JSON-RPC 2.0
// standard codes. docs/POLICY.md lists them all.
const (
	CodeDenied   = policy.CodeDenied      // policy denied the call (data.reason says why)
	CodeKilled   = policy.CodeKilled      // the session or its authority was killed
	CodeUpstream = -32035                 // the upstream failed or answered something unusable
	CodeAudit    = policy.CodeUnavailable // the audit log is unavailable: fail closed
)

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// errorResponse encodes a JSON-RPC error response for id (nil means null).
func errorResponse(id jsontext.Value, e rpcError) []byte {
	if id == nil {
		id = jsontext.Value("null")
	}
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   rpcError        `json:"error"`
	}{"2.0", json.RawMessage(id), e})
	if b == nil { // only a bad Data value can fail; the code and message still go out
		b, _ = json.Marshal(struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   rpcError        `json:"error"`
		}{"2.0", json.RawMessage(id), rpcError{Code: e.Code, Message: e.Message}})
	}
	return b
}

// writeRPCError answers an HTTP request with a single JSON-RPC error response.
func writeRPCError(w http.ResponseWriter, status int, id jsontext.Value, e rpcError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(errorResponse(id, e))
}

type reasonData struct {
	Reason string `json:"reason"`
}

// killedError is the error a call cut by a kill is answered with.
func killedError() rpcError {
	return rpcError{Code: CodeKilled, Message: "killed: this session's authority was revoked", Data: reasonData{Reason: "killed"}}
}
