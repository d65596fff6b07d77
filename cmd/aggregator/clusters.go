package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"aggregator"
	"aggregator/storage"
)

const clustersHelp = `
List the story clusters, newest first, with their members and why each
member joined (same GUID, same canonical URL, same normalised title, or a
similarity score with the terms it shares).

With --json, one object per line, every stored item in exactly one cluster
(singletons too):
  {"id": "...", "items": [{"feed": "...", "id": "<guid as published>",
   "url": "<link as published>", "title": "...", "published": "<RFC 3339>"}]}

With --explain A B, say why items A and B were or were not merged; A and B
are item keys (as shown by this command), GUIDs or links.`

func runClusters(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "clusters", "[--config feeds.toml] [--db PATH] [--json] [--min-size N] [--explain A B]", clustersHelp)
	var cf commonFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "one JSON object per cluster per line")
	minSize := fs.Int("min-size", 1, "list only clusters with at least `n` members (text output)")
	explain := fs.Bool("explain", false, "explain why the two items given as arguments were or were not merged")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *explain && fs.NArg() != 2 {
		return usageErr(fmt.Errorf("--explain needs two items, got %d", fs.NArg()))
	}
	if !*explain && fs.NArg() > 0 {
		// Allow "--explain" after the items, as people type it.
		return usageErr(fmt.Errorf("unexpected arguments %q (did you mean --explain A B?)", fs.Args()))
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	db, err := cf.open(cfg, true)
	if err != nil {
		return err
	}
	defer db.Close()
	if *explain {
		return explainPair(e.stdout, cfg, db, fs.Arg(0), fs.Arg(1))
	}
	stories, err := db.Stories(ctx, storage.StoryQuery{})
	if err != nil {
		return err
	}
	if *asJSON {
		return writeClustersJSON(e.stdout, stories)
	}
	return writeClustersText(e.stdout, stories, *minSize)
}

type jsonMember struct {
	Feed      string   `json:"feed"`
	ID        string   `json:"id"`
	URL       string   `json:"url"`
	Title     string   `json:"title"`
	Published string   `json:"published"`
	Key       string   `json:"key"`
	Reason    string   `json:"reason"`
	Score     float64  `json:"score,omitempty"`
	Shared    []string `json:"shared,omitempty"`
}

type jsonCluster struct {
	ID    string       `json:"id"`
	Items []jsonMember `json:"items"`
}

func writeClustersJSON(w io.Writer, stories []aggregator.Story) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, s := range stories {
		c := jsonCluster{ID: s.ID, Items: make([]jsonMember, 0, len(s.Items))}
		for i, it := range s.Items {
			m := s.Members[i]
			c.Items = append(c.Items, jsonMember{
				Feed: it.Feed, ID: it.GUID, URL: it.URL, Title: it.Title,
				Published: it.Time().UTC().Format(time.RFC3339),
				Key:       it.ID, Reason: string(m.Reason), Score: m.Score, Shared: m.Shared,
			})
		}
		if err := enc.Encode(c); err != nil {
			return err
		}
	}
	return nil
}

func writeClustersText(w io.Writer, stories []aggregator.Story, minSize int) error {
	shown := 0
	for _, s := range stories {
		if len(s.Items) < minSize {
			continue
		}
		shown++
		rep := s.Rep()
		fmt.Fprintf(w, "%s  %s  %d outlet(s)  %s\n", s.ID, s.Published.Local().Format("2006-01-02 15:04"), len(s.Items), rep.Title)
		for i, it := range s.Items {
			m := s.Members[i]
			why := string(m.Reason)
			switch m.Reason {
			case aggregator.ReasonSimilar:
				why = fmt.Sprintf("similar %.2f to %s, sharing %s", m.Score, m.Matched, strings.Join(m.Shared, " "))
			case aggregator.ReasonGUID, aggregator.ReasonURL, aggregator.ReasonTitle:
				why = fmt.Sprintf("same %s as %s", m.Reason, m.Matched)
			case aggregator.ReasonFirst:
				why = "founded the story"
			}
			fmt.Fprintf(w, "    %s %-16s %s\n        %s\n", it.ID, it.Feed, it.Title, why)
		}
	}
	fmt.Fprintf(w, "%d clusters shown, %d in all\n", shown, len(stories))
	return nil
}

// explainPair resolves two item references and prints the dedupe verdict.
func explainPair(w io.Writer, cfg *Config, db *storage.DB, a, b string) error {
	ia, err := findItem(db, a)
	if err != nil {
		return usageErr(err)
	}
	ib, err := findItem(db, b)
	if err != nil {
		return usageErr(err)
	}
	ma, _, _ := db.Membership(ctx, ia.ID)
	mb, _, _ := db.Membership(ib.ID)
	fmt.Fprintf(w, "A %s  %s  %s\n  cluster %s (%s)\n", ia.ID, ia.Feed, ia.Title, ma.Cluster, ma.Reason)
	fmt.Fprintf(w, "B %s  %s  %s\n  cluster %s (%s)\n", ib.ID, ib.Feed, ib.Title, mb.Cluster, mb.Reason)
	if ma.Cluster != "" && ma.Cluster == mb.Cluster {
		fmt.Fprintln(w, "They are in the same story.")
	} else {
		fmt.Fprintln(w, "They are in different stories.")
	}
	// Explain with the word statistics the clustering decided with.
	p := newPipeline(cfg, db, newLogger(io.Discard, slog.LevelError))
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.loadIndexLocked(); err != nil {
		return err
	}
	fmt.Fprintln(w, p.ix.Explain(ia, ib).String())
	return nil
}

// findItem looks an item up by key, else by GUID or link.
func findItem(db *storage.DB, ref string) (aggregator.Item, error) {
	if it, ok, err := db.Item(ref); err != nil {
		return it, err
	} else if ok {
		return it, nil
	}
	stories, err := db.Stories(storage.StoryQuery{})
	if err != nil {
		return aggregator.Item{}, err
	}
	canon := aggregator.CanonicalURL(ref)
	for _, s := range stories {
		for _, it := range s.Items {
			if it.GUID == ref || it.URL == ref || (canon != "" && it.CanonicalURL == canon) {
				return it, nil
			}
		}
	}
	return aggregator.Item{}, fmt.Errorf("no item with key, GUID or link %q (aggregator clusters lists the keys)", ref)
}
