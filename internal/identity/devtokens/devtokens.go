// Package devtokens reads local mode's dev token file (KITEGATE_DEV_TOKENS):
// YAML mapping bearer tokens to callers,
//
//	tokens:
//	  "<bearer>": {sub: alice, email: alice@example.com, groups: [admins]}
//
// for identity.NewDev. Apart from internal/identity so that what verifies
// real tokens (the mcp function on Lambda) links no YAML.
package devtokens

import (
	"bytes"
	"fmt"
	"os"

	yaml "go.yaml.in/yaml/v3"

	"github.com/kitegate/kitegate/internal/identity"
)

// Read reads the token file at path, strictly: an unknown field or a file
// without tokens is an error. Errors name the file, never a token.
func Read(path string) (map[string]identity.Caller, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dev identity: %w", err)
	}
	var file struct {
		Tokens map[string]struct {
			Sub    string   `yaml:"sub"`
			Email  string   `yaml:"email"`
			Groups []string `yaml:"groups"`
		} `yaml:"tokens"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("dev identity: %s: %w", path, err)
	}
	if len(file.Tokens) == 0 {
		return nil, fmt.Errorf("dev identity: %s: no tokens", path)
	}
	out := make(map[string]identity.Caller, len(file.Tokens))
	for token, u := range file.Tokens {
		out[token] = identity.Caller{Subject: u.Sub, Email: u.Email, Groups: u.Groups}
	}
	return out, nil
}
