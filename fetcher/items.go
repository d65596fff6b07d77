package fetcher

import (
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"aggregator"

	"github.com/mmcdole/gofeed"
)

// Caps on the text of one item, in bytes, applied after parsing: a
// document of MaxBody bytes can hold one giant title, and nothing
// downstream (clustering, storage, rendering) should carry it whole.
const (
	maxTitle      = 2 << 10
	maxSummary    = 64 << 10
	maxContent    = 1 << 20
	maxAuthor     = 512
	maxLink       = 8 << 10
	maxCategory   = 256
	maxCategories = 32
)

// futureSlack is how far after the fetch an item's date may lie before
// it is taken for a mistake and replaced by the fetch time.
const futureSlack = 24 * time.Hour

// zoneOffsets are the North American zone names RFC 822 defines for
// dates, as hours from UTC.
var zoneOffsets = map[string]int{"EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7}

// zoned applies the offset of the zone name that ends raw, the date as
// published, when the parser gave t no offset: gofeed v1.3 parses
// "17:59:45 CST" as 17:59:45 UTC, six hours early.
func zoned(t time.Time, raw string) time.Time {
	f := strings.Fields(raw)
	if len(f) == 0 {
		return t
	}
	h, ok := zoneOffsets[strings.ToUpper(f[len(f)-1])]
	if _, off := t.Zone(); !ok || off != 0 {
		return t
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.FixedZone(f[len(f)-1], h*3600))
}

// converted is what convertItems made of a document's items.
type converted struct {
	items []aggregator.Item
	// empty, overMax and future count the items dropped as empty, those
	// dropped beyond the cap and those whose dates were clamped.
	empty, overMax, future int
}

// convertItems converts the parsed feed into our items: links and images
// resolved against the site link (else the feed's own URL), dates in
// UTC, each Normalize()d for the feed and first seen at now. An item
// repeated within the document is kept once; an item with nothing to
// show or identify it by (no title, link, GUID, summary or content) is
// dropped; dates more than futureSlack after now become now; text is
// capped (maxTitle ...); and at most maxItems are kept (see keepNewest).
func convertItems(f *gofeed.Feed, feedName string, base *url.URL, now time.Time, maxItems int) converted {
	var c converted
	c.items = make([]aggregator.Item, 0, min(len(f.Items), maxItems))
	seen := make(map[string]bool, min(len(f.Items), maxItems))
	for _, gi := range f.Items {
		if gi == nil {
			continue
		}
		it := aggregator.Item{
			GUID:       capLink(gi.GUID),
			URL:        resolve(base, capLink(itemLink(gi))),
			Title:      demoronize(capText(strings.TrimSpace(gi.Title), maxTitle)),
			Summary:    demoronize(capText(gi.Description, maxSummary)),
			Content:    demoronize(capText(gi.Content, maxContent)),
			Author:     demoronize(capText(author(gi), maxAuthor)),
			Image:      resolve(base, capLink(image(gi))),
			Categories: categories(gi.Categories),
			FirstSeen:  now,
		}
		if strings.TrimSpace(it.GUID) == "" && it.URL == "" && it.Title == "" &&
			strings.TrimSpace(it.Summary) == "" && strings.TrimSpace(it.Content) == "" {
			c.empty++
			continue
		}
		if gi.PublishedParsed != nil {
			it.Published = zoned(*gi.PublishedParsed, gi.Published).UTC()
		}
		if gi.UpdatedParsed != nil {
			it.Updated = zoned(*gi.UpdatedParsed, gi.Updated).UTC()
		}
		if it.Published.IsZero() {
			it.Published = it.Updated
		}
		limit := now.Add(futureSlack)
		clamped := false
		if it.Published.After(limit) {
			it.Published, clamped = now, true
		}
		if it.Updated.After(limit) {
			it.Updated, clamped = now, true
		}
		it.Normalize(feedName)
		if seen[it.ID] {
			continue
		}
		seen[it.ID] = true
		if clamped {
			c.future++
		}
		c.items = append(c.items, it)
	}
	c.items, c.overMax = keepNewest(c.items, maxItems)
	return c
}

// keepNewest returns at most n of its, in their document order: the
// newest by publication date, then undated ones in document order. It
// also returns how many it dropped.
func keepNewest(its []aggregator.Item, n int) ([]aggregator.Item, int) {
	if len(its) <= n {
		return its, 0
	}
	order := make([]int, len(its))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ta, tb := its[a].Published, its[b].Published
		switch {
		case ta.IsZero() && tb.IsZero():
			return 0
		case ta.IsZero():
			return 1
		case tb.IsZero():
			return -1
		}
		return tb.Compare(ta)
	})
	keep := order[:n]
	slices.Sort(keep)
	out := make([]aggregator.Item, 0, n)
	for _, i := range keep {
		out = append(out, its[i])
	}
	return out, len(its) - n
}

