package publish

import (
	"html"
	"net/url"
	"strconv"
	"strings"
	"time"

	"aggregator"
)

// idPrefix makes a story's cluster id a valid IRI (RFC 8141 URN) for Atom
// ids and RSS guids. Only the cluster id follows it, so the entry id never
// changes while the story gains outlets.
const idPrefix = "urn:aggregator:story:"

// EntryID is the id a story's entry carries in every format.
func EntryID(clusterID string) string { return idPrefix + url.PathEscape(clusterID) }

// entry is one story, resolved and sanitised once, from which every format
// and the web page are written.
type entry struct {
	ID          string
	Story       string // the cluster id
	Title       string // plain text
	Link        string
	SummaryHTML string // sanitised
	SummaryText string
	ContentHTML string // sanitised; ends with the list of outlets
	Author      string
	Image       string
	Tags        []string
	Published   time.Time
	Updated     time.Time
	Members     []member
}

// member is one outlet's report of the story.
type member struct {
	Feed      string    `json:"feed"`
	FeedTitle string    `json:"feed_title,omitempty"`
	URL       string    `json:"url,omitempty"`
	Title     string    `json:"title,omitempty"`
	Published time.Time `json:"published,omitzero"`
}

// maxSummaryText bounds the plain-text summary (JSON Feed's "summary" is
// meant to be a sentence or two).
const maxSummaryText = 400

// newEntry resolves a story into an entry. fallbackLink is used when no
// member has a link (the output's page).
func newEntry(s *sanitizer, st aggregator.Story, fallbackLink string) entry {
	rep := st.Rep()
	e := entry{
		ID:        EntryID(st.ID),
		Story:     st.ID,
		Link:      httpURL(rep.URL),
		Author:    collapseSpace(s.Text(rep.Author)),
		Image:     httpURL(rep.Image),
		Published: st.Published,
		Updated:   st.Updated,
	}
	for _, it := range st.Items {
		if e.Link == "" {
			e.Link = httpURL(it.URL)
		}
	}
	if e.Link == "" {
		e.Link = fallbackLink
	}
	if e.Published.IsZero() {
		e.Published = rep.Time()
	}
	if e.Updated.IsZero() || e.Updated.Before(e.Published) {
		e.Updated = e.Published
	}
	e.Published, e.Updated = e.Published.UTC().Truncate(time.Second), e.Updated.UTC().Truncate(time.Second)
	for _, c := range rep.Categories {
		if c = collapseSpace(s.Text(c)); c != "" {
			e.Tags = append(e.Tags, c)
		}
	}

	e.SummaryHTML = s.HTML(rep.Summary, rep.URL)
	e.SummaryText = truncate(s.Text(rep.Summary), maxSummaryText)
	e.Title = s.Text(rep.Title)
	if e.Title == "" {
		e.Title = truncate(e.SummaryText, 80)
	}
	if e.Title == "" {
		e.Title = "(untitled)"
	}
	body := e.SummaryHTML
	if strings.TrimSpace(rep.Content) != "" {
		body = s.HTML(rep.Content, rep.URL)
	}

	for i, it := range st.Items {
		m := member{Feed: it.Feed, URL: httpURL(it.URL), Title: s.Text(it.Title)}
		if i < len(st.Feeds) && st.Feeds[i].Name != "" {
			m.Feed = st.Feeds[i].Name
			m.FeedTitle = collapseSpace(cleanXMLText(st.Feeds[i].DisplayName()))
		}
		if m.FeedTitle == "" {
			m.FeedTitle = m.Feed
		}
		if t := it.Time(); !t.IsZero() {
			m.Published = t.UTC().Truncate(time.Second)
		}
		e.Members = append(e.Members, m)
	}
	e.ContentHTML = body + outletsHTML(e.Members)
	return e
}

// outletsHTML lists every outlet that reported the story, each linking to
// its own article: the part of the content that changes when one joins.
func outletsHTML(ms []member) string {
	if len(ms) == 0 {
		return ""
	}
	var b strings.Builder
	if len(ms) == 1 {
		b.WriteString("<p>Reported by 1 outlet:</p><ul>")
	} else {
		b.WriteString("<p>Reported by " + strconv.Itoa(len(ms)) + " outlets:</p><ul>")
	}
	for _, m := range ms {
		b.WriteString("<li>")
		name := html.EscapeString(m.FeedTitle)
		if m.URL != "" {
			b.WriteString(`<a href="` + html.EscapeString(m.URL) + `">` + name + `</a>`)
		} else {
			b.WriteString(name)
		}
		if m.Title != "" {
			b.WriteString(": " + html.EscapeString(m.Title))
		}
		if !m.Published.IsZero() {
			b.WriteString(" <small>(" + m.Published.Format("2006-01-02 15:04 UTC") + ")</small>")
		}
		b.WriteString("</li>")
	}
	b.WriteString("</ul>")
	return b.String()
}

// httpURL returns raw when it is an absolute http(s) URL, else "".
func httpURL(raw string) string {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

// truncate shortens s to at most n runes, at a word boundary, with an
// ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	cut := string(r[:n])
	if i := strings.LastIndexByte(cut, ' '); i > n/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,.;:") + "…"
}
