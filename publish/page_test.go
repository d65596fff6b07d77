package publish_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"aggregator"
	"aggregator/publish"
)

// pageOutputs are two outputs: the page of "world" must offer both.
var pageOutputs = []aggregator.Output{{Name: "world", Title: "World news", Description: "Merged world news"}, {Name: "all", Title: "Everything"}}

// checkPage asserts on a parsed page of output "world" served at base:
// stories newest first with their outlets, subscribe links, autodiscovery
// for every output and format, and no script.
func checkPage(t *testing.T, doc *html.Node, base string, stories []aggregator.Story) {
	t.Helper()
	var (
		title      string
		alternates = map[string]string{} // href → type
		subscribe  []string
		articles   []*html.Node
		scripts    int
		viewport   bool
	)
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "title":
				title = text(n)
			case "script":
				scripts++
			case "meta":
				viewport = viewport || attr(n, "name") == "viewport"
			case "link":
				if attr(n, "rel") == "alternate" {
					alternates[attr(n, "href")] = attr(n, "type")
				}
			case "ul":
				if attr(n, "class") == "subscribe" {
					for a := range descendants(n, "a") {
						subscribe = append(subscribe, attr(a, "href"))
					}
				}
			case "article":
				articles = append(articles, n)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if title != "World news" {
		t.Errorf("title: got %q, want %q", title, "World news")
	}
	if scripts != 0 {
		t.Errorf("page has %d script elements, want none", scripts)
	}
	if !viewport {
		t.Error("no viewport meta: unreadable on a phone")
	}
	for _, o := range pageOutputs {
		for f, typ := range map[string]string{"rss": "application/rss+xml", "atom": "application/atom+xml", "json": "application/feed+json"} {
			href := base + "/" + o.Name + "." + f
			if alternates[href] != typ {
				t.Errorf("autodiscovery: no <link rel=alternate type=%q href=%q> (have %v)", typ, href, alternates)
			}
		}
	}
	wantSub := []string{base + "/world.rss", base + "/world.atom", base + "/world.json", base + "/feeds.opml"}
	if strings.Join(subscribe, " ") != strings.Join(wantSub, " ") {
		t.Errorf("subscribe links: got %v, want %v", subscribe, wantSub)
	}
	if len(articles) != len(stories) {
		t.Fatalf("articles: got %d, want %d", len(articles), len(stories))
	}
	for i, a := range articles {
		st := stories[i]
		if got, want := attr(a, "id"), "story-"+st.ID; got != want {
			t.Errorf("article %d: got id %q, want %q (stories newest first)", i, got, want)
		}
		h2 := first(a, "h2")
		if h2 == nil || !strings.Contains(text(h2), strings.Fields(st.Rep().Title)[0]) {
			t.Errorf("article %d heading %q lacks the representative title %q", i, text(h2), st.Rep().Title)
		}
		var outlets []string
		for o := range descendants(a, "a") {
			if attr(o, "class") == "outlet" {
				outlets = append(outlets, text(o)+" "+attr(o, "href"))
			}
		}
		var want []string
		for j, it := range st.Items {
			want = append(want, st.Feeds[j].DisplayName()+" "+it.URL)
		}
		if strings.Join(outlets, "|") != strings.Join(want, "|") {
			t.Errorf("article %d outlets:\n got %v\nwant %v", i, outlets, want)
		}
		if tm := first(a, "time"); tm == nil || attr(tm, "datetime") != st.Published.UTC().Format(time.RFC3339) {
			t.Errorf("article %d: no <time datetime=%s>", i, st.Published.UTC().Format(time.RFC3339))
		}
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func descendants(n *html.Node, tag string) func(func(*html.Node) bool) {
	return func(yield func(*html.Node) bool) {
		var walk func(*html.Node) bool
		walk = func(n *html.Node) bool {
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && c.Data == tag && !yield(c) {
					return false
				}
				if !walk(c) {
					return false
				}
			}
			return true
		}
		walk(n)
	}
}

func first(n *html.Node, tag string) *html.Node {
	for d := range descendants(n, tag) {
		return d
	}
	return nil
}

func TestPageServed(t *testing.T) {
	stories := goldenStories(t)
	ts := newTestServer(t, &memSource{stories: stories}, publish.Options{Outputs: pageOutputs})
	for _, path := range []string{"/", "/world/", "/world.html"} {
		r := ts.do(t, "GET", path)
		doc, err := html.Parse(strings.NewReader(string(r.body)))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(path, func(t *testing.T) { checkPage(t, doc, ts.URL, stories) })
	}
}

// TestPageInBrowser loads the page in headless Debian chromium and asserts
// on the DOM it builds. Without chromium it skips, unless
// AGGREGATOR_BROWSER_TESTS=1 (CI) makes that a failure.
func TestPageInBrowser(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		if os.Getenv("AGGREGATOR_BROWSER_TESTS") == "1" {
			t.Fatal("chromium not found and AGGREGATOR_BROWSER_TESTS=1: apt-get install -y chromium")
		}
		t.Skip("chromium not installed (apt-get install -y chromium); set AGGREGATOR_BROWSER_TESTS=1 to make this a failure")
	}
	stories := goldenStories(t)
	ts := newTestServer(t, &memSource{stories: stories}, publish.Options{Outputs: pageOutputs})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--user-data-dir="+t.TempDir(), "--window-size=390,844",
		"--dump-dom", ts.URL+"/world/")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	doc, err := html.Parse(strings.NewReader(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	checkPage(t, doc, ts.URL, stories)
}
