package buildkitetest

import (
	"net/http"
	"strconv"
	"strings"
)

// call is one API request being answered.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	params map[string]string
	tok    *token
	rend   renderer
}

type route struct {
	method  string
	pattern []string // literal segments, or ":name" for a parameter
	scope   string   // the token scope the endpoint requires; "" for none
	handle  func(*Server, *call)
}

func rte(method, pattern, scope string, h func(*Server, *call)) route {
	return route{method: method, pattern: strings.Split(pattern, "/"), scope: scope, handle: h}
}

const (
	orgPath      = "v2/organizations/:org"
	pipelinePath = orgPath + "/pipelines/:pipeline"
	buildPath    = pipelinePath + "/builds/:build"
	jobPath      = buildPath + "/jobs/:job"
)

var routes = []route{
	rte("GET", "v2/user", "read_user", (*Server).getUser),
	rte("GET", "v2/access-token", "", (*Server).getAccessToken),
	rte("DELETE", "v2/access-token", "", (*Server).deleteAccessToken),
	rte("GET", "v2/organizations", "read_organizations", (*Server).listOrganizations),
	rte("GET", orgPath, "read_organizations", (*Server).getOrganization),
	rte("GET", "v2/builds", "read_builds", (*Server).listBuilds),
	rte("GET", orgPath+"/builds", "read_builds", (*Server).listBuilds),
	rte("GET", orgPath+"/jobs/:job", "read_builds", (*Server).getJob),
	rte("GET", orgPath+"/pipelines", "read_pipelines", (*Server).listPipelines),
	rte("GET", pipelinePath, "read_pipelines", (*Server).getPipeline),
	rte("GET", pipelinePath+"/builds", "read_builds", (*Server).listBuilds),
	rte("POST", pipelinePath+"/builds", "write_builds", (*Server).createBuild),
	rte("GET", buildPath, "read_builds", (*Server).getBuild),
	rte("PUT", buildPath+"/cancel", "write_builds", (*Server).cancelBuild),
	rte("PUT", buildPath+"/rebuild", "write_builds", (*Server).rebuildBuild),
	rte("POST", buildPath+"/annotations", "write_builds", (*Server).createAnnotation),
	rte("PUT", jobPath+"/unblock", "write_builds", (*Server).unblockJob),
	rte("PUT", jobPath+"/retry", "write_builds", (*Server).retryJob),
	rte("GET", buildPath+"/jobs", "read_builds", (*Server).listJobs),
	rte("GET", buildPath+"/annotations", "read_builds", (*Server).listAnnotations),
	rte("GET", buildPath+"/artifacts", "read_artifacts", (*Server).listArtifacts),
	rte("GET", jobPath, "read_builds", (*Server).getJob),
	rte("GET", jobPath+"/log", "read_build_logs", (*Server).getLog),
	rte("HEAD", jobPath+"/log", "read_build_logs", (*Server).getLog),
	rte("GET", jobPath+"/log.txt", "read_build_logs", (*Server).getLog),
	rte("HEAD", jobPath+"/log.txt", "read_build_logs", (*Server).getLog),
	rte("GET", jobPath+"/env", "read_job_env", (*Server).getEnv),
	rte("GET", jobPath+"/annotations", "read_builds", (*Server).listAnnotations),
	rte("GET", jobPath+"/artifacts", "read_artifacts", (*Server).listArtifacts),
	rte("GET", jobPath+"/artifacts/:artifact", "read_artifacts", (*Server).getArtifact),
	rte("GET", jobPath+"/artifacts/:artifact/download", "read_artifacts", (*Server).downloadArtifact),
}

// match finds the route for method and path. Path parameters are returned
// even when no route matches, so an unknown path under a known organization
// still counts against that organization's rate limit.
func match(method, path string) (*route, map[string]string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var params map[string]string
	for i := range routes {
		rt := &routes[i]
		p, ok := matchPattern(rt.pattern, segs)
		if !ok {
			continue
		}
		params = p
		if rt.method == method {
			return rt, p
		}
	}
	if params == nil && len(segs) >= 3 && segs[0] == "v2" && segs[1] == "organizations" {
		params = map[string]string{"org": segs[2]}
	}
	return nil, params
}

func matchPattern(pattern, segs []string) (map[string]string, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	params := map[string]string{}
	for i, p := range pattern {
		if name, ok := strings.CutPrefix(p, ":"); ok {
			if segs[i] == "" {
				return nil, false
			}
			params[name] = segs[i]
			continue
		}
		if p != segs[i] {
			return nil, false
		}
	}
	return params, true
}

// Lookups. Each writes the 404 Buildkite would and returns nil when the
// thing is missing.

func (s *Server) findOrg(slug string) *Organization {
	for _, o := range s.data.Organizations {
		if o.Slug == slug {
			return o
		}
	}
	return nil
}

func (c *call) notFound(msg string) {
	writeJSON(c.w, http.StatusNotFound, map[string]string{"message": msg})
}

func (s *Server) org(c *call) *Organization {
	o := s.findOrg(c.params["org"])
	if o == nil {
		c.notFound(msgNoOrganization)
	}
	return o
}

func (s *Server) pipeline(c *call) (*Organization, *Pipeline) {
	o := s.org(c)
	if o == nil {
		return nil, nil
	}
	for _, p := range o.Pipelines {
		if p.Slug == c.params["pipeline"] {
			return o, p
		}
	}
	c.notFound(msgNotFound)
	return nil, nil
}

func (s *Server) build(c *call) (*Organization, *Pipeline, *Build) {
	o, p := s.pipeline(c)
	if p == nil {
		return nil, nil, nil
	}
	n, err := strconv.Atoi(c.params["build"])
	if err == nil {
		for _, b := range p.Builds {
			if b.Number == n {
				return o, p, b
			}
		}
	}
	c.notFound(msgNotFound)
	return nil, nil, nil
}

func (s *Server) job(c *call) (*Organization, *Pipeline, *Build, *Job) {
	o, p, b := s.build(c)
	if b == nil {
		return nil, nil, nil, nil
	}
	for _, j := range b.Jobs {
		if j.ID == c.params["job"] {
			return o, p, b, j
		}
	}
	c.notFound(msgNotFound)
	return nil, nil, nil, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
