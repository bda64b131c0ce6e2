package buildkite

import (
	"net/url"
	"regexp"
	"strconv"
)

// go-buildkite formats path segments into URLs without escaping them, so
// every segment is checked here and escaped before it reaches go-buildkite.
// Slugs are at most 100 bytes; the length is checked apart from the pattern,
// whose counted repetition would cost every cold start half a millisecond.
var (
	slugPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	numberPattern = regexp.MustCompile(`^[1-9][0-9]{0,9}$`)
	uuidPattern   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// maxSegment bounds every path segment (slugs are at most 100 bytes, the
// other kinds shorter).
const maxSegment = 100

// segment is one checked, escaped path segment.
func segment(what, value string, pattern *regexp.Regexp) (string, error) {
	if len(value) > maxSegment || !pattern.MatchString(value) {
		shown := value
		if len(shown) > 64 {
			shown = shown[:64] + "…"
		}
		return "", invalid("invalid %s %s", what, strconv.Quote(shown))
	}
	return url.PathEscape(value), nil
}

// path holds the checked segments of one call; the first failure sticks.
type path struct {
	err error
}

func (p *path) slug(what, v string) string   { return p.check(what, v, slugPattern) }
func (p *path) number(what, v string) string { return p.check(what, v, numberPattern) }
func (p *path) uuid(what, v string) string   { return p.check(what, v, uuidPattern) }

func (p *path) check(what, v string, re *regexp.Regexp) string {
	if p.err != nil {
		return ""
	}
	s, err := segment(what, v, re)
	p.err = err
	return s
}
