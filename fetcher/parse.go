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
	body, kind, err := bound(body)
	if err != nil {
		return p, err
	}
	switch kind {
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
		if gi == nil {
			continue
		}
		if lent[i] {
			gi.ITunesExt, gi.Image = own[i], nil
		}
		if gi.UpdatedParsed == nil {
			gi.UpdatedParsed = atomUpdated(rf.Items[i])
		}
	}
	return f, nil
}

// atomUpdated is an RSS item's atom:updated date (RFC 3339, as Atom
// dates are), or nil. gofeed v1.3's translator reads only dc:date for an
// RSS item's update time.
func atomUpdated(it *rss.Item) *time.Time {
	for _, e := range it.Extensions["atom"]["updated"] {
		if t, err := time.Parse(time.RFC3339, strings.TrimSpace(e.Value)); err == nil {
			return &t
		}
	}
	return nil
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
