package main

import (
	"aggregator"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"aggregator/fetcher"
	"aggregator/pipeline"
	"aggregator/storage"
)

const demoHelp = `
Show the whole program offline in seconds: serve five invented outlets'
feeds (RSS, Atom and JSON Feed) on a loopback port, several of them
reporting the same stories in different words, fetch and cluster them into
a temporary database, then serve the merged feed and print its URLs. Stop
with Ctrl-C; the temporary database is removed.`

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "demo", "[--listen ADDR]", demoHelp)
	listen := fs.String("listen", "127.0.0.1:0", "`address` for the merged feeds (port 0 picks a free one)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Errorf("demo takes no arguments"))
	}

	// The sample outlets, on their own loopback server.
	started := time.Now().UTC().Truncate(time.Minute)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo feeds: %w", err)
	}
	feedSrv := &http.Server{Handler: demoFeedsHandler(started), ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { feedSrv.Serve(ln) })
	defer feedSrv.Close()
	feedBase := "http://" + ln.Addr().String()

	dir, err := os.MkdirTemp("", "aggregator-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	cfg := defaultConfig()
	cfg.path = "(demo)"
	cfg.Storage.Path = dir + "/demo.db"
	cfg.Server.Listen = *listen
	cfg.Fetch.HostDelay = Duration{0}
	for _, o := range demoOutlets {
		cfg.Feeds = append(cfg.Feeds, FeedConfig{Name: o.name, Title: o.title, URL: feedBase + "/" + o.name + "." + o.format, Tags: []string{"world"}})
	}
	cfg.Outputs = []OutputConfig{{Name: "world", Title: "World news, deduplicated", Description: "Five sample outlets merged: one entry per story", Tags: []string{"world"}}}
	if errs := cfg.validate(); len(errs) > 0 {
		return errors.Join(errs...)
	}
	cfg.fill()

	db, err := storage.Open(cfg.Storage.Path, storage.Options{NoSync: true})
	if err != nil {
		return err
	}
	defer db.Close()
	log := newLogger(e.stderr, slog.LevelWarn)

	// One pass first, so the merged feed is complete when its URL is shown.
	p := pipeline.New(db, pipelineOptions(&cfg, log))
	var jobs []fetcher.Job
	for _, f := range cfg.feeds() {
		jobs = append(jobs, fetcher.Job{Feed: f})
	}
	res, err := p.Pass(ctx, fetcher.New(fetcherOptions(&cfg)), jobs, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Fetched %d sample outlets from %s:\n", len(res.Outcomes), feedBase)
	printSummary(e.stdout, res, nil, false)
	if err := printDemoStories(ctx, e.stdout, db); err != nil {
		return err
	}

	ready := e.ready
	de := *e
	de.ready = func(base string) {
		fmt.Fprintf(e.stdout, "\nThe merged feed, one entry per story:\n  page   %s/\n  RSS    %s/world.rss\n  Atom   %s/world.atom\n  JSON   %s/world.json\nPress Ctrl-C to stop.\n", base, base, base, base)
		if ready != nil {
			ready(base)
		}
	}
	return serve(ctx, &de, &cfg, db, log)
}

// printDemoStories shows the clusters the pass produced, biggest first.
func printDemoStories(ctx context.Context, w io.Writer, db store) error {
	stories, err := db.Stories(ctx, aggregator.StoryQuery{})
	if err != nil {
		return err
	}
	items := 0
	for _, s := range stories {
		items += len(s.Items)
	}
	fmt.Fprintf(w, "\n%d items became %d stories:\n", items, len(stories))
	for _, s := range stories {
		if len(s.Items) < 2 {
			continue
		}
		outlets := make([]string, len(s.Items))
		for i, it := range s.Items {
			outlets[i] = it.Feed
		}
		fmt.Fprintf(w, "  %d outlets  %s\n            (%s)\n", len(s.Items), s.Rep().Title, strings.Join(outlets, ", "))
	}
	return nil
}

// demoFeedsHandler serves each sample outlet at /{name}.{rss|atom|json}.
func demoFeedsHandler(started time.Time) http.Handler {
	mux := http.NewServeMux()
	for _, o := range demoOutlets {
		o := o
		mux.HandleFunc("GET /"+o.name+"."+o.format, func(w http.ResponseWriter, r *http.Request) {
			switch o.format {
			case "rss":
				w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
				writeDemoRSS(w, o, started)
			case "atom":
				w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
				writeDemoAtom(w, o, started)
			case "json":
				w.Header().Set("Content-Type", "application/feed+json; charset=utf-8")
				writeDemoJSON(w, o, started)
			}
		})
	}
	return mux
}

// demoLink is a story's link. The wire story is syndicated: every outlet
// links the wire's page, with its own tracking parameters.
func demoLink(o demoOutlet, s demoStory) string {
	if strings.HasPrefix(s.slug, "wire-") {
		return "https://meridian-wire.example/" + s.slug + "?utm_source=" + o.name + "&utm_medium=rss"
	}
	return "https://" + o.name + ".example/news/" + s.slug
}

func demoTime(started time.Time, s demoStory) time.Time {
	return started.Add(-time.Duration(s.age) * time.Minute)
}

func writeDemoRSS(w io.Writer, o demoOutlet, started time.Time) {
	esc := html.EscapeString
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\">\n<channel>\n<title>%s</title>\n<link>https://%s.example/</link>\n<description>Sample outlet for the aggregator demo</description>\n", esc(o.title), o.name)
	for _, s := range o.stories {
		fmt.Fprintf(w, "<item>\n<title>%s</title>\n<link>%s</link>\n<guid isPermaLink=\"false\">%s:%s</guid>\n<description>%s</description>\n<pubDate>%s</pubDate>\n</item>\n",
			esc(s.title), esc(demoLink(o, s)), o.name, s.slug, esc("<p>"+esc(s.summary)+"</p>"), demoTime(started, s).Format(time.RFC1123Z))
	}
	fmt.Fprint(w, "</channel>\n</rss>\n")
}

