package fetcher

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"aggregator"

	"github.com/mmcdole/gofeed"
	"github.com/mmcdole/gofeed/atom"
	ext "github.com/mmcdole/gofeed/extensions"
	"github.com/mmcdole/gofeed/json"
	"github.com/mmcdole/gofeed/rss"
	"golang.org/x/net/html"
)

// parser turns documents into gofeed's universal feed. gofeed's own
// Parser is not used: it offers no way to keep the original RSS document
// or to skip its translator's scan of every item's HTML for a first
// <img> (a full HTML parse per item, twice). So the format is detected,
// the document parsed with gofeed's format parser (rss, atom, json) and
// translated with gofeed's default translator, kept from scanning the
// RSS items' HTML (see translateRSS): we take images only from explicit
// enclosures, media elements and JSON Feed image fields. The RSS document
// itself gives the schedule hints (ttl, sy:updatePeriod, skipHours,
// skipDays) that the universal feed drops. Every field is stateless, so
// one parser serves all of a Client's goroutines.
type parser struct {
	rss    rss.Parser
	atom   atom.Parser
	json   json.Parser
	rssTr  gofeed.DefaultRSSTranslator
	atomTr gofeed.DefaultAtomTranslator
	jsonTr gofeed.DefaultJSONTranslator
}

// parsed is what a document yielded.
type parsed struct {
	feed  *gofeed.Feed
	facts docFacts
}

// docFacts are the schedule hints a document carries.
type docFacts struct {
	TTL          time.Duration
	UpdatePeriod time.Duration
	SkipHours    []int
	SkipDays     []time.Weekday
}

// errNotDetected is a document of no feed format gofeed knows.
var errNotDetected = errors.New("feed type not detected")

// parse detects body's format and parses and translates it.
func (ps *parser) parse(body []byte) (parsed, error) {
	var p parsed
	body, err := bound(body)
	if err != nil {
		return p, err
	}
	switch detect(body) {
	case gofeed.FeedTypeRSS:
		rf, err := ps.rss.Parse(bytes.NewReader(body))
		if err != nil {
			return p, err
		}
		p.facts = rssFacts(rf)
		p.feed, err = ps.translateRSS(rf)
		return p, err
	case gofeed.FeedTypeAtom:
		af, err := ps.atom.Parse(bytes.NewReader(body))
		if err != nil {
			return p, err
		}
		p.feed, err = ps.atomTr.Translate(af)
		return p, err
	case gofeed.FeedTypeJSON:
		jf, err := ps.json.Parse(bytes.NewReader(body))
		if err != nil {
			return p, err
		}
		p.feed, err = ps.jsonTr.Translate(jf)
		return p, err
	}
	return p, errNotDetected
}

// translateRSS runs gofeed's RSS translator without its image scan. The
// translator looks at an item's HTML for an <img> only when the item has
// no itunes:image, so each item without one is lent a placeholder
// itunes:image for the translation (a copy of its iTunes extension, so
// that author and summary fall back as they would), and given back its
// own afterwards; the placeholder image is then dropped, and image()
// finds the item's explicit media and enclosures itself. The translator
// keeps item order, one gofeed item per RSS item.
func (ps *parser) translateRSS(rf *rss.Feed) (*gofeed.Feed, error) {
	own := make([]*ext.ITunesItemExtension, len(rf.Items))
	lent := make([]bool, len(rf.Items))
	for i, it := range rf.Items {
		if it == nil || (it.ITunesExt != nil && it.ITunesExt.Image != "") {
			continue
		}
		own[i], lent[i] = it.ITunesExt, true
		placeholder := ext.ITunesItemExtension{}
		if it.ITunesExt != nil {
			placeholder = *it.ITunesExt
		}
		placeholder.Image = "placeholder"
		it.ITunesExt = &placeholder
	}
	f, err := ps.rssTr.Translate(rf)
	for i, it := range rf.Items {
		if lent[i] {
			it.ITunesExt = own[i]
		}
	}
	if err != nil {
		return nil, err
	}
	if len(f.Items) != len(rf.Items) {
		return nil, fmt.Errorf("translator gave %d items for %d", len(f.Items), len(rf.Items))
	}
	for i, gi := range f.Items {
		if gi != nil && lent[i] {
			gi.ITunesExt, gi.Image = own[i], nil
		}
	}
	return f, nil
}

