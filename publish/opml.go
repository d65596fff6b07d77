package publish

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/unicode/norm"

	"aggregator"
)

// opmlDoc is the OPML 2.0 document shape shared by WriteOPML and ReadOPML.
type opmlDoc struct {
	XMLName xml.Name      `xml:"opml"`
	Version string        `xml:"version,attr"`
	Title   string        `xml:"head>title"`
	Body    []opmlOutline `xml:"body>outline"`
}

// opmlOutline keeps every attribute so that reading can match names
// case-insensitively (xmlUrl, xmlurl and XMLURL all occur in the wild).
type opmlOutline struct {
	Attrs    []xml.Attr    `xml:",any,attr"`
	Outlines []opmlOutline `xml:"outline"`
}

func (o opmlOutline) attr(name string) string {
	for _, a := range o.Attrs {
		if strings.EqualFold(a.Name.Local, name) {
			return strings.TrimSpace(a.Value)
		}
	}
	return ""
}

// WriteOPML writes feeds as an OPML 2.0 subscription list: one outline per
// feed, with its tags in the category attribute. The output depends only on
// its input (no creation date), so that its ETag is stable.
func WriteOPML(w io.Writer, title string, feeds []aggregator.Feed) error {
	doc := opmlDoc{Version: "2.0", Title: title, Body: make([]opmlOutline, 0, len(feeds))}
	for _, f := range feeds {
		name := f.DisplayName()
		o := opmlOutline{Attrs: []xml.Attr{
			{Name: xml.Name{Local: "type"}, Value: "rss"},
			{Name: xml.Name{Local: "text"}, Value: name},
			{Name: xml.Name{Local: "title"}, Value: name},
			{Name: xml.Name{Local: "xmlUrl"}, Value: f.URL},
		}}
		if len(f.Tags) > 0 {
			o.Attrs = append(o.Attrs, xml.Attr{Name: xml.Name{Local: "category"}, Value: strings.Join(f.Tags, ",")})
		}
		doc.Body = append(doc.Body, o)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write opml: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write opml: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write opml: %w", err)
	}
	return nil
}

// ErrNoFeeds is returned by ReadOPML when the document holds no outline
// with a feed URL.
var ErrNoFeeds = errors.New("opml: no feeds (no outline has an xmlUrl)")

// ReadOPML parses an OPML subscription list (1.0 or 2.0, any declared
// encoding). Every outline with an xmlUrl becomes a feed: Title from its
// title or text, a unique Name derived from it, URL from xmlUrl, and Tags
// from its category attribute and the text of the folders it is nested in.
// A URL listed twice is returned once.
func ReadOPML(r io.Reader) ([]aggregator.Feed, error) {
	dec := xml.NewDecoder(r)
	dec.CharsetReader = charset.NewReaderLabel
	dec.Strict = false
	dec.Entity = xml.HTMLEntity
	var doc opmlDoc
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("read opml: %w", err)
	}
	var out []aggregator.Feed
	names := map[string]bool{}
	urls := map[string]bool{}
	var walk func(list []opmlOutline, folders []string)
	walk = func(list []opmlOutline, folders []string) {
		for _, o := range list {
			title := o.attr("title")
			if title == "" {
				title = o.attr("text")
			}
			u := o.attr("xmlUrl")
			if u == "" {
				inner := folders
				if title != "" {
					inner = append(slices.Clip(folders), title)
				}
				walk(o.Outlines, inner)
				continue
			}
			if urls[u] {
				continue
			}
			urls[u] = true
			f := aggregator.Feed{URL: u, Title: title}
			f.Tags = opmlTags(folders, o.attr("category"))
			f.Name = uniqueName(names, title, u)
			out = append(out, f)
			walk(o.Outlines, folders)
		}
	}
	walk(doc.Body, nil)
	if len(out) == 0 {
		return nil, ErrNoFeeds
	}
	return out, nil
}

// opmlTags turns folder names and a category attribute ("/News/World,tech")
// into tags: each path segment once, in order of appearance.
func opmlTags(folders []string, category string) []string {
	var tags []string
	add := func(t string) {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	for _, f := range folders {
		add(f)
	}
	for _, c := range strings.Split(category, ",") {
		for _, seg := range strings.Split(c, "/") {
			add(seg)
		}
	}
	return tags
}

// uniqueName derives a config name ("le-monde") from a title, or from the
// URL's host when the title has no letters, adding -2, -3... when taken.
func uniqueName(taken map[string]bool, title, rawURL string) string {
	base := slug(title)
	if base == "" {
		if u, err := url.Parse(rawURL); err == nil {
			base = slug(strings.TrimPrefix(u.Hostname(), "www."))
		}
	}
	if base == "" {
		base = "feed"
	}
	name := base
	for i := 2; taken[name]; i++ {
		name = base + "-" + strconv.Itoa(i)
	}
	taken[name] = true
	return name
}

// slug lower-cases s, strips accents and joins its words with '-'.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range norm.NFKD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(unicode.ToLower(r))
		default:
			dash = true
		}
	}
	return b.String()
}
