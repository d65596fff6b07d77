package publish

import (
	"html"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
	nethtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// sanitizer turns publisher text and HTML into something safe to hand to
// every subscriber. Its policy is built once per render and only read
// afterwards, which bluemonday allows from any number of goroutines.
type sanitizer struct {
	policy *bluemonday.Policy
}

// newSanitizer builds the allowlist: structure, emphasis, lists, quotes,
// tables, links and images, with http(s)/mailto URLs only. Everything else
// (script, style, iframe, forms, event handlers, inline styles, javascript:
// and data: URLs) is dropped; script, style and frame contents go with their
// elements.
func newSanitizer() *sanitizer {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "hr", "b", "strong", "i", "em", "u", "s", "del", "ins",
		"sub", "sup", "small", "mark", "code", "pre", "kbd", "samp", "var",
		"ul", "ol", "li", "dl", "dt", "dd", "blockquote", "q", "cite", "abbr",
		"h1", "h2", "h3", "h4", "h5", "h6", "figure", "figcaption", "div", "span",
		"table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "time")
	p.AllowAttrs("href", "title").OnElements("a")
	p.AllowAttrs("src", "alt", "title").OnElements("img")
	p.AllowAttrs("width", "height").Matching(bluemonday.Number).OnElements("img")
	p.AllowAttrs("cite").OnElements("blockquote", "q", "del", "ins")
	p.AllowAttrs("title").OnElements("abbr")
	p.AllowAttrs("datetime").OnElements("time", "del", "ins")
	p.AllowAttrs("colspan", "rowspan").Matching(bluemonday.Integer).OnElements("td", "th")
	p.AllowAttrs("start").Matching(bluemonday.Integer).OnElements("ol")
	p.RequireParseableURLs(true)
	p.AllowURLSchemes("http", "https", "mailto")
	// Links were made absolute before the policy runs; one that is still
	// relative had no base to resolve against and would point at us.
	p.AllowRelativeURLs(false)
	p.RequireNoReferrerOnFullyQualifiedLinks(true)
	p.AddSpaceWhenStrippingTag(true)
	return &sanitizer{policy: p}
}

// HTML returns raw as safe HTML. Text without markup is escaped and kept as
// one paragraph; HTML has its relative URLs resolved against base, tracking
// pixels removed and then passes the allowlist.
func (s *sanitizer) HTML(raw, base string) string {
	raw = strings.TrimSpace(cleanXMLText(raw))
	if raw == "" {
		return ""
	}
	if !looksLikeHTML(raw) {
		return "<p>" + html.EscapeString(collapseSpace(raw)) + "</p>"
	}
	nodes, err := nethtml.ParseFragment(strings.NewReader(raw), &nethtml.Node{
		Type: nethtml.ElementNode, Data: "div", DataAtom: atom.Div,
	})
	if err != nil {
		// The tokenizer accepts any input; keep the text, never the markup.
		return "<p>" + html.EscapeString(s.Text(raw)) + "</p>"
	}
	b, _ := url.Parse(base)
	if b != nil && !b.IsAbs() {
		b = nil
	}
	root := &nethtml.Node{Type: nethtml.ElementNode, Data: "div", DataAtom: atom.Div}
	for _, n := range nodes {
		root.AppendChild(n)
	}
	prepare(root, b)
	var sb strings.Builder
	for n := root.FirstChild; n != nil; n = n.NextSibling {
		if err := nethtml.Render(&sb, n); err != nil {
			return "<p>" + html.EscapeString(s.Text(raw)) + "</p>"
		}
	}
	return strings.TrimSpace(s.policy.Sanitize(sb.String()))
}

// Text returns raw as plain text: markup removed (with the contents of
// script and style), entities decoded, white space collapsed.
func (s *sanitizer) Text(raw string) string {
	raw = cleanXMLText(raw)
	if !looksLikeHTML(raw) {
		return collapseSpace(raw)
	}
	z := nethtml.NewTokenizer(strings.NewReader(raw))
	var sb strings.Builder
	skip := 0
	for {
		switch z.Next() {
		case nethtml.ErrorToken:
			return collapseSpace(sb.String())
		case nethtml.TextToken:
			if skip == 0 {
				sb.Write(z.Text())
			}
		case nethtml.StartTagToken:
			name, _ := z.TagName()
			if isOpaque(string(name)) {
				skip++
			}
			sb.WriteByte(' ')
		case nethtml.EndTagToken:
			name, _ := z.TagName()
			if isOpaque(string(name)) && skip > 0 {
				skip--
			}
			sb.WriteByte(' ')
		case nethtml.SelfClosingTagToken:
			sb.WriteByte(' ')
		}
	}
}

// isOpaque reports whether an element's text is not for readers.
func isOpaque(name string) bool {
	switch name {
	case "script", "style", "noscript", "template", "iframe", "object", "svg", "math", "title":
		return true
	}
	return false
}

// prepare walks n, making URLs absolute against base and removing tracking
// pixels and elements whose content must never be shown.
func prepare(n *nethtml.Node, base *url.URL) {
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		if c.Type == nethtml.ElementNode && (isOpaque(c.Data) || isTrackingPixel(c)) {
			n.RemoveChild(c)
		} else {
			prepare(c, base)
		}
		c = next
	}
	if n.Type != nethtml.ElementNode {
		return
	}
	for i, a := range n.Attr {
		switch a.Key {
		case "href", "src", "cite":
			n.Attr[i].Val = absolute(a.Val, base)
		}
	}
}