// parse runs gofeed on a UTF-8 body. A panic inside the parser becomes an
// error: one broken document must never take the process down.
func (c *Client) parse(body []byte, pageURL, contentType string) (p parsed, err error) {
	if looksLikeHTML(body, contentType) {
		return p, &NotFeedError{URL: pageURL, ContentType: contentType, Alternate: advertisedFeed(body, pageURL)}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: parser panic: %v", ErrParse, r)
		}
	}()
	p, err = c.parser.parse(body)
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		// gofeed resolves every URL attribute and gives up on the whole
		// document when one does not parse. The usual culprit is a URL
		// wrapped over two lines; URL parsers of browsers drop tabs and
		// newlines, so the document is tried once more without them.
		if again, aerr := c.parser.parse(unwrapAttrs(body)); aerr == nil {
			p, err = again, nil
		}
	}
	if errors.Is(err, errNotDetected) {
		return p, &NotFeedError{URL: pageURL, ContentType: contentType, Alternate: advertisedFeed(body, pageURL)}
	}
	if err != nil {
		return p, fmt.Errorf("%w: %w", ErrParse, err)
	}
	if p.feed == nil {
		return p, fmt.Errorf("%w: no feed", ErrParse)
	}
	return p, nil
}

// rssFacts reads <ttl>, sy:updatePeriod/sy:updateFrequency, <skipHours>
// and <skipDays>. Unparsable values are ignored: they are hints.
func rssFacts(rf *rss.Feed) docFacts {
	var d docFacts
	if n, err := strconv.Atoi(strings.TrimSpace(rf.TTL)); err == nil && n > 0 {
		d.TTL = time.Duration(n) * time.Minute
	}
	if sy, ok := rf.Extensions["sy"]; ok {
		var period time.Duration
		if v := sy["updatePeriod"]; len(v) > 0 {
			switch strings.ToLower(strings.TrimSpace(v[0].Value)) {
			case "hourly":
				period = time.Hour
			case "daily":
				period = 24 * time.Hour
			case "weekly":
				period = 7 * 24 * time.Hour
			case "monthly":
				period = 30 * 24 * time.Hour
			case "yearly":
				period = 365 * 24 * time.Hour
			}
		}
		freq := 1
		if v := sy["updateFrequency"]; len(v) > 0 {
			if n, err := strconv.Atoi(strings.TrimSpace(v[0].Value)); err == nil && n > 0 {
				freq = n
			}
		}
		if period > 0 {
			d.UpdatePeriod = period / time.Duration(freq)
		}
	}
	for _, h := range rf.SkipHours {
		if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && n >= 0 && n <= 24 {
			d.SkipHours = append(d.SkipHours, n%24)
		}
	}
	for _, s := range rf.SkipDays {
		for wd := time.Sunday; wd <= time.Saturday; wd++ {
			if strings.EqualFold(strings.TrimSpace(s), wd.String()) {
				d.SkipDays = append(d.SkipDays, wd)
			}
		}
	}
	return d
}

// looksLikeHTML reports an HTML page: declared as text/html, or starting
// like one. Feeds served as text/html do exist, so a declared text/html
// body that starts like XML or JSON is still given to the parser.
func looksLikeHTML(body []byte, contentType string) bool {
	head := bytes.ToLower(body[:min(len(body), 512)])
	head = bytes.TrimLeft(head, " \t\r\n")
	if bytes.HasPrefix(head, []byte("<!doctype html")) || bytes.HasPrefix(head, []byte("<html")) {
		return true
	}
	ct := strings.ToLower(contentType)
	if strings.HasPrefix(ct, "text/html") || strings.HasPrefix(ct, "application/xhtml") {
		return !bytes.HasPrefix(head, []byte("<?xml")) && !bytes.HasPrefix(head, []byte("<rss")) &&
			!bytes.HasPrefix(head, []byte("<feed")) && !bytes.HasPrefix(head, []byte("<rdf")) &&
			!bytes.HasPrefix(head, []byte("{"))
	}
	return false
}

// feedTypes are the link types that advertise a feed.
var feedTypes = []string{"application/rss+xml", "application/atom+xml", "application/feed+json", "application/json", "application/rdf+xml", "text/xml", "application/xml"}

// advertisedFeed returns the absolute URL of the first feed an HTML page
// advertises with <link rel="alternate" type="...">, or "".
func advertisedFeed(body []byte, pageURL string) string {
	base, err := url.Parse(pageURL)
	if err != nil {
		return ""
	}
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch string(name) {
			case "body":
				return ""
			case "base":
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					if string(k) == "href" {
						if u, err := base.Parse(string(v)); err == nil {
							base = u
						}
					}
				}
			case "link":
				var rel, typ, href string
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					switch string(k) {
					case "rel":
						rel = strings.ToLower(string(v))
					case "type":
						typ = strings.ToLower(strings.TrimSpace(string(v)))
					case "href":
						href = strings.TrimSpace(string(v))
					}
				}
				if href != "" && slices.Contains(strings.Fields(rel), "alternate") && slices.Contains(feedTypes, typ) {
					if u, err := base.Parse(href); err == nil {
						return u.String()
					}
				}
			}
		}
	}
}

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
			it.Published = gi.PublishedParsed.UTC()
		}
		if gi.UpdatedParsed != nil {
			it.Updated = gi.UpdatedParsed.UTC()
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
