package tools

import (
	"context"
	"strings"

	"github.com/kitegate/kitegate/internal/buildkite"
)

// clusterAPI is what the cluster tools call.
type clusterAPI interface {
	ListClusters(ctx context.Context, org string, opt buildkite.ListOptions) ([]buildkite.Cluster, buildkite.Pagination, error)
	GetCluster(ctx context.Context, org, clusterID string) (buildkite.Cluster, error)
	CreateCluster(ctx context.Context, org string, in buildkite.NewCluster) (buildkite.Cluster, error)
	UpdateCluster(ctx context.Context, org, clusterID string, in buildkite.ClusterChanges) (buildkite.Cluster, error)
	ListClusterQueues(ctx context.Context, org, clusterID string, opt buildkite.ListOptions) ([]buildkite.ClusterQueue, buildkite.Pagination, error)
	GetClusterQueue(ctx context.Context, org, clusterID, queueID string) (buildkite.ClusterQueue, error)
	CreateClusterQueue(ctx context.Context, org, clusterID string, in buildkite.NewClusterQueue) (buildkite.ClusterQueue, error)
	UpdateClusterQueue(ctx context.Context, org, clusterID, queueID string, in buildkite.ClusterQueueChanges) (buildkite.ClusterQueue, error)
	PauseClusterQueueDispatch(ctx context.Context, org, clusterID, queueID, note string) (buildkite.ClusterQueue, error)
	ResumeClusterQueueDispatch(ctx context.Context, org, clusterID, queueID string) (buildkite.ClusterQueue, error)
}

type listClustersArgs struct {
	OrgSlug string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	Page    int    `json:"page,omitempty" jsonschema:"page number, from 1 (default 1); use next_page from the previous answer"`
	PerPage int    `json:"per_page,omitempty" jsonschema:"clusters per page, 1 to 100 (default 100)"`
}

type getClusterArgs struct {
	OrgSlug   string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	ClusterID string `json:"cluster_id" jsonschema:"the cluster's UUID (list_clusters gives it)"`
}

type createClusterArgs struct {
	OrgSlug     string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	Name        string `json:"name" jsonschema:"unique in the organization"`
	Description string `json:"description,omitempty" jsonschema:"what the cluster is for"`
	Emoji       string `json:"emoji,omitempty" jsonschema:"an emoji in Buildkite's :name: syntax, e.g. :rocket:"`
	Color       string `json:"color,omitempty" jsonschema:"a hex colour, e.g. #FFE0F1"`
}

type updateClusterArgs struct {
	OrgSlug        string  `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	ClusterID      string  `json:"cluster_id" jsonschema:"the cluster's UUID (list_clusters gives it)"`
	Name           *string `json:"name,omitempty" jsonschema:"a new name"`
	Description    *string `json:"description,omitempty" jsonschema:"a new description; \"\" clears it"`
	Emoji          *string `json:"emoji,omitempty" jsonschema:"a new emoji in :name: syntax"`
	Color          *string `json:"color,omitempty" jsonschema:"a new hex colour, e.g. #FFE0F1"`
	DefaultQueueID *string `json:"default_queue_id,omitempty" jsonschema:"the queue (of this cluster) for agents that name none"`
}

type listQueuesArgs struct {
	OrgSlug   string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	ClusterID string `json:"cluster_id" jsonschema:"the cluster's UUID (list_clusters gives it)"`
	Page      int    `json:"page,omitempty" jsonschema:"page number, from 1 (default 1); use next_page from the previous answer"`
	PerPage   int    `json:"per_page,omitempty" jsonschema:"queues per page, 1 to 100 (default 100)"`
}

type queueArgs struct {
	OrgSlug   string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	ClusterID string `json:"cluster_id" jsonschema:"the cluster's UUID (list_clusters gives it)"`
	QueueID   string `json:"queue_id" jsonschema:"the queue's UUID (list_cluster_queues gives it)"`
}

type createQueueArgs struct {
	OrgSlug     string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	ClusterID   string `json:"cluster_id" jsonschema:"the cluster's UUID (list_clusters gives it)"`
	Key         string `json:"key" jsonschema:"the key agents and steps use (queue=KEY): letters, digits, - and _"`
	Description string `json:"description,omitempty" jsonschema:"what runs on the queue's agents"`
}

type updateQueueArgs struct {
	OrgSlug            string  `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	ClusterID          string  `json:"cluster_id" jsonschema:"the cluster's UUID (list_clusters gives it)"`
	QueueID            string  `json:"queue_id" jsonschema:"the queue's UUID (list_cluster_queues gives it)"`
	Description        *string `json:"description,omitempty" jsonschema:"a new description"`
	RetryAgentAffinity *string `json:"retry_agent_affinity,omitempty" jsonschema:"where retried jobs run: prefer-warmest (an agent that ran it) or prefer-different"`
}

