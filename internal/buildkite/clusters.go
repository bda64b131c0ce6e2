package buildkite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	gobuildkite "github.com/buildkite/go-buildkite/v4"
)

// Cluster, ClusterQueue and the bodies that create and change them are
// go-buildkite's types.
type (
	Cluster      = gobuildkite.Cluster
	ClusterQueue = gobuildkite.ClusterQueue
	// NewCluster is what CreateCluster sends.
	NewCluster = gobuildkite.ClusterCreate
	// NewClusterQueue is what CreateClusterQueue sends.
	NewClusterQueue = gobuildkite.ClusterQueueCreate
	// RetryAgentAffinity says where retried jobs run: prefer-warmest or prefer-different.
	RetryAgentAffinity = gobuildkite.RetryAgentAffinity
)

func clusterName(org, id string) string { return "cluster " + id + " of organization " + org }

func queueName(org, cluster, queue string) string {
	return "queue " + queue + " of cluster " + cluster + " in organization " + org
}

// ListClusters lists an organization's clusters, a page at a time
// (GET /v2/organizations/{org}/clusters).
func (c *Client) ListClusters(ctx context.Context, org string, opt ListOptions) ([]Cluster, Pagination, error) {
	var p path
	o := p.slug("organization slug", org)
	lo, err := opt.check()
	if err = firstErr(p.err, err); err != nil {
		return nil, Pagination{}, err
	}
	cs, resp, err := c.bk.Clusters.List(ctx, o, &gobuildkite.ClustersListOptions{ListOptions: lo})
	if err != nil {
		return nil, Pagination{}, mapOrgError(err, org, "the clusters of organization "+org)
	}
	return cs, pagination(resp), nil
}

// GetCluster fetches one cluster (GET …/clusters/{id}).
func (c *Client) GetCluster(ctx context.Context, org, clusterID string) (Cluster, error) {
	var p path
	o, id := p.slug("organization slug", org), p.uuid("cluster id", clusterID)
	if p.err != nil {
		return Cluster{}, p.err
	}
	cl, _, err := c.bk.Clusters.Get(ctx, o, id)
	return cl, mapOrgError(err, org, clusterName(org, clusterID))
}

// CreateCluster creates a cluster (POST …/clusters); Buildkite answers 422
// when the name is missing or taken.
func (c *Client) CreateCluster(ctx context.Context, org string, in NewCluster) (Cluster, error) {
	var p path
	o := p.slug("organization slug", org)
	if p.err != nil {
		return Cluster{}, p.err
	}
	cl, _, err := c.bk.Clusters.Create(ctx, o, in)
	return cl, mapOrgError(err, org, "a new cluster in organization "+org)
}

// ClusterChanges is what UpdateCluster sends: nil fields are left as they
// are, a field set to "" is cleared.
type ClusterChanges struct {
	Name           *string `json:"name,omitempty"`
	Description    *string `json:"description,omitempty"`
	Emoji          *string `json:"emoji,omitempty"`
	Color          *string `json:"color,omitempty"`
	DefaultQueueID *string `json:"default_queue_id,omitempty"`
}

// ClusterQueueChanges is what UpdateClusterQueue sends: nil fields are left
// as they are, a field set to "" is cleared.
type ClusterQueueChanges struct {
	Description        *string `json:"description,omitempty"`
	RetryAgentAffinity *string `json:"retry_agent_affinity,omitempty"`
}

// UpdateCluster changes a cluster (PATCH …/clusters/{id}).
func (c *Client) UpdateCluster(ctx context.Context, org, clusterID string, in ClusterChanges) (Cluster, error) {
	var p path
	o, id := p.slug("organization slug", org), p.uuid("cluster id", clusterID)
	if in.DefaultQueueID != nil && *in.DefaultQueueID != "" {
		p.uuid("default queue id", *in.DefaultQueueID)
	}
	if p.err != nil {
		return Cluster{}, p.err
	}
	// go-buildkite's Update drops the error of a request it could not build.
	var cl Cluster
	err := c.send(ctx, http.MethodPatch, fmt.Sprintf("v2/organizations/%s/clusters/%s", o, id), in, &cl)
	return cl, mapOrgError(err, org, clusterName(org, clusterID))
}

