package main

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"aggregator/internal/shareddata"
	"aggregator/internal/synthfeed"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       procTimes
		wantErr    bool
	}{
		{
			name: "postgres",
			line: "4242 (postgres) S 1 4242 4242 0 -1 4194560 5000 90000 0 0 1234 567 8900 120 20 0 1 0 100 200000000 3000 18446744073709551615",
			want: procTimes{12340 * time.Millisecond, 5670 * time.Millisecond, 89 * time.Second, 1200 * time.Millisecond},
		},
		{
			name: "command with spaces and parentheses",
			line: "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 10 20 30 40 20 0 1 0",
			want: procTimes{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond},
		},
		{name: "short", line: "7 (x) R 1 2 3", wantErr: true},
		{name: "no command", line: "7 x R", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat(tc.line)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTreeCPUSelf(t *testing.T) {
	// This process burns a little CPU, then its own reading must be
	// positive and not go backwards.
	a, err := treeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	b, err := treeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if b < a || b == 0 {
		t.Errorf("CPU went from %v to %v", a, b)
	}
}

func TestCountRequests(t *testing.T) {
	log := "200 /f00000.xml\n304 /f00001.xml\n304 /f00002.xml\n404 /outlet1/\n404 /favicon.ico\n500 /f00003.xml\nbroken\n"
	got, err := countRequests(bufio.NewScanner(strings.NewReader(log)))
	if err != nil {
		t.Fatal(err)
	}
	want := requestCount{OK: 1, NotModified: 2, OtherFeed: 1, Other: 2}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestFeedBodyLoopbackOnly(t *testing.T) {
	texts, err := synthfeed.ReadTexts(filepath.Join(shareddata.TestDir(t), "dedupe", "dev-rich.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	fs := synthfeed.Feeds{Texts: texts, N: 12, Items: 5}
	const base = "http://127.0.0.1:9"
	for _, i := range []int{0, 1, 10, 11} {
		b := feedBody(fs, i, base)
		if bytes.Contains(b, []byte(".example")) {
			t.Errorf("feed %d still names an outside site:\n%s", i, b)
		}
		f, err := gofeed.NewParser().Parse(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("feed %d: %v", i, err)
		}
		if got, want := f.Link, siteURL(base, i); got != want {
			t.Errorf("feed %d: channel link %q, want %q", i, got, want)
		}
		if len(f.Items) != fs.Items {
			t.Fatalf("feed %d: %d items, want %d", i, len(f.Items), fs.Items)
		}
		for _, it := range f.Items {
			if !strings.HasPrefix(it.Link, siteURL(base, i)) {
				t.Errorf("feed %d: item link %q not on the feed's loopback site", i, it.Link)
			}
		}
	}
}

func TestOPML(t *testing.T) {
	const base = "http://127.0.0.1:9"
	var doc struct {
		Outlines []struct {
			Text    string `xml:"text,attr"`
			XMLURL  string `xml:"xmlUrl,attr"`
			HTMLURL string `xml:"htmlUrl,attr"`
		} `xml:"body>outline"`
	}
	if err := xml.Unmarshal(opml(base, 3), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Outlines) != 3 {
		t.Fatalf("got %d outlines, want 3", len(doc.Outlines))
	}
	o := doc.Outlines[2]
	if o.Text != "f00002" || o.XMLURL != base+"/f00002.xml" || o.HTMLURL != base+"/outlet2/" {
		t.Errorf("got %+v", o)
	}
}

func TestFeedsTOML(t *testing.T) {
	got := string(feedsTOML("http://127.0.0.1:9", 2, "postgres://postgres@localhost/x?host=%2Ftmp"))
	for _, want := range []string{
		"[storage]\nurl = \"postgres://postgres@localhost/x?host=%2Ftmp\"\n",
		"concurrency = 16\n",
		"[[feeds]]\nname = \"f00001\"\nurl = \"http://127.0.0.1:9/f00001.xml\"\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(string(feedsTOML("http://127.0.0.1:9", 1, "")), "[storage]") {
		t.Error("bbolt config has a [storage] table")
	}
}

func TestParseSummary(t *testing.T) {
	out := []byte("2000 feeds fetched in 2.5s: 2000 with new content (80000 new items), 0 unchanged, 0 failed; 120 MiB received; clustered in 2.4s\n")
	got, err := parseSummary(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := (summary{2000, 2000, 80000, 0, 0}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseSummary([]byte("nothing")); err == nil {
		t.Error("no error without a summary line")
	}
}

func TestNextTick(t *testing.T) {
	phase := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		t    time.Time
		want time.Time
	}{
		{"before the phase", phase.Add(-time.Hour), phase},
		{"at the phase", phase, phase.Add(time.Minute)},
		{"within the first period", phase.Add(10 * time.Second), phase.Add(time.Minute)},
		{"periods later", phase.Add(150 * time.Second), phase.Add(3 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextTick(phase, time.Minute, tc.t); !got.Equal(tc.want) {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestKeywordDSN(t *testing.T) {
	for _, tc := range []struct{ name, url, want string }{
		{"socket", "postgres://postgres@localhost/mf_1?host=%2Ftmp%2Fpg1&port=5432&sslmode=disable",
			"host=/tmp/pg1 dbname=mf_1 user=postgres sslmode=disable port=5432"},
		{"tcp", "postgres://postgres@127.0.0.1:5544/mf?sslmode=disable",
			"host=127.0.0.1 dbname=mf user=postgres sslmode=disable port=5544"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keywordDSN(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name string
		xs   []time.Duration
		want time.Duration
	}{
		{"odd", []time.Duration{3 * s, 1 * s, 2 * s}, 2 * s},
		{"even", []time.Duration{4 * s, 1 * s, 2 * s, 3 * s}, 2500 * time.Millisecond},
		{"one", []time.Duration{s}, s},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := median(tc.xs); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseFlagsSystems(t *testing.T) {
	c, err := parseFlags([]string{"-systems", "miniflux-scheduler, ours-bbolt,ours-bbolt"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.systems, ","); got != "ours-bbolt,miniflux-scheduler" {
		t.Errorf("systems %q, want them once each in round order", got)
	}
	if !c.withMiniflux() {
		t.Error("withMiniflux = false")
	}
	if _, err := parseFlags([]string{"-systems", "freshrss"}, io.Discard); err == nil {
		t.Error("no error for an unknown system")
	}
}