type pauseQueueArgs struct {
	OrgSlug   string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	ClusterID string `json:"cluster_id" jsonschema:"the cluster's UUID (list_clusters gives it)"`
	QueueID   string `json:"queue_id" jsonschema:"the queue's UUID (list_cluster_queues gives it)"`
	Note      string `json:"note,omitempty" jsonschema:"why it is paused, shown to everyone"`
}

type clusterOut struct {
	ID             string  `json:"id"`
	Name           string  `json:"name"`
	Description    string  `json:"description,omitempty"`
	Emoji          string  `json:"emoji,omitempty"`
	Color          string  `json:"color,omitempty"`
	DefaultQueueID string  `json:"default_queue_id,omitempty"`
	WebURL         string  `json:"web_url,omitempty"`
	CreatedAt      *string `json:"created_at,omitempty"`
	CreatedBy      string  `json:"created_by,omitempty"`
}

type clusterList struct {
	Items    []clusterOut `json:"items"`
	NextPage int          `json:"next_page,omitempty"`
}

type queueOut struct {
	ID                 string  `json:"id"`
	Key                string  `json:"key"`
	ClusterID          string  `json:"cluster_id"`
	Description        string  `json:"description,omitempty"`
	RetryAgentAffinity string  `json:"retry_agent_affinity,omitempty"`
	DispatchPaused     bool    `json:"dispatch_paused"`
	DispatchPausedBy   string  `json:"dispatch_paused_by,omitempty"`
	DispatchPausedAt   *string `json:"dispatch_paused_at,omitempty"`
	DispatchPausedNote string  `json:"dispatch_paused_note,omitempty"`
	WebURL             string  `json:"web_url,omitempty"`
	CreatedAt          *string `json:"created_at,omitempty"`
}

type queueList struct {
	Items    []queueOut `json:"items"`
	NextPage int        `json:"next_page,omitempty"`
}

func shapeCluster(c buildkite.Cluster) clusterOut {
	return clusterOut{
		ID: c.ID, Name: c.Name, Description: c.Description, Emoji: c.Emoji, Color: c.Color,
		DefaultQueueID: c.DefaultQueueID, WebURL: c.WebURL, CreatedAt: timestamp(c.CreatedAt), CreatedBy: c.CreatedBy.Name,
	}
}

func shapeQueue(clusterID string, q buildkite.ClusterQueue) queueOut {
	out := queueOut{
		ID: q.ID, Key: q.Key, ClusterID: clusterID, Description: q.Description,
		RetryAgentAffinity: string(q.RetryAgentAffinity), DispatchPaused: q.DispatchPaused,
		DispatchPausedAt: timestamp(q.DispatchPausedAt), DispatchPausedNote: q.DispatchPausedNote,
		WebURL: q.WebURL, CreatedAt: timestamp(q.CreatedAt),
	}
	if q.DispatchPausedBy != nil {
		out.DispatchPausedBy = q.DispatchPausedBy.Name
	}
	return out
}

