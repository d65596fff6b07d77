package publish_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"aggregator"
	"aggregator/publish"
)

var goldenMeta = publish.Meta{
	Title:       "World news, merged",
	Description: "Every outlet's take on the day's stories, one entry per story.",
	Link:        "http://127.0.0.1:8080/world/",
	Self:        "http://127.0.0.1:8080/world.xml",
	Icon:        "http://127.0.0.1:8080/icon.png",
	Hubs:        []string{"http://127.0.0.1:9999/hub"},
}

// richStory is a handcrafted story whose representative carries HTML,
// an author, an image and categories, beside the real ones.
func richStory() aggregator.Story {
	t0 := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	feeds := []aggregator.Feed{{Name: "wire", Title: "Wire & Co"}, {Name: "daily"}}
	items := []aggregator.Item{{
		Title:      "Bridge <em>reopens</em> after &quot;repairs&quot;",
		URL:        "https://wire.example/2026/03/bridge?id=1",
		Summary:    `<p>The <a href="/tags/bridge">bridge</a> is open.<script>alert(1)</script></p>`,
		Content:    `<p>Full text with <img src="/img/b.jpg" alt="bridge"> and a pixel <img src="https://t.example/p.gif" width="1" height="1"></p>`,
		Author:     "Ana Ruiz",
		Image:      "https://wire.example/img/b.jpg",
		Categories: []string{"Transport", "City"},
		Published:  t0,
	}, {
		Title:     "City bridge open again",
		URL:       "https://daily.example/bridge",
		Summary:   "Plain text: cars & bikes <3 the bridge.",
		Published: t0.Add(40 * time.Minute),
	}}
	st := aggregator.Story{Items: items, Feeds: feeds}
	for i := range st.Items {
		st.Items[i].Normalize(feeds[i].Name)
		st.Members = append(st.Members, aggregator.Membership{Item: st.Items[i].ID, Cluster: "rich1"})
	}
	st.ID, st.Representative, st.Published, st.Updated = "rich1", st.Items[0].ID, t0, t0.Add(40*time.Minute)
	return st
}

func goldenStories(t *testing.T) []aggregator.Story {
	return append([]aggregator.Story{richStory()}, realStories(t, 3, 2)...)
}

func TestRenderGolden(t *testing.T) {
	stories := goldenStories(t)
	for _, tc := range []struct {
		format publish.Format
		file   string
	}{
		{publish.RSS, "golden.rss"},
		{publish.Atom, "golden.atom"},
		{publish.JSON, "golden.json"},
	} {
		t.Run(string(tc.format), func(t *testing.T) {
			var buf bytes.Buffer
			if err := publish.Render(&buf, tc.format, goldenMeta, stories); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.file, buf.Bytes())
			// Rendering is deterministic.
			var again bytes.Buffer
			if err := publish.Render(&again, tc.format, goldenMeta, stories); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), again.Bytes()) {
				t.Error("two renders of the same input differ")
			}
		})
	}
}

// TestRenderParsesBack reads every format back with a real parser and
// checks what readers rely on: ids, order, dates, links, outlets.
func TestRenderParsesBack(t *testing.T) {
	stories := goldenStories(t)
	for _, f := range []publish.Format{publish.RSS, publish.Atom, publish.JSON} {
		t.Run(string(f), func(t *testing.T) {
			var buf bytes.Buffer
			if err := publish.Render(&buf, f, goldenMeta, stories); err != nil {
				t.Fatal(err)
			}
			feed, err := gofeed.NewParser().ParseString(buf.String())
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got, want := feed.Title, goldenMeta.Title; got != want {
				t.Errorf("title: got %q, want %q", got, want)
			}
			if got, want := len(feed.Items), len(stories); got != want {
				t.Fatalf("items: got %d, want %d", got, want)
			}
			for i, it := range feed.Items {
				st := stories[i]
				if got, want := it.GUID, publish.EntryID(st.ID); got != want {
					t.Errorf("item %d id: got %q, want %q", i, got, want)
				}
				if it.PublishedParsed == nil || !it.PublishedParsed.Equal(st.Published) {
					t.Errorf("item %d published: got %v, want %v", i, it.PublishedParsed, st.Published)
				}
				if f != publish.RSS && (it.UpdatedParsed == nil || !it.UpdatedParsed.Equal(st.Updated)) {
					t.Errorf("item %d updated: got %v, want %v", i, it.UpdatedParsed, st.Updated)
				}
				if got, want := it.Link, st.Rep().URL; got != want {
					t.Errorf("item %d link: got %q, want %q", i, got, want)
				}
				for j, m := range st.Items {
					if !strings.Contains(it.Content, st.Feeds[j].DisplayName()) && !strings.Contains(it.Content, htmlEscaped(st.Feeds[j].DisplayName())) {
						t.Errorf("item %d content does not name outlet %q", i, st.Feeds[j].DisplayName())
					}
					if !strings.Contains(it.Content, htmlEscaped(m.URL)) {
						t.Errorf("item %d content does not link %q", i, m.URL)
					}
				}
			}
		})
	}
}

