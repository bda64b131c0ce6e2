package faults_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/mcpserver"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/ratelimit"
)

// proxy forwards TCP from a loopback port to DynamoDB Local. cut stops it
// as if DynamoDB had gone away (the port refuses, open connections drop);
// restore brings it back on the same port. The shared DynamoDB Local is
// never touched.
type proxy struct {
	target, addr string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

func newProxy(t *testing.T, endpoint string) *proxy {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{target: u.Host, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) url() string { return "http://" + p.addr }

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *proxy) pipe(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut while dialing
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) { _, _ = io.Copy(dst, src); done <- struct{}{} }
	go cp(up, c)
	go cp(c, up)
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// cut closes the listener and every proxied connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// restore listens on the same port again.
func (p *proxy) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("restore the proxy on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// DynamoDB goes away mid-run. Policy: the cached snapshot keeps serving
// until its TTL, then every call is denied (policy_unavailable) — never a
// stale or built-in policy. Audit: each event that cannot be put becomes a
// replay line; once DynamoDB is back, audit.Replay restores every one of
// them exactly once. Rate limits: unreachable means not limited.
func TestDynamoDBStoppedMidRun(t *testing.T) {
	const ttl = time.Minute
	admin := dynamotest.Client(t)
	tbl := dynamotest.NewTables(t, admin)
	px := newProxy(t, dynamotest.Endpoint(t))
	// The function's clients reach DynamoDB only through the proxy. One
	// attempt per SDK call keeps the outage quick; the audit writer
	// retries on its own (3 attempts in a 2 s budget).
	db := dynamodb.NewFromConfig(dynamotest.Config(px.url(), &http.Client{Timeout: 5 * time.Second}), func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	replay := &syncBuffer{}
	writer, err := audit.NewDynamoDB(db, tbl.Audit, audit.DynamoDBOptions{Fallback: replay})
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	s := start(t, stackConfig{
		policy: func(p policy.Policy) mcpserver.PolicySource {
			if _, err := policystore.NewDynamoDB(admin, tbl.Policy).Apply(t.Context(), p, "test"); err != nil {
				t.Fatal(err)
			}
			return policy.NewCache(policystore.NewDynamoDB(db, tbl.Policy), ttl, clk.now)
		},
		audit:   writer,
		limiter: ratelimit.NewDynamoDB(db, tbl.RateLimit, ratelimit.Limits{TokenPerMinute: 1000, OrgPerMinute: 1000, CallerPerMinute: 1000}, nil),
	})

	res, err := s.listBuilds(t) // loads the policy, audited in the table
	mustOK(t, res, err)

	px.cut()
	const during = 3
	for range during { // within the TTL: served from the cached snapshot
		res, err := s.listBuilds(t)
		mustOK(t, res, err)
	}
	clk.add(ttl) // the snapshot is stale and cannot be reloaded: fail closed
	_, err = s.listBuilds(t)
	if err == nil || !strings.Contains(err.Error(), "no policy is loaded") {
		t.Fatalf("call after the TTL with DynamoDB down: %v, want denied (policy_unavailable)", err)
	}
	tl, err := s.cs.ListTools(t.Context(), nil)
	if err != nil || len(tl.Tools) != 0 {
		t.Errorf("tools/list with no policy: %v tools, %v; want none", len(tl.Tools), err)
	}

	lines := strings.Split(strings.TrimSpace(replay.String()), "\n")
	if len(lines) != during+1 {
		t.Fatalf("%d replay lines for %d unaudited calls:\n%s", len(lines), during+1, replay.String())
	}
	if !strings.Contains(lines[during], `"reason":"policy_unavailable"`) {
		t.Errorf("last replay line %s, want the policy_unavailable denial", lines[during])
	}
	if n := len(auditItems(t, admin, tbl.Audit)); n != 1 {
		t.Errorf("%d audit items while DynamoDB was down, want 1", n)
	}

	px.restore(t)
	res, err = s.listBuilds(t) // the policy loads again
	mustOK(t, res, err)

	st, err := writer.Replay(t.Context(), strings.NewReader(replay.String()))
	if err != nil || st.Events != during+1 || st.Written != during+1 || st.Duplicate != 0 {
		t.Errorf("replay: %+v, %v; want %d written", st, err, during+1)
	}
	st, err = writer.Replay(t.Context(), strings.NewReader(replay.String()))
	if err != nil || st.Written != 0 || st.Duplicate != during+1 {
		t.Errorf("second replay: %+v, %v; want every event a duplicate", st, err)
	}
	items := auditItems(t, admin, tbl.Audit)
	calls := 1 + during + 1 + 1
	ids := map[string]bool{}
	denied := 0
	for _, e := range items {
		ids[e.ID] = true
		if e.Reason == policy.ReasonPolicyUnavailable && e.Decision == audit.Denied {
			denied++
		}
	}
	if len(items) != calls || len(ids) != calls || denied != 1 {
		t.Errorf("%d audit items, %d ids, %d policy_unavailable denials; want %d, %d, 1", len(items), len(ids), denied, calls, calls)
	}
}

func auditItems(t *testing.T, db *dynamodb.Client, table string) []audit.Event {
	t.Helper()
	var out []audit.Event
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			e, err := audit.EventFromItem(it)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
	}
	return out
}