// capText cuts s to at most n bytes on a character boundary, as a copy
// that does not pin the document's memory.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.Clone(s[:cut])
}

// capLink drops a link or GUID longer than maxLink: cut, it would no
// longer name the page, and none that long is meant.
func capLink(s string) string {
	if len(s) > maxLink {
		return ""
	}
	return s
}

func itemLink(gi *gofeed.Item) string {
	if l := strings.TrimSpace(gi.Link); l != "" {
		return l
	}
	for _, l := range gi.Links {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

func author(gi *gofeed.Item) string {
	p := gi.Author
	if p == nil && len(gi.Authors) > 0 {
		p = gi.Authors[0]
	}
	if p == nil && gi.DublinCoreExt != nil && len(gi.DublinCoreExt.Creator) > 0 {
		return strings.TrimSpace(gi.DublinCoreExt.Creator[0])
	}
	if p == nil {
		return ""
	}
	if n := strings.TrimSpace(p.Name); n != "" {
		return n
	}
	return strings.TrimSpace(p.Email)
}

// image picks the item's image from explicit sources only: the
// translator's choice (itunes:image, media:content, image enclosure,
// JSON Feed image), then media:thumbnail, then any image enclosure.
func image(gi *gofeed.Item) string {
	if gi.Image != nil && strings.TrimSpace(gi.Image.URL) != "" {
		return strings.TrimSpace(gi.Image.URL)
	}
	if media, ok := gi.Extensions["media"]; ok {
		for _, key := range []string{"thumbnail", "content"} {
			for _, e := range media[key] {
				if u := e.Attrs["url"]; u != "" && (key == "thumbnail" || strings.HasPrefix(e.Attrs["type"], "image/") || e.Attrs["medium"] == "image") {
					return u
				}
			}
		}
		for _, g := range media["group"] {
			for _, e := range g.Children["thumbnail"] {
				if u := e.Attrs["url"]; u != "" {
					return u
				}
			}
		}
	}
	for _, e := range gi.Enclosures {
		if e != nil && strings.HasPrefix(e.Type, "image/") && e.URL != "" {
			return e.URL
		}
	}
	return ""
}

func categories(cs []string) []string {
	var out []string
	for _, c := range cs {
		c = capText(strings.TrimSpace(c), maxCategory)
		if c != "" && !slices.Contains(out, c) {
			out = append(out, c)
			if len(out) == maxCategories {
				break
			}
		}
	}
	return out
}

// resolve makes ref absolute against base. Links that do not parse are
// kept as published; so are non-web schemes.
func resolve(base *url.URL, ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" || base == nil || strings.HasPrefix(ref, "https://") || strings.HasPrefix(ref, "http://") {
		return ref
	}
	u, err := url.Parse(ref)
	if err != nil || u.IsAbs() {
		return ref
	}
	return base.ResolveReference(u).String()
}

// siteBase is what relative item links are resolved against: the feed's
// site link when it is absolute (after resolving it against the feed
// URL), else the URL the document was fetched from.
func siteBase(f *gofeed.Feed, docURL *url.URL) *url.URL {
	if f.Link != "" {
		if u, err := docURL.Parse(strings.TrimSpace(f.Link)); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			return u
		}
	}
	return docURL
}

// meanGap is the mean gap between the publication dates of the newest
// items (up to 20), 0 when fewer than two are dated: how often the feed
// actually publishes.
func meanGap(its []aggregator.Item) time.Duration {
	var ts []time.Time
	for _, it := range its {
		if !it.Published.IsZero() {
			ts = append(ts, it.Published)
		}
	}
	if len(ts) < 2 {
		return 0
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return b.Compare(a) })
	ts = ts[:min(len(ts), 20)]
	return ts[0].Sub(ts[len(ts)-1]) / time.Duration(len(ts)-1)
}