func htmlEscaped(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;").Replace(s)
}

func TestRenderJSONExtension(t *testing.T) {
	st := richStory()
	var buf bytes.Buffer
	if err := publish.Render(&buf, publish.JSON, goldenMeta, []aggregator.Story{st}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version string `json:"version"`
		FeedURL string `json:"feed_url"`
		Hubs    []struct{ Type, URL string }
		Items   []struct {
			ID         string `json:"id"`
			Summary    string `json:"summary"`
			Aggregator struct {
				Story   string `json:"story"`
				Members []struct {
					Feed, URL, Title string
					Published        time.Time
				} `json:"members"`
			} `json:"_aggregator"`
		} `json:"items"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != "https://jsonfeed.org/version/1.1" {
		t.Errorf("version: got %q", doc.Version)
	}
	if len(doc.Items) != 1 {
		t.Fatalf("items: got %d, want 1", len(doc.Items))
	}
	ext := doc.Items[0].Aggregator
	if ext.Story != "rich1" {
		t.Errorf("_aggregator.story: got %q, want rich1", ext.Story)
	}
	if len(ext.Members) != 2 {
		t.Fatalf("_aggregator.members: got %d, want 2", len(ext.Members))
	}
	for i, m := range ext.Members {
		it := st.Items[i]
		if m.Feed != st.Feeds[i].Name || m.URL != it.URL || !m.Published.Equal(it.Published) {
			t.Errorf("member %d: got %+v, want feed %q url %q published %v", i, m, st.Feeds[i].Name, it.URL, it.Published)
		}
	}
	if got, want := ext.Members[0].Title, `Bridge reopens after "repairs"`; got != want {
		t.Errorf("member title as text: got %q, want %q", got, want)
	}
	if s := doc.Items[0].Summary; strings.ContainsAny(s, "<>") || !strings.Contains(s, "bridge is open") {
		t.Errorf("summary must be plain text, got %q", s)
	}
}

// TestRenderInPlaceUpdate is issue 5 point 2: when an outlet joins, the
// entry keeps its id, its updated date moves and the new outlet is listed.
func TestRenderInPlaceUpdate(t *testing.T) {
	before := richStory()
	after := richStory()
	joined := aggregator.Item{Title: "Bridge back in service", URL: "https://late.example/b", Published: before.Updated.Add(2 * time.Hour)}
	joined.Normalize("late")
	after.Items = append(after.Items, joined)
	after.Feeds = append(after.Feeds, aggregator.Feed{Name: "late", Title: "The Late Post"})
	after.Members = append(after.Members, aggregator.Membership{Item: joined.ID, Cluster: after.ID})
	after.Updated = joined.Published

	for _, f := range []publish.Format{publish.RSS, publish.Atom, publish.JSON} {
		t.Run(string(f), func(t *testing.T) {
			parse := func(st aggregator.Story) *gofeed.Item {
				var buf bytes.Buffer
				if err := publish.Render(&buf, f, goldenMeta, []aggregator.Story{st}); err != nil {
					t.Fatal(err)
				}
				feed, err := gofeed.NewParser().ParseString(buf.String())
				if err != nil {
					t.Fatal(err)
				}
				return feed.Items[0]
			}
			a, b := parse(before), parse(after)
			if a.GUID != b.GUID {
				t.Errorf("id changed when an outlet joined: %q → %q", a.GUID, b.GUID)
			}
			if strings.Contains(a.Content, "The Late Post") || !strings.Contains(b.Content, "The Late Post") {
				t.Errorf("new outlet not listed only after joining:\nbefore: %s\nafter: %s", a.Content, b.Content)
			}
			if !strings.Contains(b.Content, "https://late.example/b") {
				t.Errorf("new outlet's link missing: %s", b.Content)
			}
			if f == publish.RSS {
				return // RSS 2.0 has no per-item update date
			}
			if a.UpdatedParsed == nil || b.UpdatedParsed == nil || !b.UpdatedParsed.After(*a.UpdatedParsed) {
				t.Errorf("updated did not move forward: %v → %v", a.UpdatedParsed, b.UpdatedParsed)
			}
			if !a.PublishedParsed.Equal(*b.PublishedParsed) {
				t.Errorf("published changed: %v → %v", a.PublishedParsed, b.PublishedParsed)
			}
		})
	}
}

// TestRenderWellFormed checks the XML formats against the namespaces and
// required elements that strict readers insist on, including when publisher
// text carries bytes XML forbids.
func TestRenderWellFormed(t *testing.T) {
	st := richStory()
	st.Items[0].Title = "Bad\x00bytes\x0b and \xff invalid UTF-8 ]]> end"
	st.Items[0].Content = "<p>CDATA end ]]> inside</p>"
	for _, f := range []publish.Format{publish.RSS, publish.Atom} {
		t.Run(string(f), func(t *testing.T) {
			var buf bytes.Buffer
			if err := publish.Render(&buf, f, goldenMeta, []aggregator.Story{st}); err != nil {
				t.Fatal(err)
			}
			dec := xml.NewDecoder(&buf)
			var root string
			for {
				tok, err := dec.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("not well-formed: %v", err)
				}
				if se, ok := tok.(xml.StartElement); ok && root == "" {
					root = se.Name.Space + " " + se.Name.Local
				}
			}
			want := map[publish.Format]string{publish.RSS: " rss", publish.Atom: "http://www.w3.org/2005/Atom feed"}[f]
			if root != want {
				t.Errorf("root: got %q, want %q", root, want)
			}
		})
	}
}

func TestRenderEmpty(t *testing.T) {
	for _, f := range []publish.Format{publish.RSS, publish.Atom, publish.JSON} {
		var buf bytes.Buffer
		if err := publish.Render(&buf, f, publish.Meta{Title: "Nothing"}, nil); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		feed, err := gofeed.NewParser().ParseString(buf.String())
		if err != nil {
			t.Fatalf("%s: %v\n%s", f, err, buf.String())
		}
		if len(feed.Items) != 0 || feed.Title != "Nothing" {
			t.Errorf("%s: got %d items, title %q", f, len(feed.Items), feed.Title)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    publish.Format
		ctype   string
		wantErr bool
	}{
		{"rss", publish.RSS, "application/rss+xml; charset=utf-8", false},
		{"ATOM", publish.Atom, "application/atom+xml; charset=utf-8", false},
		{" json ", publish.JSON, "application/feed+json; charset=utf-8", false},
		{"xml", "", "", true},
		{"", "", "", true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := publish.ParseFormat(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %q, %v; want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
			if err == nil && got.ContentType() != tc.ctype {
				t.Errorf("content type: got %q, want %q", got.ContentType(), tc.ctype)
			}
		})
	}
}

// FuzzRenderWellFormed: whatever bytes publishers send, RSS and Atom stay
// well-formed XML and JSON Feed stays valid JSON.
func FuzzRenderWellFormed(f *testing.F) {
	f.Add("Title", "<p>Summary</p>", "Outlet", "https://example.com/a")
	f.Add("Bad\x00\x0b\xff", "]]><![CDATA[", "\ufffe", "http://[::1]:namedport")
	f.Fuzz(func(t *testing.T, title, summary, outlet, link string) {
		st := richStory()
		st.Items[0].Title, st.Items[0].Summary, st.Items[0].Content, st.Items[0].URL = title, summary, summary, link
		st.Feeds[0].Title = outlet
		for _, format := range []publish.Format{publish.RSS, publish.Atom, publish.JSON} {
			var buf bytes.Buffer
			if err := publish.Render(&buf, format, goldenMeta, []aggregator.Story{st}); err != nil {
				t.Fatal(err)
			}
			if format == publish.JSON {
				if !json.Valid(buf.Bytes()) {
					t.Fatalf("invalid JSON for %q %q", title, summary)
				}
				continue
			}
			dec := xml.NewDecoder(&buf)
			for {
				_, err := dec.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s not well-formed (%v) for title %q summary %q outlet %q", format, err, title, summary, outlet)
				}
			}
		}
	})
}

// TestRenderDegenerate: stories with missing parts still give entries that
// readers accept (an id, a title, a date where one is known).
func TestRenderDegenerate(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	noFeeds := richStory()
	noFeeds.Feeds = nil
	stories := []aggregator.Story{
		{Cluster: aggregator.Cluster{ID: "empty", Updated: t0}},
		{Cluster: aggregator.Cluster{ID: "nodates"}, Items: []aggregator.Item{{ID: "x", Feed: "f", Summary: "Only a summary, no title, no link, no date."}}},
		noFeeds,
	}
	for _, f := range []publish.Format{publish.RSS, publish.Atom, publish.JSON} {
		var buf bytes.Buffer
		if err := publish.Render(&buf, f, goldenMeta, stories); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		feed, err := gofeed.NewParser().ParseString(buf.String())
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(feed.Items) != 3 {
			t.Fatalf("%s: got %d items, want 3", f, len(feed.Items))
		}
		for i, it := range feed.Items {
			if it.GUID != publish.EntryID(stories[i].ID) || it.Title == "" {
				t.Errorf("%s item %d: id %q title %q", f, i, it.GUID, it.Title)
			}
		}
		if got := feed.Items[1].Title; got != "Only a summary, no title, no link, no date." {
			t.Errorf("%s: title from summary: got %q", f, got)
		}
		if !strings.Contains(feed.Items[2].Content, "wire") {
			t.Errorf("%s: outlet without a configured feed must fall back to the item's feed name: %s", f, feed.Items[2].Content)
		}
	}
}
