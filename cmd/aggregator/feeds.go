package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"aggregator"
	"aggregator/fetcher"
)

const feedsHelp = `
Print each configured feed's fetch state: last fetch, status, items,
consecutive errors, last error, next due time and whether it is disabled.

  aggregator feeds [--json]
  aggregator feeds enable NAME   re-enable a feed stopped by 410 Gone and
                                 make it due now
  aggregator feeds delete NAME   delete a feed's stored items and state
                                 (for a feed removed from the config); its
                                 items never come back as new`

func runFeeds(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "feeds", "[--config feeds.toml] [--db PATH] [--json] | enable NAME | delete NAME", feedsHelp)
	var cf commonFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "one JSON object per feed per line")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 && pos[0] != "enable" && pos[0] != "delete" {
		return usageErr(fmt.Errorf("unknown feeds subcommand %q (enable or delete)", pos[0]))
	}
	cfg, err := cf.load(e)
	if err != nil {
		return err
	}
	if ok, err := forward(ctx, e, &cf, cfg, append([]string{"feeds"}, args...)); ok {
		return err
	}
	if len(pos) > 0 {
		switch pos[0] {
		case "enable":
			if len(pos) != 2 {
				return usageErr(fmt.Errorf("feeds enable takes one feed name"))
			}
			return enableFeed(ctx, e, &cf, cfg, pos[1])
		case "delete":
			if len(pos) != 2 {
				return usageErr(fmt.Errorf("feeds delete takes one feed name"))
			}
			return deleteFeed(ctx, e, &cf, cfg, pos[1])
		}
	}
	db, err := cf.open(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer db.Close()
	states, err := db.FeedStates(ctx)
	if err != nil {
		return err
	}
	return writeFeeds(e.stdout, cfg.feeds(), states, *asJSON)
}

type feedRow struct {
	Name              string    `json:"name"`
	URL               string    `json:"url"`
	LastFetch         time.Time `json:"last_fetch,omitzero"`
	Status            string    `json:"status"`
	HTTPStatus        int       `json:"http_status,omitempty"`
	Items             int       `json:"items"`
	StoredItems       int       `json:"stored_items"`
	ConsecutiveErrors int       `json:"consecutive_errors"`
	LastError         string    `json:"last_error,omitempty"`
	NextFetch         time.Time `json:"next_fetch,omitzero"`
	Disabled          bool      `json:"disabled"`
	DisabledReason    string    `json:"disabled_reason,omitempty"`
	FetchURL          string    `json:"fetch_url,omitempty"`
	// FutureDates counts the items of the last document dated more than
	// a day ahead, whose dates were set to the fetch time.
	FutureDates int `json:"future_dates,omitempty"`
	// Node is the fleet node that made the last fetch (shared store).
	Node string `json:"node,omitempty"`
}

func writeFeeds(w io.Writer, feeds []aggregator.Feed, states map[string]aggregator.FeedState, asJSON bool) error {
	enc := json.NewEncoder(w)
	width, nodes := 4, 0
	for _, f := range feeds {
		width = max(width, len(f.Name))
		nodes = max(nodes, len(states[f.Name].Node))
	}
	// The NODE column appears only for a fleet's database.
	node := func(s string) string {
		if nodes == 0 {
			return ""
		}
		return fmt.Sprintf("%-*s  ", max(nodes, 4), s)
	}
	if !asJSON {
		fmt.Fprintf(w, "%-*s  %-16s  %s%-9s  %5s  %4s  %-16s  %s\n", width, "FEED", "LAST FETCH", node("NODE"), "STATUS", "ITEMS", "ERRS", "NEXT", "LAST ERROR")
	}
	for _, f := range feeds {
		st, ok := states[f.Name]
		row := feedRow{Name: f.Name, URL: f.URL, Status: "never fetched"}
		if ok {
			row = feedRow{Name: f.Name, URL: f.URL, LastFetch: st.LastFetch, Status: st.LastResult, HTTPStatus: st.LastStatus,
				Items: st.Items, StoredItems: st.TotalItems, ConsecutiveErrors: st.ConsecutiveErrors, LastError: st.LastError,
				NextFetch: st.NextFetch, Disabled: fetcher.Disabled(f, st), DisabledReason: st.DisabledReason, FetchURL: st.FetchURL,
				FutureDates: st.FutureDates, Node: st.Node}
		}
		if asJSON {
			if err := enc.Encode(row); err != nil {
				return err
			}
			continue
		}
		status, next := row.Status, fmtTime(row.NextFetch)
		if row.Disabled {
			status, next = "DISABLED", row.DisabledReason
		}
		note := row.LastError
		if note == "" && row.FutureDates > 0 {
			note = fmt.Sprintf("%d items dated over a day ahead: shown at their fetch time", row.FutureDates)
		}
		fmt.Fprintf(w, "%-*s  %-16s  %s%-9s  %5d  %4d  %-16s  %s\n", width, row.Name, fmtTime(row.LastFetch), node(row.Node), status, row.Items, row.ConsecutiveErrors, next, note)
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func enableFeed(ctx context.Context, e *env, cf *commonFlags, cfg *Config, name string) error {
	found := false
	for _, f := range cfg.feeds() {
		found = found || f.Name == name
	}
	if !found {
		return usageErr(fmt.Errorf("no feed named %q in %s", name, cfg.path))
	}
	db, err := cf.open(ctx, e, cfg, false)
	if err != nil {
		return err
	}
	defer db.Close()
	enabled, err := e.pipelineFor(db, cfg, newLogger(io.Discard, slog.LevelError)).EnableFeed(ctx, name)
	if err != nil {
		return err
	}
	if !enabled {
		fmt.Fprintf(e.stdout, "%s is not disabled; nothing to do\n", name)
		return nil
	}
	fmt.Fprintf(e.stdout, "%s enabled; it is due now\n", name)
	return nil
}

func deleteFeed(ctx context.Context, e *env, cf *commonFlags, cfg *Config, name string) error {
	db, err := cf.open(ctx, e, cfg, false)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, ok, err := db.FeedState(ctx, name); err != nil {
		return err
	} else if !ok {
		return usageErr(fmt.Errorf("no stored feed named %q", name))
	}
	st, err := e.pipelineFor(db, cfg, newLogger(io.Discard, slog.LevelError)).DeleteFeed(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "deleted feed %s and its %d stored items\n", name, st.TotalItems)
	for _, f := range cfg.feeds() {
		if f.Name == name {
			fmt.Fprintf(e.stdout, "note: %s is still in %s; remove it there too, or it is fetched again (its old items stay deleted)\n", name, cfg.path)
		}
	}
	return nil
}
