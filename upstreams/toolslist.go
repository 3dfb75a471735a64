package upstreams

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ParseToolsList reads a saved tools/list answer for Lint: a whole JSON-RPC
// response ({"jsonrpc":"2.0","id":1,"result":{"tools":[…]}}), its result
// ({"tools":[…]}), or a bare array of tools (several pages joined). A result
// with a nextCursor is refused: it is one page of several, and linting
// against part of the catalog would report present tools as missing.
func ParseToolsList(data []byte) ([]ToolSchema, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		return decodeTools(data)
	}
	var msg struct {
		Result     json.RawMessage `json:"result"`
		Error      json.RawMessage `json:"error"`
		Tools      json.RawMessage `json:"tools"`
		NextCursor string          `json:"nextCursor"`
	}
	if err := json.Unmarshal(data, &msg); err != nil {
		return nil, fmt.Errorf("tools/list: %w", err)
	}
	switch {
	case len(msg.Error) > 0:
		return nil, fmt.Errorf("tools/list: the saved response is a JSON-RPC error: %s", msg.Error)
	case len(msg.Result) > 0:
		return ParseToolsList(msg.Result)
	case msg.NextCursor != "":
		return nil, errors.New("tools/list: the saved result has a nextCursor: save every page, joined as one JSON array of tools")
	case len(msg.Tools) == 0:
		return nil, errors.New(`tools/list: no "tools" array (want a response, its result, or an array of tools)`)
	}
	return decodeTools(msg.Tools)
}

func decodeTools(data []byte) ([]ToolSchema, error) {
	var tools []ToolSchema
	if err := json.Unmarshal(data, &tools); err != nil {
		return nil, fmt.Errorf("tools/list: tools: %w", err)
	}
	seen := make(map[string]bool, len(tools))
	for i, t := range tools {
		switch {
		case t.Name == "":
			return nil, fmt.Errorf("tools/list: tools[%d] has no name", i)
		case seen[t.Name]:
			return nil, fmt.Errorf("tools/list: tool %q is listed twice", t.Name)
		}
		seen[t.Name] = true
	}
	return tools, nil
}
