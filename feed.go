package aggregator

import (
	"slices"
	"time"
)

// Feed is one configured source, as written in feeds.toml.
type Feed struct {
	// Name is unique among the configured feeds and names the feed in
	// storage, in logs and in the merged output ("which outlets reported").
	Name string
	// URL is where the feed is fetched from, as configured.
	URL string
	// Title is an optional display name; Name is used when empty.
	Title string
	// Tags select the feed into outputs.
	Tags []string
	// Interval overrides the global fetch interval when non-zero.
	Interval time.Duration
}

// DisplayName is the name shown to readers: Title when set, else Name.
func (f Feed) DisplayName() string {
	if f.Title != "" {
		return f.Title
	}
	return f.Name
}

// HasTag reports whether the feed carries tag.
func (f Feed) HasTag(tag string) bool { return slices.Contains(f.Tags, tag) }

// FeedState is what the program remembers about a feed between fetches.
// It is stored with the items of the fetch that produced it, in one
// transaction, so the two can never disagree.
type FeedState struct {
	// Name is the feed's configured name (the storage key).
	Name string `json:"name"`
	// URL is the URL the state was recorded for. When the configured URL
	// changes, validators and any "gone" verdict no longer apply.
	URL string `json:"url"`
	// FetchURL is where to fetch from when it differs from URL, after a
	// permanent redirect was confirmed. Empty means URL.
	FetchURL string `json:"fetch_url,omitempty"`

	// ETag and LastModified are the validators of the last 200 response,
	// kept byte for byte for the next conditional GET.
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	// BodyHash is a hash of the last body that was parsed; an unchanged
	// body is not parsed again.
	BodyHash string `json:"body_hash,omitempty"`

	// Title, Link and Language are the feed's own metadata, as published.
	Title    string `json:"title,omitempty"`
	Link     string `json:"link,omitempty"`
	Language string `json:"language,omitempty"`

	LastFetch   time.Time `json:"last_fetch,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	// LastStatus is the HTTP status of the last response (0: none).
	LastStatus int `json:"last_status,omitempty"`
	// LastResult is "ok" (a document was parsed), "unchanged" or "failed".
	LastResult string `json:"last_result,omitempty"`
	// LastError says what went wrong on the last fetch, empty on success.
	LastError         string `json:"last_error,omitempty"`
	ConsecutiveErrors int    `json:"consecutive_errors,omitempty"`
	// NextFetch is when the feed is next due.
	NextFetch time.Time `json:"next_fetch,omitzero"`
	// Items is how many items the last parsed document held.
	Items int `json:"items,omitempty"`
	// TotalItems is how many items of this feed are stored.
	TotalItems int `json:"total_items,omitempty"`

	// Disabled stops polling (for example after 410 Gone) until the feed
	// is re-enabled or its configured URL changes.
	Disabled       bool   `json:"disabled,omitempty"`
	DisabledReason string `json:"disabled_reason,omitempty"`

	// Node names the daemon that made the last fetch: in a fleet of
	// daemons on one database, which node fetched the feed. Empty for a
	// store of one process.
	Node string `json:"node,omitempty"`

	// RedirectURL and RedirectCount track a permanent redirect that has
	// not been seen often enough yet to be trusted.
	RedirectURL   string `json:"redirect_url,omitempty"`
	RedirectCount int    `json:"redirect_count,omitempty"`

	// Publishing cadence observed from item dates, used to adapt the
	// schedule: the mean gap between items, in seconds.
	MeanItemGap float64 `json:"mean_item_gap,omitempty"`

	// Schedule hints of the last parsed document, kept for the fetches
	// that do not parse one (304, unchanged body): the longest interval it
	// asks for (RSS ttl, sy:updatePeriod), in seconds, and the hours (bit
	// h, GMT) and weekdays (bit d, Sunday = 0) it asks not to be polled in
	// (RSS skipHours, skipDays).
	HintInterval float64 `json:"hint_interval,omitempty"`
	SkipHours    uint32  `json:"skip_hours,omitempty"`
	SkipDays     uint8   `json:"skip_days,omitempty"`

	// FutureDates is how many items of the last parsed document were
	// dated more than a day after the fetch: their dates were replaced by
	// the fetch time, so that a story dated 9999 does not head every
	// output for ever. Non-zero points at a publisher's broken clock or
	// template.
	FutureDates int `json:"future_dates,omitempty"`
}

// Output is one merged feed that the program publishes.
type Output struct {
	// Name is used in URLs: /{Name}.rss, /{Name}.atom, /{Name}.json.
	Name        string
	Title       string
	Description string
	// Icon is an optional image URL for the feed.
	Icon string
	// Tags and Feeds select the source feeds: a feed is included when it
	// carries any of Tags or is named in Feeds. Both empty selects all.
	Tags  []string
	Feeds []string
	// MaxItems caps the number of entries (stories), newest first.
	MaxItems int
	// MaxAge drops stories older than this when non-zero.
	MaxAge time.Duration
}

// Includes reports whether the output selects feed f.
func (o Output) Includes(f Feed) bool {
	if len(o.Tags) == 0 && len(o.Feeds) == 0 {
		return true
	}
	if slices.Contains(o.Feeds, f.Name) {
		return true
	}
	for _, t := range o.Tags {
		if f.HasTag(t) {
			return true
		}
	}
	return false
}