func writeDemoAtom(w io.Writer, o demoOutlet, started time.Time) {
	esc := html.EscapeString
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<title>%s</title>\n<id>https://%s.example/</id>\n<link href=\"https://%s.example/\"/>\n<updated>%s</updated>\n", esc(o.title), o.name, o.name, started.Format(time.RFC3339))
	for _, s := range o.stories {
		t := demoTime(started, s).Format(time.RFC3339)
		fmt.Fprintf(w, "<entry>\n<title>%s</title>\n<id>tag:%s.example,2026:%s</id>\n<link href=\"%s\"/>\n<published>%s</published>\n<updated>%s</updated>\n<summary type=\"text\">%s</summary>\n<author><name>%s</name></author>\n</entry>\n",
			esc(s.title), o.name, s.slug, esc(demoLink(o, s)), t, t, esc(s.summary), esc(o.title))
	}
	fmt.Fprint(w, "</feed>\n")
}

func writeDemoJSON(w io.Writer, o demoOutlet, started time.Time) {
	type item struct {
		ID            string `json:"id"`
		URL           string `json:"url"`
		Title         string `json:"title"`
		ContentText   string `json:"content_text"`
		DatePublished string `json:"date_published"`
	}
	feed := struct {
		Version     string `json:"version"`
		Title       string `json:"title"`
		HomePageURL string `json:"home_page_url"`
		Items       []item `json:"items"`
	}{Version: "https://jsonfeed.org/version/1.1", Title: o.title, HomePageURL: "https://" + o.name + ".example/"}
	for _, s := range o.stories {
		feed.Items = append(feed.Items, item{ID: o.name + ":" + s.slug, URL: demoLink(o, s), Title: s.title, ContentText: s.summary,
			DatePublished: demoTime(started, s).Format(time.RFC3339)})
	}
	json.NewEncoder(w).Encode(feed)
}