// ListClusterQueues lists a cluster's queues, a page at a time
// (GET …/clusters/{id}/queues).
func (c *Client) ListClusterQueues(ctx context.Context, org, clusterID string, opt ListOptions) ([]ClusterQueue, Pagination, error) {
	var p path
	o, id := p.slug("organization slug", org), p.uuid("cluster id", clusterID)
	lo, err := opt.check()
	if err = firstErr(p.err, err); err != nil {
		return nil, Pagination{}, err
	}
	qs, resp, err := c.bk.ClusterQueues.List(ctx, o, id, &gobuildkite.ClusterQueuesListOptions{ListOptions: lo})
	if err != nil {
		return nil, Pagination{}, mapOrgError(err, org, "the queues of "+clusterName(org, clusterID))
	}
	return qs, pagination(resp), nil
}

// GetClusterQueue fetches one queue (GET …/clusters/{id}/queues/{queue}).
func (c *Client) GetClusterQueue(ctx context.Context, org, clusterID, queueID string) (ClusterQueue, error) {
	var p path
	o, id, q := p.slug("organization slug", org), p.uuid("cluster id", clusterID), p.uuid("queue id", queueID)
	if p.err != nil {
		return ClusterQueue{}, p.err
	}
	cq, _, err := c.bk.ClusterQueues.Get(ctx, o, id, q)
	return cq, mapOrgError(err, org, queueName(org, clusterID, queueID))
}

// CreateClusterQueue creates a queue in a cluster (POST …/clusters/{id}/queues);
// Buildkite answers 422 when the key is missing, malformed or taken.
func (c *Client) CreateClusterQueue(ctx context.Context, org, clusterID string, in NewClusterQueue) (ClusterQueue, error) {
	var p path
	o, id := p.slug("organization slug", org), p.uuid("cluster id", clusterID)
	if p.err != nil {
		return ClusterQueue{}, p.err
	}
	cq, _, err := c.bk.ClusterQueues.Create(ctx, o, id, in)
	return cq, mapOrgError(err, org, "a new queue in "+clusterName(org, clusterID))
}

// UpdateClusterQueue changes a queue (PATCH …/queues/{queue}).
func (c *Client) UpdateClusterQueue(ctx context.Context, org, clusterID, queueID string, in ClusterQueueChanges) (ClusterQueue, error) {
	var p path
	o, id, q := p.slug("organization slug", org), p.uuid("cluster id", clusterID), p.uuid("queue id", queueID)
	if p.err != nil {
		return ClusterQueue{}, p.err
	}
	var cq ClusterQueue
	err := c.send(ctx, http.MethodPatch, fmt.Sprintf("v2/organizations/%s/clusters/%s/queues/%s", o, id, q), in, &cq)
	return cq, mapOrgError(err, org, queueName(org, clusterID, queueID))
}

// PauseClusterQueueDispatch stops a queue handing jobs to its agents
// (POST …/queues/{queue}/pause_dispatch), with an optional note saying why.
func (c *Client) PauseClusterQueueDispatch(ctx context.Context, org, clusterID, queueID, note string) (ClusterQueue, error) {
	var p path
	o, id, q := p.slug("organization slug", org), p.uuid("cluster id", clusterID), p.uuid("queue id", queueID)
	if p.err != nil {
		return ClusterQueue{}, p.err
	}
	cq, _, err := c.bk.ClusterQueues.Pause(ctx, o, id, q, gobuildkite.ClusterQueuePause{Note: note})
	return cq, mapOrgError(err, org, queueName(org, clusterID, queueID))
}

// ResumeClusterQueueDispatch lets a paused queue hand out jobs again
// (POST …/queues/{queue}/resume_dispatch) and returns the queue as it now is.
func (c *Client) ResumeClusterQueueDispatch(ctx context.Context, org, clusterID, queueID string) (ClusterQueue, error) {
	var p path
	o, id, q := p.slug("organization slug", org), p.uuid("cluster id", clusterID), p.uuid("queue id", queueID)
	if p.err != nil {
		return ClusterQueue{}, p.err
	}
	// go-buildkite's Resume discards the answer, which is the queue.
	var cq ClusterQueue
	err := c.send(ctx, http.MethodPost, fmt.Sprintf("v2/organizations/%s/clusters/%s/queues/%s/resume_dispatch", o, id, q), nil, &cq)
	if err != nil {
		return ClusterQueue{}, mapOrgError(err, org, queueName(org, clusterID, queueID))
	}
	if cq.ID == "" { // an empty answer: read the queue back
		return c.GetClusterQueue(ctx, org, clusterID, queueID)
	}
	return cq, nil
}

// send makes a request go-buildkite has no (usable) method for, with a JSON
// body when body is not nil, and decodes a JSON answer into v.
func (c *Client) send(ctx context.Context, method, u string, body, v any) error {
	req, err := c.bk.NewRequest(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if _, err = c.bk.Do(req, v); errors.Is(err, io.EOF) {
		return nil // an empty 2xx answer
	}
	return err
}
