package publish

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"time"

	"github.com/gorilla/feeds"

	"aggregator"
)

// generator names this program in the feeds it writes.
const generator = "aggregator"

// Render writes one merged feed in format f: one entry per story, in the
// order given (newest first). The entry id is the story's stable id; title,
// link and summary come from the representative item; the content lists every
// outlet that reported the story. All publisher HTML is sanitised.
func Render(w io.Writer, f Format, meta Meta, stories []aggregator.Story) error {
	s := newSanitizer()
	entries := make([]entry, len(stories))
	for i, st := range stories {
		entries[i] = newEntry(s, st, meta.Link)
	}
	return renderEntries(w, f, meta, entries)
}

// renderEntries writes already resolved entries; the handler shares them
// between the formats and the page.
func renderEntries(w io.Writer, f Format, meta Meta, entries []entry) error {
	meta.Title = collapseSpace(cleanXMLText(meta.Title))
	meta.Description = collapseSpace(cleanXMLText(meta.Description))
	if meta.Title == "" {
		meta.Title = generator
	}
	if meta.Updated.IsZero() {
		for _, e := range entries {
			if e.Updated.After(meta.Updated) {
				meta.Updated = e.Updated
			}
		}
	}
	meta.Updated = meta.Updated.UTC().Truncate(time.Second)
	if meta.Updated.IsZero() {
		meta.Updated = time.Unix(0, 0).UTC()
	}
	bw := bufio.NewWriter(w)
	var err error
	switch f {
	case RSS:
		err = writeXML(bw, newRSS(meta, entries))
	case Atom:
		err = writeXML(bw, newAtom(meta, entries))
	case JSON:
		err = writeJSON(bw, newJSON(meta, entries))
	default:
		return fmt.Errorf("render: unknown format %q", f)
	}
	if err != nil {
		return fmt.Errorf("render %s: %w", f, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("render %s: %w", f, err)
	}
	return nil
}

func writeXML(w io.Writer, v any) error {
	if _, err := io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ---- RSS 2.0 ----

// rssDocument is gorilla's RSS channel with the atom:link elements that
// WebSub and feed validators want (rel="self", rel="hub"), which gorilla's own
// channel type cannot carry.
type rssDocument struct {
	XMLName xml.Name   `xml:"rss"`
	Version string     `xml:"version,attr"`
	Content string     `xml:"xmlns:content,attr"`
	AtomNS  string     `xml:"xmlns:atom,attr"`
	Channel rssChannel `xml:"channel"`
}

type rssChannel struct {
	Title         string           `xml:"title"`
	Link          string           `xml:"link"`
	Description   string           `xml:"description"`
	AtomLinks     []rssAtomLink    `xml:"atom:link"`
	LastBuildDate string           `xml:"lastBuildDate"`
	Generator     string           `xml:"generator"`
	Docs          string           `xml:"docs"`
	Image         *feeds.RssImage  `xml:"image"`
	Items         []*feeds.RssItem `xml:"item"`
}

type rssAtomLink struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr,omitempty"`
}

func newRSS(meta Meta, entries []entry) rssDocument {
	ch := rssChannel{
		Title:         meta.Title,
		Link:          meta.Link,
		Description:   meta.Description,
		LastBuildDate: meta.Updated.Format(time.RFC1123Z),
		Generator:     generator,
		Docs:          "https://www.rssboard.org/rss-specification",
		Items:         make([]*feeds.RssItem, 0, len(entries)),
	}
	if ch.Description == "" {
		ch.Description = meta.Title
	}
	if meta.Self != "" {
		ch.AtomLinks = append(ch.AtomLinks, rssAtomLink{Href: meta.Self, Rel: "self", Type: "application/rss+xml"})
	}
	for _, h := range meta.Hubs {
		ch.AtomLinks = append(ch.AtomLinks, rssAtomLink{Href: h, Rel: "hub"})
	}
	if meta.Icon != "" && meta.Link != "" {
		ch.Image = &feeds.RssImage{Url: meta.Icon, Title: meta.Title, Link: meta.Link}
	}
	for _, e := range entries {
		it := &feeds.RssItem{
			Title:       e.Title,
			Link:        e.Link,
			Description: e.SummaryHTML,
			Guid:        &feeds.RssGuid{Id: e.ID, IsPermaLink: "false"},
		}
		if it.Description == "" {
			it.Description = e.ContentHTML
		}
		if e.ContentHTML != "" {
			it.Content = &feeds.RssContent{Content: e.ContentHTML}
		}
		if !e.Published.IsZero() {
			it.PubDate = e.Published.Format(time.RFC1123Z)
		}
		ch.Items = append(ch.Items, it)
	}
	return rssDocument{
		Version: "2.0",
		Content: "http://purl.org/rss/1.0/modules/content/",
		AtomNS:  "http://www.w3.org/2005/Atom",
		Channel: ch,
	}
}

// ---- Atom 1.0 ----

// atomDocument is an Atom feed built from gorilla's entry types, with as many
// links as WebSub needs (gorilla's feed type holds one).
type atomDocument struct {
	XMLName   xml.Name           `xml:"feed"`
	Xmlns     string             `xml:"xmlns,attr"`
	Title     string             `xml:"title"`
	Subtitle  string             `xml:"subtitle,omitempty"`
	ID        string             `xml:"id"`
	Updated   string             `xml:"updated"`
	Links     []feeds.AtomLink   `xml:"link"`
	Icon      string             `xml:"icon,omitempty"`
	Author    *feeds.AtomAuthor  `xml:"author"`
	Generator string             `xml:"generator"`
	Entries   []*feeds.AtomEntry `xml:"entry"`
}

func newAtom(meta Meta, entries []entry) atomDocument {
	doc := atomDocument{
		Xmlns:     "http://www.w3.org/2005/Atom",
		Title:     meta.Title,
		Subtitle:  meta.Description,
		ID:        meta.Self,
		Updated:   meta.Updated.Format(time.RFC3339),
		Icon:      meta.Icon,
		Author:    &feeds.AtomAuthor{AtomPerson: feeds.AtomPerson{Name: meta.Title}},
		Generator: generator,
		Entries:   make([]*feeds.AtomEntry, 0, len(entries)),
	}
	if doc.ID == "" {
		doc.ID = meta.Link
	}
	if doc.ID == "" {
		doc.ID = "urn:aggregator:feed"
	}
	if meta.Link != "" {
		doc.Links = append(doc.Links, feeds.AtomLink{Href: meta.Link, Rel: "alternate", Type: "text/html"})
	}
	if meta.Self != "" {
		doc.Links = append(doc.Links, feeds.AtomLink{Href: meta.Self, Rel: "self", Type: "application/atom+xml"})
	}
	for _, h := range meta.Hubs {
		doc.Links = append(doc.Links, feeds.AtomLink{Href: h, Rel: "hub"})
	}
	for _, e := range entries {
		ae := &feeds.AtomEntry{
			Title:   e.Title,
			Updated: e.Updated.Format(time.RFC3339),
			Id:      e.ID,
		}
		if !e.Published.IsZero() {
			ae.Published = e.Published.Format(time.RFC3339)
		}
		if e.Link != "" {
			ae.Links = []feeds.AtomLink{{Href: e.Link, Rel: "alternate", Type: "text/html"}}
		}
		if e.SummaryHTML != "" {
			ae.Summary = &feeds.AtomSummary{Content: e.SummaryHTML, Type: "html"}
		}
		if e.ContentHTML != "" {
			ae.Content = &feeds.AtomContent{Content: e.ContentHTML, Type: "html"}
		}
		if e.Author != "" {
			ae.Author = &feeds.AtomAuthor{AtomPerson: feeds.AtomPerson{Name: e.Author}}
		}
		doc.Entries = append(doc.Entries, ae)
	}
	return doc
}

// ---- JSON Feed 1.1 ----

// jsonDocument is gorilla's JSON Feed with items that carry the
// "_aggregator" extension.
type jsonDocument struct {
	feeds.JSONFeed
	Items []jsonItem `json:"items"`
}

type jsonItem struct {
	*feeds.JSONItem
	Aggregator jsonExtension `json:"_aggregator"`
}

// jsonExtension lists the outlets behind a merged entry, so that clients
// that understand it can show them without parsing content_html.
type jsonExtension struct {
	Story   string   `json:"story"`
	Members []member `json:"members"`
}

func newJSON(meta Meta, entries []entry) jsonDocument {
	doc := jsonDocument{
		JSONFeed: feeds.JSONFeed{
			Version:     "https://jsonfeed.org/version/1.1",
			Title:       meta.Title,
			HomePageUrl: meta.Link,
			FeedUrl:     meta.Self,
			Description: meta.Description,
			Icon:        meta.Icon,
		},
		Items: make([]jsonItem, 0, len(entries)),
	}
	for _, h := range meta.Hubs {
		doc.Hubs = append(doc.Hubs, &feeds.JSONHub{Type: "WebSub", Url: h})
	}
	for _, e := range entries {
		it := &feeds.JSONItem{
			Id:          e.ID,
			Url:         e.Link,
			Title:       e.Title,
			ContentHTML: e.ContentHTML,
			Summary:     e.SummaryText,
			Image:       e.Image,
			Tags:        e.Tags,
		}
		if !e.Published.IsZero() {
			p := e.Published
			it.PublishedDate = &p
		}
		if !e.Updated.IsZero() {
			u := e.Updated
			it.ModifiedDate = &u
		}
		if e.Author != "" {
			it.Authors = []*feeds.JSONAuthor{{Name: e.Author}}
		}
		members := e.Members
		if members == nil {
			members = []member{}
		}
		doc.Items = append(doc.Items, jsonItem{
			JSONItem:   it,
			Aggregator: jsonExtension{Story: e.Story, Members: members},
		})
	}
	return doc
}
