package identity

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"
)

// DevConfig configures the local-mode authenticator.
type DevConfig struct {
	// Default is the caller of every request when there is no token file,
	// and of requests without a token when AllowAnonymous is set.
	Default Caller
	// Tokens, if set, maps bearer tokens to callers: the dev token file
	// (KITEGATE_DEV_TOKENS), read by identity/devtokens.
	Tokens map[string]Caller
	// Source names where Tokens came from (the file) in errors and warnings.
	Source string
	// AllowAnonymous lets a request without a token through as Default even
	// when tokens are in use.
	AllowAnonymous bool
}

// Dev is the local-mode Authenticator. It trusts its configuration, not a
// signature: never use it where the server is reachable by others.
type Dev struct {
	def       Caller
	anonymous bool // requests without a token are def
	tokens    []devToken
	warnings  []string
}

type devToken struct {
	token  []byte
	caller Caller
}

var _ Authenticator = (*Dev)(nil)

// NewDev checks cfg and returns the dev authenticator.
func NewDev(cfg DevConfig) (*Dev, error) {
	d := &Dev{def: cfg.Default, anonymous: len(cfg.Tokens) == 0 || cfg.AllowAnonymous}
	d.def.Source = SourceDev
	if d.anonymous && d.def.Subject == "" {
		return nil, errors.New("dev identity: the default caller needs a subject")
	}
	for token, u := range cfg.Tokens {
		if token == "" || u.Subject == "" {
			// The token itself is a secret: name the file, not the entry.
			return nil, fmt.Errorf("dev identity: %s: every token needs a non-empty value and a sub", cfg.Source)
		}
		if strings.IndexFunc(token, unicode.IsSpace) >= 0 {
			// A bearer token cannot hold whitespace (RFC 6750 b64token),
			// so this entry can never be used: say so at start, naming
			// the sub, not the token.
			d.warnings = append(d.warnings, fmt.Sprintf("%s: the token of sub %q contains whitespace and can never be sent as a bearer token", cfg.Source, u.Subject))
		}
		c := u.clone()
		c.Source = SourceDev
		d.tokens = append(d.tokens, devToken{token: []byte(token), caller: c})
	}
	return d, nil
}

// Warnings lists what is wrong but not fatal in the token file, for the
// log at start.
func (d *Dev) Warnings() []string { return slices.Clone(d.warnings) }

// Authenticate returns the caller named by the request's token, or the
// default caller where the configuration allows it.
func (d *Dev) Authenticate(_ context.Context, r *http.Request) (Caller, error) {
	if len(d.tokens) == 0 {
		return d.def.clone(), nil
	}
	token, err := bearerToken(r)
	if errors.Is(err, ErrMissingToken) && d.anonymous {
		return d.def.clone(), nil
	}
	if err != nil {
		return Caller{}, err
	}
	// Compare against every entry in constant time so timing says nothing
	// about how close a guess was.
	var found *devToken
	for i := range d.tokens {
		if subtle.ConstantTimeCompare(d.tokens[i].token, []byte(token)) == 1 {
			found = &d.tokens[i]
		}
	}
	if found == nil {
		return Caller{}, invalid("unknown token", nil)
	}
	return found.caller.clone(), nil
}

// clone keeps callers from changing the authenticator's copy of Groups.
func (c Caller) clone() Caller {
	c.Groups = slices.Clone(c.Groups)
	return c
}
