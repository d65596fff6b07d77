package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"aggregator"
	"aggregator/pipeline"
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
	cfg, err := cf.load(e)
	if err != nil {
		return err
	}
	if ok, err := forward(ctx, e, &cf, cfg, append([]string{"clusters"}, args...)); ok {
		return err
	}
	db, err := cf.open(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer db.Close()
	if *explain {
		return explainPair(ctx, e, cfg, db, fs.Arg(0), fs.Arg(1))
	}
	stories, err := db.Stories(ctx, aggregator.StoryQuery{})
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
			case aggregator.ReasonMerged:
				why = fmt.Sprintf("was in story %s, merged in (the two similar %.2f)", m.Matched, m.Score)
			}
			fmt.Fprintf(w, "    %s %-16s %s\n        %s\n", it.ID, it.Feed, it.Title, why)
		}
	}
	fmt.Fprintf(w, "%d clusters shown, %d in all\n", shown, len(stories))
	return nil
}

// explainPair resolves two item references and prints the dedupe verdict.
func explainPair(ctx context.Context, e *env, cfg *Config, db store, a, b string) error {
	w := e.stdout
	x, err := e.pipelineFor(db, cfg, newLogger(io.Discard, slog.LevelError)).Explain(ctx, a, b)
	if errors.Is(err, pipeline.ErrNoItem) {
		return usageErr(err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "A %s  %s  %s\n  cluster %s (%s)\n", x.A.ID, x.A.Feed, x.A.Title, x.MemA.Cluster, x.MemA.Reason)
	fmt.Fprintf(w, "B %s  %s  %s\n  cluster %s (%s)\n", x.B.ID, x.B.Feed, x.B.Title, x.MemB.Cluster, x.MemB.Reason)
	if x.SameStory {
		fmt.Fprintln(w, "They are in the same story.")
	} else {
		fmt.Fprintln(w, "They are in different stories.")
	}
	fmt.Fprintln(w, x.Verdict.String())
	return nil
}
