package aggregator

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Item is one entry of one feed, in our terms. Fields hold what the
// publisher sent (Title and Summary may contain HTML); normalising text for
// comparison is the dedupe stage's job, sanitising it for output publish's.
type Item struct {
	// ID is the stored item's key: see [ItemID]. Unique in the database.
	ID string `json:"id"`
	// Feed is the name of the feed the item came from.
	Feed string `json:"feed"`
	// GUID is the item's id as published (RSS guid, Atom id, JSON Feed id).
	GUID string `json:"guid,omitempty"`
	// URL is the item's link as published, resolved against the feed.
	URL string `json:"url,omitempty"`
	// CanonicalURL is URL after [CanonicalURL]; equal canonical URLs mean
	// the same story.
	CanonicalURL string `json:"canonical_url,omitempty"`
	Title        string `json:"title,omitempty"`
	// Summary is the description or summary as published (text or HTML).
	Summary string `json:"summary,omitempty"`
	// Content is the full content as published, when the feed has it.
	Content string `json:"content,omitempty"`
	Author  string `json:"author,omitempty"`
	// Image is the URL of the item's image (enclosure, media or JSON Feed
	// image), when the feed names one.
	Image      string   `json:"image,omitempty"`
	Categories []string `json:"categories,omitempty"`
	// Published is the date the feed gives; zero when it gives none.
	Published time.Time `json:"published,omitzero"`
	// Updated is the item's own update date, when given.
	Updated time.Time `json:"updated,omitzero"`
	// FirstSeen is when this program first stored the item.
	FirstSeen time.Time `json:"first_seen,omitzero"`
	// Hash is a digest of the item's text fields; a changed hash means the
	// publisher edited the item.
	Hash string `json:"hash,omitempty"`
}

// Time is when the item was published, or first seen when the feed gives no
// date. Windows and ordering use it.
func (it Item) Time() time.Time {
	if !it.Published.IsZero() {
		return it.Published
	}
	return it.FirstSeen
}

// Identity is the item's identity within its feed: its GUID when it has
// one, else its canonical link, else a hash of its content. The prefix keeps
// the three kinds from colliding.
func (it Item) Identity() string {
	if g := strings.TrimSpace(it.GUID); g != "" {
		return "guid:" + g
	}
	if it.CanonicalURL != "" {
		return "url:" + it.CanonicalURL
	}
	if u := CanonicalURL(it.URL); u != "" {
		return "url:" + u
	}
	return "hash:" + ContentHash(it.Title, it.Summary, it.Content)
}

// ItemID is the storage key of the item with the given identity in the named
// feed, stable across runs and machines: 4 hex digits of a SHA-256 of the
// feed name, then 16 of the feed name and identity. The feed prefix keeps
// one feed's items side by side in storage's ID index, so storing a
// fetched feed rewrites a page or two of it instead of one page per item.
func ItemID(feed, identity string) string {
	f := sha256.Sum256([]byte(feed))
	h := sha256.New()
	h.Write([]byte(feed))
	h.Write([]byte{0})
	h.Write([]byte(identity))
	var id [itemIDLen / 2]byte
	copy(id[:], f[:2])
	copy(id[2:], h.Sum(nil))
	return hex.EncodeToString(id[:])
}

// itemIDLen is the length of an ItemID in hex digits.
const itemIDLen = 20

// ContentHash is a short digest of the given text fields, used both as the
// identity of items with neither GUID nor link and to notice edits.
func ContentHash(fields ...string) string {
	h := sha256.New()
	for _, f := range fields {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Normalize fills the derived fields of it (CanonicalURL, Hash, ID) from
// the published ones, for an item of the named feed. Fetchers call it once
// per parsed item.
func (it *Item) Normalize(feed string) {
	it.Feed = feed
	it.GUID = strings.TrimSpace(it.GUID)
	it.CanonicalURL = CanonicalURL(it.URL)
	it.Hash = ContentHash(it.Title, it.Summary, it.Content, it.URL)
	it.ID = ItemID(feed, it.Identity())
}