func clusterTools(bk clusterAPI) ([]*Tool, error) {
	var d definer
	add(&d, Spec{
		Name:  "list_clusters",
		Title: "List clusters",
		Description: "Lists the organization's clusters (isolated groups of agents, queues and pipelines): items (id, name, " +
			"description, emoji, color, default_queue_id, web_url, created_at, created_by) and next_page when there are " +
			"more. Gives the cluster_id the queue tools need.",
		Area: "clusters", Kind: Read, Scopes: []string{"read_clusters"},
	}, func(ctx context.Context, in listClustersArgs) (clusterList, error) {
		lo, err := listOptions(in.Page, in.PerPage, 100)
		if err != nil {
			return clusterList{}, err
		}
		cs, page, err := bk.ListClusters(ctx, in.OrgSlug, lo)
		if err != nil {
			return clusterList{}, err
		}
		out := clusterList{Items: make([]clusterOut, 0, len(cs)), NextPage: page.NextPage}
		for _, c := range cs {
			out.Items = append(out.Items, shapeCluster(c))
		}
		return out, nil
	})
	add(&d, Spec{
		Name:        "get_cluster",
		Title:       "Get a cluster",
		Description: "Returns one cluster: id, name, description, emoji, color, default_queue_id (the queue agents join when they name none), web_url, created_at and created_by.",
		Area:        "clusters", Kind: Read, Scopes: []string{"read_clusters"},
	}, func(ctx context.Context, in getClusterArgs) (clusterOut, error) {
		c, err := bk.GetCluster(ctx, in.OrgSlug, in.ClusterID)
		if err != nil {
			return clusterOut{}, err
		}
		return shapeCluster(c), nil
	})
	add(&d, Spec{
		Name:  "create_cluster",
		Title: "Create a cluster",
		Description: "Creates a cluster (unique name; optional description, emoji, hex color) and returns it. It starts with no " +
			"queues or agents: add queues with create_cluster_queue. Confirm with the user first.",
		Area: "clusters", Kind: Write, Scopes: []string{"write_clusters"},
	}, func(ctx context.Context, in createClusterArgs) (clusterOut, error) {
		if strings.TrimSpace(in.Name) == "" {
			return clusterOut{}, &ArgumentError{Argument: "name", Reason: "must not be empty"}
		}
		c, err := bk.CreateCluster(ctx, in.OrgSlug, buildkite.NewCluster{Name: in.Name, Description: in.Description, Emoji: in.Emoji, Color: in.Color})
		if err != nil {
			return clusterOut{}, err
		}
		return shapeCluster(c), nil
	})
	add(&d, Spec{
		Name:  "update_cluster",
		Title: "Update a cluster",
		Description: "Changes a cluster's name, description, emoji, color or default_queue_id (a queue of this cluster); fields left " +
			"out stay. A new default queue moves the agents that name no queue: confirm with the user first. Returns the " +
			"cluster.",
		Area: "clusters", Kind: Destructive, Scopes: []string{"write_clusters"},
	}, func(ctx context.Context, in updateClusterArgs) (clusterOut, error) {
		ch := buildkite.ClusterChanges{
			Name: in.Name, Description: in.Description, Emoji: in.Emoji, Color: in.Color, DefaultQueueID: in.DefaultQueueID,
		}
		if ch == (buildkite.ClusterChanges{}) {
			return clusterOut{}, &ArgumentError{Reason: "give at least one of name, description, emoji, color, default_queue_id"}
		}
		c, err := bk.UpdateCluster(ctx, in.OrgSlug, in.ClusterID, ch)
		if err != nil {
			return clusterOut{}, err
		}
		return shapeCluster(c), nil
	})
	add(&d, Spec{
		Name:  "list_cluster_queues",
		Title: "List a cluster's queues",
		Description: "Lists a cluster's queues: items (id, key, description, retry_agent_affinity, dispatch_paused with by whom, " +
			"when and why, web_url) and next_page when there are more. A step runs on a queue's agents when it targets " +
			"queue=KEY.",
		Area: "clusters", Kind: Read, Scopes: []string{"read_clusters"},
	}, func(ctx context.Context, in listQueuesArgs) (queueList, error) {
		lo, err := listOptions(in.Page, in.PerPage, 100)
		if err != nil {
			return queueList{}, err
		}
		qs, page, err := bk.ListClusterQueues(ctx, in.OrgSlug, in.ClusterID, lo)
		if err != nil {
			return queueList{}, err
		}
		out := queueList{Items: make([]queueOut, 0, len(qs)), NextPage: page.NextPage}
		for _, q := range qs {
			out.Items = append(out.Items, shapeQueue(in.ClusterID, q))
		}
		return out, nil
	})
	add(&d, Spec{
		Name:        "get_cluster_queue",
		Title:       "Get a cluster queue",
		Description: "Returns one queue of a cluster: id, key, description, retry_agent_affinity, and whether job dispatch is paused (by whom, when, with what note).",
		Area:        "clusters", Kind: Read, Scopes: []string{"read_clusters"},
	}, func(ctx context.Context, in queueArgs) (queueOut, error) {
		q, err := bk.GetClusterQueue(ctx, in.OrgSlug, in.ClusterID, in.QueueID)
		if err != nil {
			return queueOut{}, err
		}
		return shapeQueue(in.ClusterID, q), nil
	})
	add(&d, Spec{
		Name:  "create_cluster_queue",
		Title: "Create a cluster queue",
		Description: "Creates a queue in a cluster with a unique key and an optional description, and returns it. Agents started " +
			"with the tag queue=KEY join it. Confirm with the user first.",
		Area: "clusters", Kind: Write, Scopes: []string{"write_clusters"},
	}, func(ctx context.Context, in createQueueArgs) (queueOut, error) {
		if strings.TrimSpace(in.Key) == "" {
			return queueOut{}, &ArgumentError{Argument: "key", Reason: "must not be empty"}
		}
		q, err := bk.CreateClusterQueue(ctx, in.OrgSlug, in.ClusterID, buildkite.NewClusterQueue{Key: in.Key, Description: in.Description})
		if err != nil {
			return queueOut{}, err
		}
		return shapeQueue(in.ClusterID, q), nil
	})
	add(&d, Spec{
		Name:  "update_cluster_queue",
		Title: "Update a cluster queue",
		Description: "Changes a queue's description or retry_agent_affinity; fields left out stay. Confirm with the user first. " +
			"Returns the queue.",
		Area: "clusters", Kind: Destructive, Scopes: []string{"write_clusters"},
	}, func(ctx context.Context, in updateQueueArgs) (queueOut, error) {
		if in.RetryAgentAffinity != nil {
			if err := oneOf("retry_agent_affinity", *in.RetryAgentAffinity, "prefer-warmest", "prefer-different"); err != nil || *in.RetryAgentAffinity == "" {
				return queueOut{}, &ArgumentError{Argument: "retry_agent_affinity", Reason: "must be prefer-warmest or prefer-different"}
			}
		}
		if in.Description == nil && in.RetryAgentAffinity == nil {
			return queueOut{}, &ArgumentError{Reason: "give description or retry_agent_affinity"}
		}
		q, err := bk.UpdateClusterQueue(ctx, in.OrgSlug, in.ClusterID, in.QueueID, buildkite.ClusterQueueChanges{
			Description: in.Description, RetryAgentAffinity: in.RetryAgentAffinity,
		})
		if err != nil {
			return queueOut{}, err
		}
		return shapeQueue(in.ClusterID, q), nil
	})
	add(&d, Spec{
		Name:  "pause_cluster_queue_dispatch",
		Title: "Pause a queue's job dispatch",
		Description: "Stops a queue handing jobs to its agents: running jobs finish, new jobs wait until dispatch resumes. " +
			"Every pipeline using the queue stalls, so confirm with the user first, and leave a note saying why. Returns the queue.",
		Area: "clusters", Kind: Destructive, Scopes: []string{"write_clusters"},
	}, func(ctx context.Context, in pauseQueueArgs) (queueOut, error) {
		q, err := bk.PauseClusterQueueDispatch(ctx, in.OrgSlug, in.ClusterID, in.QueueID, in.Note)
		if err != nil {
			return queueOut{}, err
		}
		return shapeQueue(in.ClusterID, q), nil
	})
	add(&d, Spec{
		Name:  "resume_cluster_queue_dispatch",
		Title: "Resume a queue's job dispatch",
		Description: "Lets a paused queue hand jobs to its agents again; the jobs that waited start at once. " +
			"Check with the user (and the pause note) why it was paused first. Returns the queue.",
		Area: "clusters", Kind: Destructive, Scopes: []string{"write_clusters"},
	}, func(ctx context.Context, in queueArgs) (queueOut, error) {
		q, err := bk.ResumeClusterQueueDispatch(ctx, in.OrgSlug, in.ClusterID, in.QueueID)
		if err != nil {
			return queueOut{}, err
		}
		return shapeQueue(in.ClusterID, q), nil
	})
	return d.done()
}
