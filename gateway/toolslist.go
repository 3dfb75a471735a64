package gateway

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

// toolVisible reports whether the token may see (and so call) a tool: the
// registry binds it, the token holds its scope and the token's tool list
// allows it. Arguments are checked only at call time.
func toolVisible(up *upstreams.Upstream, c *authority.Claims, name string) bool {
	b, ok := up.Tool(name)
	return ok && visible(c, b)
}

func visible(c *authority.Claims, b *policy.Binding) bool {
	return (b.Scope == "" || c.HasScope(b.Scope)) && c.Constraints.Tools.Contains(b.Tool)
}

// filterToolsResponse rewrites a response whose result carries a tool list,
// keeping only the tools the token may call and every other member as it was.
// Anything it cannot parse is an error: the unfiltered catalog never leaks.
func filterToolsResponse(m *message, up *upstreams.Upstream, c *authority.Claims) ([]byte, error) {
	result, err := rewriteMember(m.result, "tools", func(tools jsontext.Value) (jsontext.Value, error) {
		return filterTools(tools, up, c)
	})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`{"jsonrpc":"2.0","id":`)
	b.Write(m.id)
	b.WriteString(`,"result":`)
	b.Write(result)
	b.WriteByte('}')
	return b.Bytes(), nil
}

func filterTools(tools jsontext.Value, up *upstreams.Upstream, c *authority.Claims) (jsontext.Value, error) {
	if tools.Kind() != '[' {
		return nil, errors.New("tools is not an array")
	}
	dec := jsontext.NewDecoder(bytes.NewBuffer(tools))
	dec.ReadToken()
	var b bytes.Buffer
	b.WriteByte('[')
	n := 0
	for dec.PeekKind() != ']' {
		tool, err := readValue(dec, tools)
		if err != nil {
			return nil, err
		}
		name, ok := stringMember(tool, "name")
		if !ok {
			return nil, fmt.Errorf("tools[%d] has no string name", n)
		}
		if toolVisible(up, c, name) {
			if b.Len() > 1 {
				b.WriteByte(',')
			}
			b.Write(tool)
		}
		n++
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// rewriteMember returns obj with the value of member name replaced by fn's
// result; names and other members keep their exact bytes and order.
func rewriteMember(obj jsontext.Value, name string, fn func(jsontext.Value) (jsontext.Value, error)) (jsontext.Value, error) {
	if obj.Kind() != '{' {
		return nil, errors.New("result is not an object")
	}
	dec := jsontext.NewDecoder(bytes.NewBuffer(obj))
	dec.ReadToken()
	var b bytes.Buffer
	b.WriteByte('{')
	for first := true; dec.PeekKind() != '}'; first = false {
		k, err := readValue(dec, obj)
		if err != nil {
			return nil, err
		}
		v, err := readValue(dec, obj)
		if err != nil {
			return nil, err
		}
		if unquote(k) == name {
			if v, err = fn(v); err != nil {
				return nil, err
			}
		}
		if !first {
			b.WriteByte(',')
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
