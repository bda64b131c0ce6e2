package buildkitetest

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	defaultPerPage = 30
	maxPerPage     = 100
)

func (s *Server) getUser(c *call) {
	writeJSON(c.w, http.StatusOK, c.rend.user(&s.data.User))
}

func (s *Server) getAccessToken(c *call) {
	t := c.tok
	out := accessTokenJSON{
		UUID:        t.uuid,
		Scopes:      slices.Clone(t.scopes),
		Description: t.description,
		CreatedAt:   ts(t.createdAt),
		ExpiresAt:   tsp(t.expiresAt),
	}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	out.User.UUID = s.data.User.ID
	out.User.Name = s.data.User.Name
	out.User.Email = s.data.User.Email
	writeJSON(c.w, http.StatusOK, out)
}

func (s *Server) deleteAccessToken(c *call) {
	c.tok.revoked = true
	c.w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listOrganizations(c *call) {
	lo, hi, ok := c.page(len(s.data.Organizations))
	if !ok {
		return
	}
	out := []organizationJSON{}
	for _, o := range s.data.Organizations[lo:hi] {
		out = append(out, c.rend.organization(o))
	}
	writeJSON(c.w, http.StatusOK, out)
}

func (s *Server) getOrganization(c *call) {
	if o := s.org(c); o != nil {
		writeJSON(c.w, http.StatusOK, c.rend.organization(o))
	}
}

func (s *Server) listPipelines(c *call) {
	o := s.org(c)
	if o == nil {
		return
	}
	q := c.r.URL.Query()
	name, repo := strings.ToLower(q.Get("name")), q.Get("repository")
	var ps []*Pipeline
	for _, p := range o.Pipelines {
		if name != "" && !strings.Contains(strings.ToLower(p.Name), name) {
			continue
		}
		if repo != "" && !strings.Contains(p.Repository, repo) {
			continue
		}
		ps = append(ps, p)
	}
	lo, hi, ok := c.page(len(ps))
	if !ok {
		return
	}
	out := []*pipelineJSON{}
	for _, p := range ps[lo:hi] {
		out = append(out, c.rend.pipeline(o, p))
	}
	writeJSON(c.w, http.StatusOK, out)
}

func (s *Server) getPipeline(c *call) {
	if o, p := s.pipeline(c); p != nil {
		writeJSON(c.w, http.StatusOK, c.rend.pipeline(o, p))
	}
}

type located struct {
	o *Organization
	p *Pipeline
	b *Build
}

// listBuilds serves /v2/builds, the organization's builds and the pipeline's,
// depending on which path parameters are present.
func (s *Server) listBuilds(c *call) {
	var all []located
	switch {
	case c.params["pipeline"] != "":
		o, p := s.pipeline(c)
		if p == nil {
			return
		}
		for _, b := range sortedBuilds(p.Builds) {
			all = append(all, located{o, p, b})
		}
	case c.params["org"] != "":
		o := s.org(c)
		if o == nil {
			return
		}
		all = orgBuilds(o)
	default:
		for _, o := range s.data.Organizations {
			all = append(all, orgBuilds(o)...)
		}
		slices.SortStableFunc(all, func(a, b located) int { return b.b.CreatedAt.Compare(a.b.CreatedAt) })
	}

	q := c.r.URL.Query()
	f, err := parseBuildFilter(q)
	if err != nil {
		writeJSON(c.w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return
	}
	var kept []located
	for _, l := range all {
		if f.keep(l.b) {
			kept = append(kept, l)
		}
	}
	lo, hi, ok := c.page(len(kept))
	if !ok {
		return
	}
	opt := buildOptsFrom(q)
	out := []buildJSON{}
	for _, l := range kept[lo:hi] {
		out = append(out, c.rend.build(l.o, l.p, l.b, opt))
	}
	writeJSON(c.w, http.StatusOK, out)
}

func orgBuilds(o *Organization) []located {
	var out []located
	for _, p := range o.Pipelines {
		for _, b := range p.Builds {
			out = append(out, located{o, p, b})
		}
	}
	slices.SortStableFunc(out, func(a, b located) int { return b.b.CreatedAt.Compare(a.b.CreatedAt) })
	return out
}

func buildOptsFrom(q url.Values) buildOpts {
	return buildOpts{
		includeRetried:  q.Get("include_retried_jobs") == "true",
		excludeJobs:     q.Get("exclude_jobs") == "true",
		excludePipeline: q.Get("exclude_pipeline") == "true",
	}
}

type buildFilter struct {
	branches, states       []string
	commit, creator        string
	createdFrom, createdTo time.Time
	finishedFrom           time.Time
	metaData               map[string]string
}

// metaDataKey matches meta_data[key]=value query parameters.
var metaDataKey = regexp.MustCompile(`^meta_data\[(.+)\]$`)

func parseBuildFilter(q url.Values) (buildFilter, error) {
	f := buildFilter{
		branches: append(q["branch"], q["branch[]"]...),
		commit:   q.Get("commit"),
		creator:  q.Get("creator"),
		metaData: map[string]string{},
	}
	for _, st := range append(q["state"], q["state[]"]...) {
		if st == "finished" {
			f.states = append(f.states, "passed", "failed", "blocked", "canceled")
			continue
		}
		f.states = append(f.states, st)
	}
	for name, dst := range map[string]*time.Time{"created_from": &f.createdFrom, "created_to": &f.createdTo, "finished_from": &f.finishedFrom} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, fmt.Errorf("%s must be an ISO 8601 time", name)
			}
			*dst = t
		}
	}
	for k, v := range q {
		if m := metaDataKey.FindStringSubmatch(k); m != nil && len(v) > 0 {
			f.metaData[m[1]] = v[0]
		}
	}
	return f, nil
}

