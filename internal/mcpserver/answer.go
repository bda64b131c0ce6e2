package mcpserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// This file is kitegate's side of the JSON-RPC envelope, on both sides of
// the MCP SDK: what a request must look like before the SDK reads it, and
// what the SDK's answer must look like before the caller reads it.
//
// The SDK reads an id as a float64 and answers with its int64 conversion
// (10**30 came back as -9223372036854775808, 1.5 as 1, 2**63-1 as -2**63),
// and the errors it writes name Go types, echo the params they could not
// read, or come as text/plain. So the request's id is checked here and the
// answer carries it back byte for byte, and every error the SDK wrote is
// replaced by kitegate's own words for its code.

// maxDepth caps how deeply a request nests JSON. MCP messages nest a few
// levels; the SDK's parser refuses more than 1000 with a text/plain answer.
const maxDepth = 128

// message is the top level of one JSON-RPC message, read with the SDK's
// rules: keys match exactly (case-sensitively) and a repeated key's last
// value counts.
type message struct {
	id     json.RawMessage // as sent; nil when absent or null
	method string
	// refusal is set when the message is refused before the SDK sees it.
	refusal *refusal
}

// refusal is a JSON-RPC error answered with id null: the request's id
// could not be trusted, or there was none to read.
type refusal struct {
	status int
	code   int64
	msg    string
}

// readMessage reads and checks the envelope of one JSON-RPC message (a
// JSON object; batches and invalid JSON are refused before). ok is false
// when body is not a JSON object at all.
func readMessage(body []byte) (m message, ok bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil || top == nil {
		return m, false
	}
	if raw, present := top["method"]; present {
		if json.Unmarshal(raw, &m.method) != nil {
			m.refusal = &refusal{http.StatusBadRequest, jsonrpc.CodeInvalidRequest, `"method" must be a string`}
			return m, true
		}
	}
	if jsonDepth(body) > maxDepth {
		m.refusal = &refusal{http.StatusBadRequest, jsonrpc.CodeInvalidRequest, fmt.Sprintf("the request nests JSON more than %d levels deep", maxDepth)}
		return m, true
	}
	var version string
	if json.Unmarshal(top["jsonrpc"], &version) != nil || version != "2.0" {
		m.refusal = &refusal{http.StatusBadRequest, jsonrpc.CodeInvalidRequest, `"jsonrpc" must be "2.0"`}
		return m, true
	}
	if raw := top["id"]; len(raw) > 0 && string(raw) != "null" {
		if !validID(raw) {
			m.refusal = &refusal{http.StatusBadRequest, jsonrpc.CodeInvalidRequest, `"id" must be a string or an integer between -2^63 and 2^63-1`}
			return m, true
		}
		m.id = raw
	}
	if m.id == nil && m.method != "" && !strings.HasPrefix(m.method, "notifications/") {
		m.refusal = &refusal{http.StatusBadRequest, jsonrpc.CodeInvalidRequest, fmt.Sprintf(`a request needs an "id" (a string or an integer); only notifications/… methods go without one`)}
	}
	return m, true
}

// validID reports whether raw is an id MCP allows: a string, or an integer
// (no fraction, no exponent) that fits an int64.
func validID(raw json.RawMessage) bool {
	if raw[0] == '"' {
		var s string
		return json.Unmarshal(raw, &s) == nil
	}
	_, err := strconv.ParseInt(string(raw), 10, 64)
	return err == nil
}

// jsonDepth is the deepest nesting of objects and arrays in a valid JSON text.
func jsonDepth(b []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// answer stands between the SDK and the caller. A JSON or text/plain answer
// is held back until the SDK is done, then given the request's id exactly
// as it was sent, and an error the SDK wrote gets kitegate's message for its
// code; any other answer (an event stream, 202 with no body) passes through.
type answer struct {
	w      http.ResponseWriter
	rq     *request
	msg    message
	header bool // WriteHeader was called
	hold   bool // the body is held back in buf
	code   int
	buf    bytes.Buffer
}

func newAnswer(w http.ResponseWriter, rq *request, msg message) *answer {
	return &answer{w: w, rq: rq, msg: msg, code: http.StatusOK}
}

func (a *answer) Header() http.Header { return a.w.Header() }

func (a *answer) WriteHeader(code int) {
	if a.header {
		return
	}
	a.header, a.code = true, code
	ct := a.w.Header().Get("Content-Type")
	if strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "text/plain") {
		a.hold = true
		return
	}
	a.w.WriteHeader(code)
}

func (a *answer) Write(p []byte) (int, error) {
	if !a.header {
		a.WriteHeader(http.StatusOK)
	}
	if a.hold {
		return a.buf.Write(p)
	}
	return a.w.Write(p)
}

