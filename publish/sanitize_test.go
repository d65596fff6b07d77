package publish_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"aggregator"
	"aggregator/publish"
)

// hostileCases are publisher HTML that must not reach subscribers as is.
var hostileCases = []struct {
	name    string
	summary string
	want    []string // substrings of the sanitised HTML
	forbid  []string // must not appear anywhere in the output
}{
	{"script", `<p>Hello<script>alert("x1")</script> world</p>`, []string{"Hello", "world"}, []string{"<script", "x1"}},
	{"style", `<style>body{display:none}</style><p style="color:red">Styled</p>`, []string{"<p>Styled</p>"}, []string{"<style", "display:none", "color:red"}},
	{"iframe", `<p>Video:</p><iframe src="https://evil.example/frame">fallback-x2</iframe>`, []string{"Video:"}, []string{"<iframe", "evil.example", "fallback-x2"}},
	{"event handlers", `<img src="/a.png" onerror="steal()" alt="A"><p onclick="steal()" onmouseover="steal()">Click</p>`, []string{`src="https://news.example/a.png"`, "Click"}, []string{"onerror", "onclick", "onmouseover", "steal()"}},
	{"javascript url", `<a href="javascript:alert(1)">js link</a> <a href="JaVaScRiPt:alert(2)">js2</a> <a href="jav&#x09;ascript:alert(3)">js3</a>`, []string{"js link", "js2", "js3"}, []string{"javascript", "JaVaScRiPt", "alert("}},
	{"data url", `<img src="data:image/png;base64,iVBORw0KGgo=" alt="inline"><a href="data:text/html,&lt;script&gt;x">d</a>`, []string{"d"}, []string{"data:", "base64"}},
	{"tracking pixels", `<p>Story</p><img src="https://t.example/open.gif" width="1" height="1"><img src="https://t.example/o2.gif" style="display: none"><img src="http://feeds.feedburner.com/~r/x/~4/abc" height="1px"><img src="https://img.example/real.jpg" width="640" height="360">`, []string{"Story", `src="https://img.example/real.jpg"`}, []string{"t.example", "feedburner"}},
	{"relative links", `<p><a href="../other/story.html">rel</a> <a href="//cdn.example/x">proto</a> <a href="?page=2">query</a> <img src="img/pic.jpg"></p>`, []string{`href="https://news.example/a/other/story.html"`, `href="https://cdn.example/x"`, `href="https://news.example/a/b/item?page=2"`, `src="https://news.example/a/b/img/pic.jpg"`}, []string{`href="../`, `src="img/`}},
	{"forms and embeds", `<form action="https://evil.example/post"><input name="pw"><button>Go</button></form><object data="x.swf"></object><embed src="x.swf"><svg onload="steal()"><circle/></svg><meta http-equiv="refresh" content="0;url=https://evil.example"><base href="https://evil.example/">`, nil, []string{"<form", "<input", "<object", "<embed", "<svg", "<meta", "<base", "evil.example", "steal()"}},
	{"text only", `Tom & Jerry <3 "quotes" > all`, []string{`<p>Tom &amp; Jerry &lt;3 &#34;quotes&#34; &gt; all</p>`}, []string{"&amp;amp;", "&amp;lt;"}},
	{"entities", `Caf&eacute; &amp; bar &#8212; open`, []string{"Café &amp; bar — open"}, []string{"&amp;eacute;"}},
}

func hostileStory(summary string) aggregator.Story {
	t0 := time.Date(2026, 4, 2, 8, 0, 0, 0, time.UTC)
	it := aggregator.Item{Title: "Hostile <b>title</b><script>x()</script>", URL: "https://news.example/a/b/item", Summary: summary, Published: t0}
	it.Normalize("news")
	return aggregator.Story{
		Cluster: aggregator.Cluster{ID: "h1", Representative: it.ID, Published: t0, Updated: t0,
			Members: []aggregator.Membership{{Item: it.ID, Cluster: "h1"}}},
		Items: []aggregator.Item{it},
		Feeds: []aggregator.Feed{{Name: "news", Title: "News <i>Co</i>"}},
	}
}