func (f buildFilter) keep(b *Build) bool {
	switch {
	case len(f.branches) > 0 && !slices.Contains(f.branches, b.Branch),
		len(f.states) > 0 && !slices.Contains(f.states, b.State),
		f.commit != "" && f.commit != b.Commit,
		f.creator != "" && (b.Creator == nil || (b.Creator.ID != f.creator && b.Creator.Email != f.creator)),
		!f.createdFrom.IsZero() && b.CreatedAt.Before(f.createdFrom),
		!f.createdTo.IsZero() && !b.CreatedAt.Before(f.createdTo),
		!f.finishedFrom.IsZero() && (b.FinishedAt == nil || b.FinishedAt.Before(f.finishedFrom)):
		return false
	}
	for k, v := range f.metaData {
		if b.MetaData[k] != v {
			return false
		}
	}
	return true
}

func (s *Server) getBuild(c *call) {
	o, p, b := s.build(c)
	if b == nil {
		return
	}
	q := c.r.URL.Query()
	bj := c.rend.build(o, p, b, buildOptsFrom(q))
	if q.Get("include_test_engine") == "true" {
		bj.TestEngine = o.testEngine(b)
	}
	if states := q["job_states[]"]; len(states) > 0 {
		bj.Jobs = slices.DeleteFunc(bj.Jobs, func(j jobJSON) bool { return !slices.Contains(states, j.State) })
	}
	writeJSON(c.w, http.StatusOK, bj)
}

