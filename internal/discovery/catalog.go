package discovery

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/tools"
)

// Catalog returns the tools of c as the policy governs them: name,
// definition hash, per-part digests, class and required scopes. It is the
// one conversion from the tool catalog to policy tools (the mcp function,
// the admin commands and discovery all use it).
func Catalog(c *tools.Catalog) []policy.Tool {
	all := c.Tools()
	out := make([]policy.Tool, 0, len(all))
	for _, t := range all {
		s := t.Spec()
		out = append(out, policy.Tool{
			Name:   s.Name,
			Hash:   t.Hash(),
			Digest: DigestOf(t),
			Class:  policy.Class(s.Kind),
			Scopes: s.Scopes,
		})
	}
	return out
}

// DigestOf digests each reviewable part of t's definition separately, so
// that a changed hash can be explained part by part.
func DigestOf(t *tools.Tool) policy.Digest {
	def, spec := t.Definition(), t.Spec()
	return policy.Digest{
		Description:  digest(def.Title, def.Description),
		InputSchema:  digest(def.InputSchema),
		OutputSchema: digest(t.OutputSchema()),
		Annotations:  digest(def.Annotations, spec.Kind),
		Scopes:       digest(spec.Scopes),
	}
}

// digest is the first 16 hex digits of the SHA-256 of the values' JSON:
// enough to tell two definitions apart, short enough to keep on every tool
// item.
func digest(vs ...any) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, v := range vs {
		// Schemas, annotations, strings and string lists always encode.
		_ = enc.Encode(v)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
