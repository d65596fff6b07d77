package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"aggregator"
	"aggregator/dedupe"
	"aggregator/dedupe/score"
	"aggregator/fetcher"
	"aggregator/pipeline"
	"aggregator/storage"
)

// Clustering through the pipeline (-pipeline). The dedupe API run above
// adds the items in file order and consolidates at each date; the
// pipeline orders the reports of one time its own way (fullest first,
// then by item ID, which hashes the feed's name), consolidates before
// the first item of a new UTC day, and stores what it decided. Merge
// settings chosen on the API's clusters cost precision end to end
// (README, Merging clusters), so the pipeline's own clusters are what a
// merge setting must be chosen on. pipelineRun does what "aggregator
// fetch" does on a fresh database, in process: each outlet's items are
// served as one RSS feed on 127.0.0.1, fetched by a fetcher.Client,
// stored in a bbolt file and clustered by pipeline.Pass; the stories are
// read from the store, as "clusters --json" reads them. With the feed
// names of scripts/score-e2e (outlet-%04d) it gives that script's
// figures, with those of TestQualityEndToEnd (o%d) that test's.

// feedSet is a labelled set served as feeds, once per process.
type feedSet struct {
	feeds []aggregator.Feed
	srv   *http.Server
	dir   string
}

// serveSet serves items as one RSS feed per outlet, named by the format
// names with the outlet's number in order of its first item.
func serveSet(items []score.Item, names string) (*feedSet, error) {
	outlets, byOutlet := score.ByOutlet(items)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("serve feeds: %w", err)
	}
	bodies := map[string][]byte{}
	fs := &feedSet{}
	for i, o := range outlets {
		name := fmt.Sprintf(names, i)
		bodies["/"+name+".xml"] = score.RSS(o, byOutlet[o])
		fs.feeds = append(fs.feeds, aggregator.Feed{Name: name, Title: o, URL: fmt.Sprintf("http://%s/%s.xml", ln.Addr(), name)})
	}
	fs.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		w.Write(b)
	})}
	go fs.srv.Serve(ln)
	if fs.dir, err = os.MkdirTemp("", "dedupe-cv-"); err != nil {
		fs.srv.Close()
		return nil, err
	}
	return fs, nil
}

func (fs *feedSet) close() {
	fs.srv.Close()
	os.RemoveAll(fs.dir)
}

// run fetches and clusters every feed on a fresh database with the
// pipeline's defaults but for opts and mo (nil: no merging), and returns
// each item's story by the data's item ID (the GUID).
func (fs *feedSet) run(ctx context.Context, opts dedupe.Options, mo *dedupe.MergeOptions) (map[string]string, error) {
	path := filepath.Join(fs.dir, "run.db")
	os.Remove(path)
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		return nil, err
	}
	defer func() {
		db.Close()
		os.Remove(path)
	}()
	po := pipeline.Options{Feeds: fs.feeds, Dedupe: opts, NoMergeClusters: mo == nil}
	if mo != nil {
		po.Merge = *mo
	}
	p := pipeline.New(db, po)
	client := fetcher.New(fetcher.Options{LoopbackNoDelay: true, HostDelay: -1})
	jobs := make([]fetcher.Job, len(fs.feeds))
	for i, f := range fs.feeds {
		jobs[i] = fetcher.Job{Feed: f}
	}
	res, err := p.Pass(ctx, client, jobs, nil)
	if err != nil {
		return nil, fmt.Errorf("pass: %w", err)
	}
	for _, o := range res.Outcomes {
		if o.Err != nil {
			return nil, fmt.Errorf("feed %s: %w", o.Feed, o.Err)
		}
	}
	stories, err := db.Stories(ctx, aggregator.StoryQuery{})
	if err != nil {
		return nil, err
	}
	pred := map[string]string{}
	for _, st := range stories {
		for _, it := range st.Items {
			pred[it.GUID] = st.ID
		}
	}
	return pred, nil
}
