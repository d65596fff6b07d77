package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"aggregator"
	"aggregator/dedupe/score"
	"aggregator/storage"
)

// outlets serves the labelled items as one RSS feed per outlet on
// 127.0.0.1, in two rounds: round 1 the oldest fifth or so, round 2 all
// of them, as feeds grow between two fetches (enough new items in round
// 2 that its fetch saves the dedupe index), with every eighth item of
// round 1 in each feed edited (its title), as publishers do.
type outlets struct {
	names  []string             // feed names, in the data's order of first appearance
	bodies [3]map[string][]byte // round -> path -> document
	want   [3]map[string]bool   // round -> "feed/guid" of every item served
	round  atomic.Int32
	srv    *http.Server
	addr   string
}

func serveOutlets(path string) (*outlets, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	items, err := score.Load(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// The cut is the date that leaves round 1 closest to a fifth of the
	// items (the data has dates only, and many items share one).
	dates := make([]time.Time, len(items))
	for i, it := range items {
		dates[i] = it.Published
	}
	slices.SortFunc(dates, func(a, b time.Time) int { return a.Compare(b) })
	cut, best := dates[0], len(items)
	for i, d := range dates {
		if (i == 0 || !d.Equal(dates[i-1])) && abs(i-len(items)/5) < best {
			cut, best = d, abs(i-len(items)/5)
		}
	}
	o := &outlets{}
	byOutlet := map[string][]score.Item{}
	name := map[string]string{}
	for _, it := range items {
		if _, ok := name[it.Source]; !ok {
			name[it.Source] = fmt.Sprintf("outlet-%04d", len(o.names))
			o.names = append(o.names, name[it.Source])
		}
		byOutlet[it.Source] = append(byOutlet[it.Source], it)
	}
	for r := 1; r <= 2; r++ {
		o.bodies[r], o.want[r] = map[string][]byte{}, map[string]bool{}
		for src, its := range byOutlet {
			var in []score.Item
			for i, it := range its {
				if r == 2 || it.Published.Before(cut) {
					if r == 2 && it.Published.Before(cut) && i%8 == 0 {
						// The publisher edited some of round 1's items.
						it.Title += " (updated)"
					}
					in = append(in, it)
					o.want[r][name[src]+"/"+it.ID] = true
				}
			}
			o.bodies[r]["/"+name[src]+".xml"] = score.RSS(src, in)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	o.addr = ln.Addr().String()
	o.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := o.bodies[o.round.Load()][r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		w.Write(b)
	}), ReadHeaderTimeout: 10 * time.Second}
	go o.srv.Serve(ln)
	return o, nil
}

func (o *outlets) close() { o.srv.Close() }

// writeConfig writes the config every run uses: the outlets, pruning on
// ([storage] keep 24h, keep_per_feed 0: every item first seen and dated
// over a day ago goes, which are the seeded archive items only) and
// fetching as fast as loopback allows.
func (o *outlets) writeConfig(path string) error {
	var b strings.Builder
	b.WriteString("[storage]\nkeep = \"24h\"\nkeep_per_feed = 0\n\n[fetch]\nconcurrency = 16\nper_host = 16\n\n")
	for _, n := range o.names {
		fmt.Fprintf(&b, "[[feeds]]\nname = %q\nurl = \"http://%s/%s.xml\"\n\n", n, o.addr, n)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// archivePrefix names the feeds of the seeded archive.
const archivePrefix = "archive-"

// seedArchive writes a database holding n archived items in feeds of
// 500, dated and first seen a year before the labelled data and not
// clustered yet, so that the first fetch clusters them (oldest first,
// before the data) and then prunes every one of them: what makes a
// pass's pruning long enough to be killed in. Their text is the data's.
func seedArchive(path, data string, n int) error {
	db, err := storage.Open(path, storage.Options{NoSync: true})
	if err != nil {
		return err
	}
	defer db.Close()
	if n == 0 {
		return nil
	}
	f, err := os.Open(data)
	if err != nil {
		return err
	}
	items, err := score.Load(f)
	f.Close()
	if err != nil {
		return err
	}
	base := items[0].Published.AddDate(-1, 0, 0)
	for _, it := range items {
		base = minTime(base, it.Published.AddDate(-1, 0, 0))
	}
	var fs []aggregator.Fetched
	for i := range n {
		feed := fmt.Sprintf("%s%03d", archivePrefix, i/500)
		if i%500 == 0 {
			fs = append(fs, aggregator.Fetched{State: aggregator.FeedState{Name: feed, URL: "http://127.0.0.1/" + feed}})
		}
		src := items[i%len(items)]
		at := base.Add(time.Duration(i) * time.Minute)
		it := aggregator.Item{GUID: fmt.Sprintf("archive-%d", i), URL: src.URL, Title: src.Title, Summary: src.Summary, Published: at, FirstSeen: at}
		it.Normalize(feed)
		fs[len(fs)-1].Items = append(fs[len(fs)-1].Items, it)
	}
	_, errs := db.SaveFetches(context.Background(), fs)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func abs(n int) int { return max(n, -n) }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if errorsIsNotExist(err) {
		os.Remove(to)
		return nil
	}
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}

// copyDB copies a database and its saved index into dir.
func copyDB(from, dir string) (string, error) {
	to := filepath.Join(dir, "aggregator.db")
	if err := copyFile(from, to); err != nil {
		return "", err
	}
	return to, copyFile(from+".index", to+".index")
}