func TestSanitiseHostileHTML(t *testing.T) {
	for _, tc := range hostileCases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := publish.Render(&buf, publish.JSON, goldenMeta, []aggregator.Story{hostileStory(tc.summary)}); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Items []struct {
					Title       string `json:"title"`
					ContentHTML string `json:"content_html"`
					Summary     string `json:"summary"`
				} `json:"items"`
			}
			if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			it := doc.Items[0]
			for _, w := range tc.want {
				if !strings.Contains(it.ContentHTML, w) {
					t.Errorf("content_html lacks %q:\n%s", w, it.ContentHTML)
				}
			}
			for _, f := range tc.forbid {
				if strings.Contains(it.ContentHTML, f) || strings.Contains(it.Summary, f) {
					t.Errorf("%q reached the output:\ncontent_html: %s\nsummary: %s", f, it.ContentHTML, it.Summary)
				}
			}
			if it.Title != "Hostile title" {
				t.Errorf("title: got %q, want plain text %q", it.Title, "Hostile title")
			}
			if strings.Contains(it.Summary, "<") && !strings.Contains(tc.summary, "&lt;") && tc.name != "text only" {
				t.Errorf("summary should be plain text: %q", it.Summary)
			}
			if !strings.Contains(it.ContentHTML, "News &lt;i&gt;Co&lt;/i&gt;") {
				t.Errorf("outlet name must be escaped text: %s", it.ContentHTML)
			}
		})
	}
}

// FuzzSanitise feeds arbitrary publisher HTML through Render and checks that
// what comes out, parsed as a browser would, holds only allowed elements,
// no event handlers and only http(s)/mailto URLs.
func FuzzSanitise(f *testing.F) {
	for _, tc := range hostileCases {
		f.Add(tc.summary)
	}
	f.Add(`<a href="  javascript:alert(1)">x</a><img src=x onerror=alert(1)>`)
	f.Add(`<<script>script>alert(1)<</script>/script>`)
	f.Add(`<svg><script>alert(1)</script></svg><math><style>*{}</style></math>`)
	f.Add(`<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>`)
	allowed := map[string]bool{}
	for _, e := range strings.Fields(`html head body p br hr b strong i em u s del ins sub sup small mark code pre kbd samp var
		ul ol li dl dt dd blockquote q cite abbr h1 h2 h3 h4 h5 h6 figure figcaption div span
		table thead tbody tfoot tr th td caption time a img`) {
		allowed[e] = true
	}
	f.Fuzz(func(t *testing.T, summary string) {
		var buf bytes.Buffer
		if err := publish.Render(&buf, publish.JSON, goldenMeta, []aggregator.Story{hostileStory(summary)}); err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Items []struct {
				ContentHTML string `json:"content_html"`
			} `json:"items"`
		}
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatalf("invalid JSON: %v", err)
		}
		root, err := html.Parse(strings.NewReader(doc.Items[0].ContentHTML))
		if err != nil {
			t.Fatal(err)
		}
		var walk func(n *html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode {
				if !allowed[n.Data] {
					t.Errorf("element <%s> in %q", n.Data, doc.Items[0].ContentHTML)
				}
				for _, a := range n.Attr {
					if strings.HasPrefix(strings.ToLower(a.Key), "on") || a.Key == "style" {
						t.Errorf("attribute %s on <%s>", a.Key, n.Data)
					}
					if a.Key == "href" || a.Key == "src" || a.Key == "cite" {
						u := strings.ToLower(strings.TrimSpace(a.Val))
						if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "mailto:") {
							t.Errorf("%s=%q on <%s>", a.Key, a.Val, n.Data)
						}
					}
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(root)
	})
}