type createBuildBody struct {
	Commit  *string `json:"commit"`
	Branch  *string `json:"branch"`
	Message string  `json:"message"`
	Author  *struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"author"`
	Env                   map[string]string `json:"env"`
	MetaData              map[string]string `json:"meta_data"`
	PullRequestID         json.Number       `json:"pull_request_id"`
	PullRequestBaseBranch string            `json:"pull_request_base_branch"`
	PullRequestRepository string            `json:"pull_request_repository"`
}

type fieldError struct {
	Field string `json:"field"`
	Code  string `json:"code"`
}

func (s *Server) createBuild(c *call) {
	o, p := s.pipeline(c)
	if p == nil {
		return
	}
	var body createBuildBody
	if err := json.NewDecoder(c.r.Body).Decode(&body); err != nil {
		writeJSON(c.w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	var errs []fieldError
	if body.Commit == nil || *body.Commit == "" {
		errs = append(errs, fieldError{Field: "commit", Code: "missing_field"})
	}
	if body.Branch == nil || *body.Branch == "" {
		errs = append(errs, fieldError{Field: "branch", Code: "missing_field"})
	}
	if len(errs) > 0 {
		writeJSON(c.w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed", "errors": errs})
		return
	}
	u := s.data.User
	b := &Build{
		Message:  body.Message,
		Commit:   *body.Commit,
		Branch:   *body.Branch,
		Env:      body.Env,
		Source:   "api",
		Creator:  &u,
		MetaData: body.MetaData,
	}
	if body.Author != nil {
		b.Author = &Author{Name: body.Author.Name, Email: body.Author.Email}
	}
	if body.PullRequestID != "" && body.PullRequestID != "0" {
		b.PullRequest = &PullRequest{ID: body.PullRequestID.String(), Base: body.PullRequestBaseBranch, Repository: body.PullRequestRepository}
	}
	s.schedule(o, p, b)
	writeJSON(c.w, http.StatusCreated, c.rend.build(o, p, b, buildOpts{}))
}

func (s *Server) cancelBuild(c *call) {
	o, p, b := s.build(c)
	if b == nil {
		return
	}
	now := s.clock().UTC().Truncate(time.Millisecond)
	switch b.State {
	case "scheduled", "blocked", "creating", "waiting":
		b.State = "canceled"
		b.FinishedAt = &now
		for _, j := range b.Jobs {
			if j.State == "scheduled" || j.State == "waiting" || j.State == "blocked" || j.State == "pending" {
				j.State = "canceled"
			}
		}
	case "running", "failing":
		b.State = "canceling"
		for _, j := range b.Jobs {
			switch j.State {
			case "running":
				j.State = "canceling"
			case "scheduled", "waiting", "blocked", "pending":
				j.State = "canceled"
			}
		}
	case "canceling":
	default:
		writeJSON(c.w, http.StatusUnprocessableEntity, map[string]string{
			"message": "Build can't be canceled because it's already finished",
		})
		return
	}
	b.Blocked = false
	writeJSON(c.w, http.StatusOK, c.rend.build(o, p, b, buildOpts{}))
}

// listJobs answers GET .../builds/{n}/jobs with cursor pagination:
// {"items": [...], "links": {"first", "self", "prev", "next"}}, links being
// absolute URLs (go-buildkite's JobsListLinks). Buildkite's docs do not
// define the cursor; here it is opaque (base64url of a job ID). "after=C"
// returns the jobs following C, "before=C" the per_page jobs preceding it;
// "prev" and "next" are present only when there is something there.
func (s *Server) listJobs(c *call) {
	o, p, b := s.build(c)
	if b == nil {
		return
	}
	q := c.r.URL.Query()
	perPage, ok := c.perPage(q)
	if !ok {
		return
	}
	states := append(q["state"], q["state[]"]...)
	var jobs []*Job
	for _, j := range visibleJobs(b, q.Get("include_retried_jobs") == "true") {
		if len(states) > 0 && !slices.Contains(states, j.State) {
			continue
		}
		if k := q.Get("step_key"); k != "" && j.StepKey != k {
			continue
		}
		if k := q.Get("group_key"); k != "" && j.GroupKey != k {
			continue
		}
		jobs = append(jobs, j)
	}
	index := func(cursor string) (int, bool) {
		id, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil {
			return 0, false
		}
		i := slices.IndexFunc(jobs, func(j *Job) bool { return j.ID == string(id) })
		return i, i >= 0
	}
	lo, hi := 0, min(perPage, len(jobs))
	if a, bf := q.Get("after"), q.Get("before"); a != "" || bf != "" {
		cur := a
		if cur == "" {
			cur = bf
		}
		i, ok := index(cur)
		if !ok {
			writeJSON(c.w, http.StatusBadRequest, map[string]string{"message": "Invalid cursor"})
			return
		}
		if a != "" {
			lo, hi = i+1, min(i+1+perPage, len(jobs))
		} else {
			lo, hi = max(0, i-perPage), i
		}
	}
	items := []jobJSON{}
	for _, j := range jobs[lo:hi] {
		items = append(items, c.rend.job(o, p, b, j))
	}
	link := func(set, cursor string) string {
		u := c.selfURL()
		v := u.Query()
		v.Del("after")
		v.Del("before")
		if set != "" {
			v.Set(set, cursor)
		}
		v.Set("per_page", itoa(perPage))
		u.RawQuery = v.Encode()
		return u.String()
	}
	cursorOf := func(j *Job) string { return base64.RawURLEncoding.EncodeToString([]byte(j.ID)) }
	links := map[string]string{"first": link("", ""), "self": c.selfURL().String()}
	if hi < len(jobs) && hi > lo {
		links["next"] = link("after", cursorOf(jobs[hi-1]))
	}
	if lo > 0 && hi > lo {
		links["prev"] = link("before", cursorOf(jobs[lo]))
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"items": items, "links": links})
}

func (s *Server) getJob(c *call) {
	if c.params["pipeline"] == "" {
		// /v2/organizations/{o}/jobs/{j}
		o := s.org(c)
		if o == nil {
			return
		}
		for _, p := range o.Pipelines {
			for _, b := range p.Builds {
				for _, j := range b.Jobs {
					if j.ID == c.params["job"] {
						writeJSON(c.w, http.StatusOK, c.rend.job(o, p, b, j))
						return
					}
				}
			}
		}
		c.notFound(msgNotFound)
		return
	}
	if o, p, b, j := s.job(c); j != nil {
		writeJSON(c.w, http.StatusOK, c.rend.job(o, p, b, j))
	}
}

// headerTime finds the agent's "\x1b_bk;t=<ms>\x07" timestamp that opens a
// section header line ("~~~ ", "--- " or "+++ ").
var headerTime = regexp.MustCompile(`(?m)^\x1b_bk;t=(\d+)\x07(?:~~~|---|\+\+\+) `)

// getLog answers the job log: JSON {url, content, size, header_times} by
// default; the raw bytes for "Accept: text/plain", the .txt path and HEAD,
// with Range support (206 and Content-Range, e.g. "bytes=-N" for a tail).
func (s *Server) getLog(c *call) {
	o, p, b, j := s.job(c)
	if j == nil {
		return
	}
	if j.Type != JobTypeScript {
		c.notFound(msgNotFound)
		return
	}
	raw := strings.HasSuffix(c.r.URL.Path, ".txt") || c.r.Method == http.MethodHead ||
		strings.Contains(c.r.Header.Get("Accept"), "text/plain")
	if raw {
		c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if j.BigLog != nil {
			http.ServeContent(c.w, c.r, "", time.Time{}, j.BigLog.reader())
			return
		}
		http.ServeContent(c.w, c.r, "", time.Time{}, strings.NewReader(j.Log))
		return
	}
	times := []int64{}
	for _, m := range headerTime.FindAllStringSubmatch(j.Log, -1) {
		t, _ := strconv.ParseInt(m[1], 10, 64)
		times = append(times, t)
	}
	writeJSON(c.w, http.StatusOK, map[string]any{
		"url":          c.rend.api("organizations/%s/pipelines/%s/builds/%d/jobs/%s/log", o.Slug, p.Slug, b.Number, j.ID),
		"content":      j.Log,
		"size":         len(j.Log),
		"header_times": times,
	})
}

func (s *Server) getEnv(c *call) {
	_, _, _, j := s.job(c)
	if j == nil {
		return
	}
	env := j.Env
	if env == nil {
		env = map[string]string{}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"env": env})
}

func (s *Server) listAnnotations(c *call) {
	_, _, b := s.build(c)
	if b == nil {
		return
	}
	jobID := c.params["job"]
	if jobID != "" && !slices.ContainsFunc(b.Jobs, func(j *Job) bool { return j.ID == jobID }) {
		c.notFound(msgNotFound)
		return
	}
	var as []*Annotation
	for _, a := range b.Annotations {
		if jobID == "" || a.JobID == jobID {
			as = append(as, a)
		}
	}
	lo, hi, ok := c.page(len(as))
	if !ok {
		return
	}
	out := []annotationJSON{}
	for _, a := range as[lo:hi] {
		out = append(out, c.rend.annotation(a))
	}
	writeJSON(c.w, http.StatusOK, out)
}

func (s *Server) listArtifacts(c *call) {
	o, p, b := s.build(c)
	if b == nil {
		return
	}
	type pair struct {
		j *Job
		a *Artifact
	}
	var all []pair
	if c.params["job"] != "" {
		_, _, _, j := s.job(c)
		if j == nil {
			return
		}
		for _, a := range j.Artifacts {
			all = append(all, pair{j, a})
		}
	} else {
		for _, j := range b.Jobs {
			for _, a := range j.Artifacts {
				all = append(all, pair{j, a})
			}
		}
	}
	lo, hi, ok := c.page(len(all))
	if !ok {
		return
	}
	out := []artifactJSON{}
	for _, x := range all[lo:hi] {
		out = append(out, c.rend.artifact(o, p, b, x.j, x.a))
	}
	writeJSON(c.w, http.StatusOK, out)
}

func (s *Server) artifact(c *call) (*Organization, *Pipeline, *Build, *Job, *Artifact) {
	o, p, b, j := s.job(c)
	if j == nil {
		return nil, nil, nil, nil, nil
	}
	for _, a := range j.Artifacts {
		if a.ID == c.params["artifact"] {
			return o, p, b, j, a
		}
	}
	c.notFound(msgNotFound)
	return nil, nil, nil, nil, nil
}

func (s *Server) getArtifact(c *call) {
	if o, p, b, j, a := s.artifact(c); a != nil {
		writeJSON(c.w, http.StatusOK, c.rend.artifact(o, p, b, j, a))
	}
}

// presignTTL is how long a download URL stays valid, as on Buildkite.
const presignTTL = 60 * time.Second

// StorePrefix is the path of the simulated artifact store.
const StorePrefix = "/_artifact-store/"

// downloadArtifact answers 302 to a presigned, S3-style URL on the artifact
// store: the second 127.0.0.1 listener for a server made by New, or
// /_artifact-store/ on the request's host for one made by NewHandler. The URL
// needs no token and expires presignTTL after it was issued.
func (s *Server) downloadArtifact(c *call) {
	_, _, _, _, a := s.artifact(c)
	if a == nil {
		return
	}
	base := s.storeURL
	if base == "" {
		base = "http://" + c.r.Host + StorePrefix
	}
	date := s.clock().UTC().Format("20060102T150405Z")
	v := url.Values{}
	v.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA256")
	v.Set("X-Amz-Credential", "ASIASIMULATEDKEY0000/"+date[:8]+"/us-east-1/s3/aws4_request")
	v.Set("X-Amz-Date", date)
	v.Set("X-Amz-Expires", itoa(int(presignTTL.Seconds())))
	v.Set("X-Amz-SignedHeaders", "host")
	v.Set("X-Amz-Signature", s.sign(a.ID, date))
	name := a.Path
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	loc := base + a.ID + "/" + url.PathEscape(name) + "?" + v.Encode()
	c.w.Header().Set("Location", loc)
	writeJSON(c.w, http.StatusFound, map[string]string{"url": loc})
}

// serveStore is the artifact store behind presigned URLs. It answers like S3:
// XML errors, 403 for a bad or expired signature.
func (s *Server) serveStore(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(r, true)
	s3Error := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n<Error><Code>%s</Code><Message>%s</Message></Error>\n", code, msg)
	}
	rest, _ := strings.CutPrefix(r.URL.Path, StorePrefix)
	id, _, _ := strings.Cut(rest, "/")
	q := r.URL.Query()
	date := q.Get("X-Amz-Date")
	if !hmac256Equal(q.Get("X-Amz-Signature"), s.sign(id, date)) {
		s3Error(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
		return
	}
	issued, err := time.Parse("20060102T150405Z", date)
	if err != nil || !s.clock().Before(issued.Add(presignTTL)) {
		s3Error(http.StatusForbidden, "AccessDenied", "Request has expired")
		return
	}
	for _, o := range s.data.Organizations {
		for _, p := range o.Pipelines {
			for _, b := range p.Builds {
				for _, j := range b.Jobs {
					for _, a := range j.Artifacts {
						if a.ID == id {
							w.Header().Set("Content-Type", a.MimeType)
							http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.Content))
							return
						}
					}
				}
			}
		}
	}
	s3Error(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
}

func hmac256Equal(a, b string) bool {
	return a != "" && hmac.Equal([]byte(a), []byte(b))
}

// page applies page pagination for a list of total items: it reads page and
// per_page (default 30, at most 100; larger values are clamped, values that
// are not positive integers answer 400), sets the RFC 5988 Link header with
// absolute next/prev/first/last URLs where they apply, and returns the slice
// bounds.
func (c *call) page(total int) (lo, hi int, ok bool) {
	q := c.r.URL.Query()
	perPage, ok := c.perPage(q)
	if !ok {
		return 0, 0, false
	}
	page := 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeJSON(c.w, http.StatusBadRequest, map[string]string{"message": "page must be a positive integer"})
			return 0, 0, false
		}
		page = n
	}
	last := max(1, (total+perPage-1)/perPage)
	link := func(n int, rel string) string {
		u := c.selfURL()
		v := u.Query()
		v.Set("page", itoa(n))
		v.Set("per_page", itoa(perPage))
		u.RawQuery = v.Encode()
		return fmt.Sprintf("<%s>; rel=%q", u, rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(min(page-1, last), "prev"))
	}
	if len(links) > 0 {
		c.w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo = min(total, (page-1)*perPage)
	hi = min(total, lo+perPage)
	return lo, hi, true
}

func (c *call) perPage(q url.Values) (int, bool) {
	v := q.Get("per_page")
	if v == "" {
		return defaultPerPage, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		writeJSON(c.w, http.StatusBadRequest, map[string]string{"message": "per_page must be a positive integer"})
		return 0, false
	}
	return min(n, maxPerPage), true
}

// selfURL is the absolute URL of the current request.
func (c *call) selfURL() *url.URL {
	u, _ := url.Parse(strings.TrimSuffix(c.rend.base, "/") + c.r.URL.Path)
	u.RawQuery = c.r.URL.RawQuery
	return u
}
