package aggregator

import "time"

// Reason says why an item joined its cluster.
type Reason string

// The reasons an item can be in its cluster, strongest first.
const (
	// ReasonFirst: the item founded the cluster.
	ReasonFirst Reason = "first"
	// ReasonGUID: another member has the same GUID.
	ReasonGUID Reason = "guid"
	// ReasonURL: another member has the same canonical link.
	ReasonURL Reason = "url"
	// ReasonTitle: another member has the same normalised title.
	ReasonTitle Reason = "title"
	// ReasonSimilar: the item's text is similar enough to the cluster's.
	ReasonSimilar Reason = "similar"
	// ReasonMerged: the item's cluster was merged into this one, whose
	// reports it resembles as a whole (Matched: the cluster it was in;
	// Score: the similarity of the two clusters).
	ReasonMerged Reason = "merged"
)

// Membership records that an item belongs to a cluster, and why.
type Membership struct {
	// Item is the member's [Item.ID].
	Item string `json:"item"`
	// Cluster is the cluster's [Cluster.ID].
	Cluster string `json:"cluster"`
	Reason  Reason `json:"reason"`
	// Matched is the ID of the member the decision was made against, when
	// there is one (the founder has none).
	Matched string `json:"matched,omitempty"`
	// Score is the similarity that admitted the item (1 for exact reasons).
	Score float64 `json:"score,omitempty"`
	// Shared are the informative terms the item shares with the cluster.
	Shared []string `json:"shared,omitempty"`
	// Joined is when the decision was made.
	Joined time.Time `json:"joined,omitzero"`
}

// Cluster is one story: the items from any number of feeds that report it.
type Cluster struct {
	// ID is stable: fixed when the cluster is founded, unchanged as members
	// join. Merged feeds use it as the entry id.
	ID string `json:"id"`
	// Representative is the ID of the member whose title, link and summary
	// stand for the story.
	Representative string `json:"representative"`
	// Members are in the order they joined; the first founded the cluster.
	Members []Membership `json:"members"`
	// Published is the earliest member's [Item.Time]: when the story broke.
	Published time.Time `json:"published"`
	// Updated is when the cluster last changed (a member joined or the
	// representative changed).
	Updated time.Time `json:"updated"`
}

// Story is a cluster with its members resolved, ready to publish.
type Story struct {
	Cluster
	// Items are the members, in the order of Cluster.Members.
	Items []Item
	// Feeds are the configured feeds of the members, in the same order.
	Feeds []Feed
}

// Rep returns the representative item, or the first one when the
// representative is missing.
func (s Story) Rep() Item {
	for _, it := range s.Items {
		if it.ID == s.Representative {
			return it
		}
	}
	if len(s.Items) > 0 {
		return s.Items[0]
	}
	return Item{}
}