func (a *answer) Flush() {
	if a.hold {
		return
	}
	if f, ok := a.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (a *answer) Unwrap() http.ResponseWriter { return a.w }

// finish writes what was held back.
func (a *answer) finish() {
	if !a.hold {
		return
	}
	body := a.buf.Bytes()
	if strings.HasPrefix(a.w.Header().Get("Content-Type"), "text/plain") {
		// The SDK refused the request at the HTTP level (headers, a
		// body it could not read): answer in JSON-RPC all the same.
		code, text := httpRefusal(a.code)
		body = encodeRPC(a.msg.idOrNull(), &rpcErr{Code: code, Message: text})
	} else {
		body = a.rewrite(body)
	}
	h := a.w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	h.Del("X-Content-Type-Options")
	a.w.WriteHeader(a.code)
	_, _ = a.w.Write(body)
}

// rewrite gives one JSON-RPC response the request's id as sent, and an
// error the SDK wrote kitegate's message. Anything else is left alone.
func (a *answer) rewrite(body []byte) []byte {
	// Most answers need nothing: look at the envelope without copying the
	// result, and read the whole answer only to change it.
	var head struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   *rpcErr         `json:"error,omitempty"`
	}
	if json.Unmarshal(body, &head) != nil || head.JSONRPC != "2.0" {
		return body
	}
	newID := a.msg.id != nil && !bytes.Equal(head.ID, a.msg.id)
	newError := head.Error != nil && !a.rq.ownError.Load()
	if !newID && !newError {
		return body
	}
	var resp struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  json.RawMessage `json:"result,omitempty"`
		Error   *rpcErr         `json:"error,omitempty"`
	}
	if json.Unmarshal(body, &resp) != nil {
		return body
	}
	if newID {
		resp.ID = a.msg.id
	}
	if newError {
		resp.Error = a.sdkError(resp.Error.Code)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // the id goes back as it came
	if enc.Encode(resp) != nil {
		return body
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n"))
}

type rpcErr struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (m message) idOrNull() json.RawMessage {
	if m.id == nil {
		return json.RawMessage("null")
	}
	return m.id
}

func encodeRPC(id json.RawMessage, e *rpcErr) []byte {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   *rpcErr         `json:"error"`
	}{"2.0", id, e})
	return bytes.TrimSuffix(out.Bytes(), []byte("\n"))
}

// sdkError is kitegate's error for one the SDK wrote with this code: what
// was wrong, in the protocol's terms, never a Go type or the caller's input.
func (a *answer) sdkError(code int64) *rpcErr {
	method := a.msg.method
	switch code {
	case jsonrpc.CodeInvalidParams, 0: // the SDK leaves initialize's unreadable params without a code
		text := "invalid params for " + method + ": " + paramsShape(method)
		if a.rq.protocol >= newestProtocol {
			text += `; from protocol ` + newestProtocol + ` on, params._meta must also carry "io.modelcontextprotocol/protocolVersion" equal to the MCP-Protocol-Version header`
		}
		return &rpcErr{Code: jsonrpc.CodeInvalidParams, Message: text}
	case mcp.CodeHeaderMismatch:
		return &rpcErr{Code: code, Message: "the Mcp-Method, Mcp-Name and MCP-Protocol-Version headers must match the request body and its params._meta"}
	case mcp.CodeUnsupportedProtocolVersion:
		return &rpcErr{Code: code, Message: "protocol version not supported"}
	case mcp.CodeMissingRequiredClientCapabilities:
		return &rpcErr{Code: code, Message: "the request needs client capabilities it did not declare"}
	case mcp.CodeResourceNotFound:
		return &rpcErr{Code: code, Message: "no such resource: see resources/list"}
	case jsonrpc.CodeParseError:
		return &rpcErr{Code: code, Message: "malformed JSON"}
	case jsonrpc.CodeInvalidRequest:
		return &rpcErr{Code: code, Message: "invalid JSON-RPC request"}
	case jsonrpc.CodeMethodNotFound:
		return &rpcErr{Code: code, Message: "method not supported"}
	}
	return &rpcErr{Code: jsonrpc.CodeInternalError, Message: "internal error"}
}

// paramsShape says what params a method takes, in the protocol's terms.
func paramsShape(method string) string {
	switch method {
	case "tools/call":
		return `params must be an object with "name" (a string, a tool from tools/list) and optionally "arguments" (an object)`
	case "initialize":
		return `params must be an object with "protocolVersion" (a string), "capabilities" (an object) and "clientInfo" (an object with "name" and "version" strings)`
	case "tools/list", "prompts/list", "resources/list", "resources/templates/list":
		return `params, when sent, must be an object whose optional "cursor" is a string`
	case "prompts/get":
		return `params must be an object with "name" (a string, a prompt from prompts/list) and optionally "arguments" (an object of strings)`
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		return `params must be an object with "uri" (a string, a resource from resources/list)`
	}
	return "params do not have the shape this method takes (see the MCP specification)"
}

// httpRefusal is kitegate's JSON-RPC error for a text/plain refusal of the
// SDK, by its HTTP status.
func httpRefusal(status int) (int64, string) {
	switch status {
	case http.StatusForbidden:
		return jsonrpc.CodeInvalidRequest, "forbidden: this server does not answer for that Host header"
	case http.StatusUnsupportedMediaType:
		return jsonrpc.CodeInvalidRequest, "Content-Type must be application/json"
	case http.StatusRequestEntityTooLarge:
		return jsonrpc.CodeInvalidRequest, "request body too large"
	case http.StatusBadRequest:
		return jsonrpc.CodeInvalidRequest, "bad request: Accept must list application/json and text/event-stream, and MCP-Protocol-Version, when sent, must be a supported version"
	}
	if status >= 500 {
		return jsonrpc.CodeInternalError, "internal error"
	}
	return jsonrpc.CodeInvalidRequest, "the request was refused"
}
