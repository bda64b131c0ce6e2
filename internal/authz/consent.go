package authz

import (
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Allow {{.Client}} to use kitegate?</title>
<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}button{font:inherit;padding:.5rem 1rem;margin-right:1rem}code{font-size:.9em}</style>
</head><body>
<h1>Allow <em>{{.Client}}</em> to use kitegate as {{.User}}?</h1>
{{if .Document}}<p>It describes itself in the document at <code>{{.Document}}</code>; its name is its own claim.</p>{{end}}
<p>The application will be sent back to <code>{{.Redirect}}</code>.</p>
{{if .Tools}}<p>It would be able to call these Buildkite tools for you, as the current policy allows:</p>
<ul>{{range .Tools}}<li><code>{{.}}</code></li>{{end}}</ul>{{else if .ToolsKnown}}<p>The current policy gives you no tools yet.</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="id" value="{{.ID}}"><input type="hidden" name="csrf" value="{{.CSRF}}">
<button type="submit" name="decision" value="approve" id="approve">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form></body></html>
`))

// handleConsent shows the consent page (GET) and records the decision
// (POST). Server-rendered, no script; the CSP forbids everything but the
// inline style and a form post to this origin, and no page may frame it.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", consentCSP(""))
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	noStore(w)
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		req, err := s.boundRequest(r, r.URL.Query().Get("id"))
		if err != nil || req.User == nil || req.Consented {
			plainError(w, http.StatusBadRequest, "invalid_request", "this sign-in has expired, was already used, or was started in another browser; start again from your client")
			return
		}
		c, err := s.client(ctx, req.ClientID)
		if err != nil {
			plainError(w, http.StatusBadRequest, "invalid_client", "this client is not allowed to sign in")
			return
		}
		var tools []string
		known := s.cfg.Tools != nil
		if known {
			if tools, err = s.cfg.Tools(ctx, *req.User); err != nil {
				known = false
				s.log.WarnContext(ctx, "authz: consent page: tools under the policy", "err", err)
			}
		}
		name := c.Name
		if name == "" {
			name = "an unnamed application"
		}
		user := req.User.Email
		if user == "" {
			user = req.User.Subject
		}
		redirect := req.RedirectURI
		if u, err := url.Parse(redirect); err == nil {
			u.RawQuery = ""
			redirect = u.String()
		}
		// The Allow and Deny posts end in a redirect to the client, and
		// browsers hold redirects after a form post to form-action too.
		h.Set("Content-Security-Policy", consentCSP(req.RedirectURI))
		h.Set("Content-Type", "text/html; charset=utf-8")
		_ = consentPage.Execute(w, map[string]any{
			"Client": name, "Document": map[bool]string{true: c.ID}[c.Source == SourceMetadata], "User": user, "Redirect": redirect, "Tools": tools, "ToolsKnown": known,
			"Action": s.cfg.Issuer + pathConsent, "ID": req.ID, "CSRF": req.CSRF,
		})
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		if err := r.ParseForm(); err != nil {
			plainError(w, http.StatusBadRequest, "invalid_request", "the form cannot be parsed")
			return
		}
		req, err := s.boundRequest(r, r.PostForm.Get("id"))
		if err != nil || req.User == nil || req.Consented || !csrfEqual(r.PostForm.Get("csrf"), req.CSRF) {
			plainError(w, http.StatusForbidden, "access_denied", "this consent form is not valid for this browser; start again from your client")
			return
		}
		if r.PostForm.Get("decision") != "approve" {
			s.log.InfoContext(ctx, "authz: user denied consent", "sub", req.User.Subject, "client_id", req.ClientID)
			s.redirectError(w, r, req, "access_denied", "the user denied access")
			return
		}
		if err := s.store.putConsent(ctx, req.ClientID, req.User.Subject); err != nil {
			s.log.ErrorContext(ctx, "authz: save consent", "err", err)
			plainError(w, http.StatusInternalServerError, "server_error", "the consent could not be saved")
			return
		}
		req.Consented = true
		if err := s.store.putRequest(ctx, req); err != nil {
			s.log.ErrorContext(ctx, "authz: save sign-in", "err", err)
			plainError(w, http.StatusInternalServerError, "server_error", "the sign-in could not be saved")
			return
		}
		s.log.InfoContext(ctx, "authz: user consented", "sub", req.User.Subject, "client_id", req.ClientID)
		http.Redirect(w, r, s.cfg.Issuer+pathAuthorizeDone+"?id="+url.QueryEscape(req.ID), http.StatusSeeOther)
	default:
		h.Set("Allow", "GET, POST")
		plainError(w, http.StatusMethodNotAllowed, "invalid_request", "use GET or POST")
	}
}

// consentCSP is the consent page's policy: nothing but the inline style and
// a form post to this origin, whose answer may redirect to the client's
// redirect URI (its origin, or its private-use scheme), and no framing.
func consentCSP(redirectURI string) string {
	action := "'self'"
	if src := redirectSource(redirectURI); src != "" {
		action += " " + src
	}
	return "default-src 'none'; style-src 'unsafe-inline'; form-action " + action + "; frame-ancestors 'none'; base-uri 'none'"
}

// redirectSource is a CSP source expression for a redirect URI: its origin
// for http and https, its scheme for a private-use scheme; "" when it
// cannot be written as one safely.
func redirectSource(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || !cspToken.MatchString(u.Scheme) {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return scheme + ":"
	}
	if u.Host == "" || !cspToken.MatchString(strings.NewReplacer("[", "", "]", "", ":", "").Replace(u.Host)) {
		return ""
	}
	return scheme + "://" + u.Host
}

var cspToken = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9+.-]*$`)