// absolute resolves ref against base; without a base it returns ref as is
// (the policy then drops it when it is relative). An http(s) URL without a
// host ("https:0") becomes "", which the policy drops.
func absolute(ref string, base *url.URL) string {
	ref = strings.TrimSpace(ref)
	u, err := url.Parse(ref)
	if err != nil || ref == "" {
		return ref
	}
	if base != nil {
		u = base.ResolveReference(u)
	}
	if s := strings.ToLower(u.Scheme); (s == "http" || s == "https") && u.Host == "" {
		return ""
	}
	return u.String()
}

// trackerHints are URL fragments of well-known open-tracking images.
var trackerHints = [...]string{
	"feeds.feedburner.com/~r/", "feedsportal.com", "pixel.wp.com", "stats.wordpress.com",
	"doubleclick.net", "/pixel.gif", "/pixel.png", "/tracking/", "/track/open", "/beacon",
	"pixel.quantserve.com", "sb.scorecardresearch.com", "analytics.", "/__utm.gif",
}

// isTrackingPixel reports whether n is an image that only exists to report
// that a reader opened the item: at most 2×2 pixels, hidden, or served
// from a known tracker.
func isTrackingPixel(n *nethtml.Node) bool {
	if n.Data != "img" {
		return false
	}
	for _, a := range n.Attr {
		switch a.Key {
		case "width", "height":
			v := strings.TrimSuffix(strings.TrimSpace(a.Val), "px")
			if d, err := strconv.Atoi(v); err == nil && d <= 2 {
				return true
			}
		case "style":
			st := strings.ToLower(strings.ReplaceAll(a.Val, " ", ""))
			if strings.Contains(st, "display:none") || strings.Contains(st, "visibility:hidden") ||
				strings.Contains(st, "width:1px") || strings.Contains(st, "height:1px") ||
				strings.Contains(st, "width:0") || strings.Contains(st, "height:0") {
				return true
			}
		case "src":
			src := strings.ToLower(a.Val)
			for _, h := range trackerHints {
				if strings.Contains(src, h) {
					return true
				}
			}
		}
	}
	return false
}

// looksLikeHTML reports whether s holds markup or character references; a
// plain "AT&T <3 you" does not, and is escaped rather than parsed.
func looksLikeHTML(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			if i+1 < len(s) {
				c := s[i+1]
				if c == '/' || c == '!' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') {
					return true
				}
			}
		case '&':
			if isCharRef(s[i+1:]) {
				return true
			}
		}
	}
	return false
}

// isCharRef reports whether s starts with the rest of a character
// reference ("amp;", "#8217;", "#x2019;") after its '&'.
func isCharRef(s string) bool {
	end := strings.IndexByte(s, ';')
	if end <= 0 || end > 10 {
		return false
	}
	name := s[:end]
	if name[0] == '#' {
		name = strings.TrimPrefix(strings.TrimPrefix(name[1:], "x"), "X")
		if name == "" {
			return false
		}
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return html.UnescapeString("&"+s[:end+1]) != "&"+s[:end+1]
}

// collapseSpace trims s and turns every run of white space into one space.
func collapseSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// cleanXMLText makes s valid UTF-8 without the control characters that XML
// 1.0 forbids, so that no publisher's stray byte can make our feed
// ill-formed.
func cleanXMLText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, 0xD800 <= r && r <= 0xDFFF:
			return -1
		}
		return r
	}, s)
}
