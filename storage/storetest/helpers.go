package storetest

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"aggregator"
	"aggregator/internal/shareddata"
)

// t0 is the tests' reference time; every stored time is a whole number of
// seconds from it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// devItem is one line of the shared labelled news set.
type devItem struct {
	ID        string    `json:"id"`
	Story     string    `json:"story"`
	Source    string    `json:"source"`
	Title     string    `json:"title"`
	Summary   string    `json:"summary"`
	URL       string    `json:"url"`
	Published time.Time `json:"published"`
}

// devItems reads the shared set of real news items with summaries once:
// every test wants some.
var devItems = sync.OnceValues(func() ([]devItem, error) {
	path, err := shareddata.Path("dedupe", "dev-rich.jsonl")
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []devItem
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var d devItem
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, len(out)+1, err)
		}
		out = append(out, d)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
})

// realItems returns n real news items as fetched for feed, taken from the
// shared set from position from on, dated as published there, FirstSeen
// set to seen and normalised as the fetcher does.
func realItems(t *testing.T, feed string, from, n int, seen time.Time) []aggregator.Item {
	t.Helper()
	all, err := devItems()
	if err != nil {
		t.Fatal(err)
	}
	if from+n > len(all) {
		t.Fatalf("asked for items %d to %d of %d", from, from+n, len(all))
	}
	out := make([]aggregator.Item, n)
	for i, d := range all[from : from+n] {
		it := aggregator.Item{
			GUID: d.ID, URL: d.URL, Title: d.Title, Summary: d.Summary,
			Author: d.Source, Published: d.Published, FirstSeen: seen,
		}
		if i%3 == 0 {
			it.Categories = []string{"news", d.Story[:min(8, len(d.Story))]}
		}
		it.Normalize(feed)
		out[i] = it
	}
	return out
}

// dated returns copies of items with Published set to base plus step
// times their index (zero step: all at base); neither ID nor Hash
// depends on it.
func dated(items []aggregator.Item, base time.Time, step time.Duration) []aggregator.Item {
	out := slices.Clone(items)
	for i := range out {
		out[i].Published = base.Add(time.Duration(i) * step)
	}
	return out
}

func ids(items []aggregator.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func memberIDs(c aggregator.Cluster) []string {
	out := make([]string, len(c.Members))
	for i, m := range c.Members {
		out[i] = m.Item
	}
	return out
}

func storyIDs(stories []aggregator.Story) []string {
	out := make([]string, len(stories))
	for i, s := range stories {
		out[i] = s.ID
	}
	return out
}

// byTimeID sorts items as the stores order them: by (Item.Time, ID).
func byTimeID(items []aggregator.Item) []aggregator.Item {
	out := slices.Clone(items)
	slices.SortFunc(out, func(a, b aggregator.Item) int {
		return cmp.Or(a.Time().Compare(b.Time()), cmp.Compare(a.ID, b.ID))
	})
	return out
}

func state(feed string) aggregator.FeedState {
	return aggregator.FeedState{Name: feed, URL: "https://news.example/" + feed + ".rss"}
}

// mustSave stores one fetch of feed and fails the test on error.
func mustSave(t *testing.T, s Store, feed string, items []aggregator.Item) aggregator.SaveResult {
	t.Helper()
	res, errs := s.SaveFetches(t.Context(), []aggregator.Fetched{{State: state(feed), Items: items}})
	if len(res) != 1 || len(errs) != 1 {
		t.Fatalf("SaveFetches of one feed: %d results, %d errors; want 1, 1", len(res), len(errs))
	}
	if errs[0] != nil {
		t.Fatalf("save fetch %s: %v", feed, errs[0])
	}
	return res[0]
}

// decide stores one batch of decisions at now.
func decide(t *testing.T, s Store, now time.Time, reps map[string]string, ms ...aggregator.Membership) {
	t.Helper()
	if err := s.SaveDecisions(t.Context(), aggregator.Decisions{Memberships: ms, Representatives: reps, Now: now}); err != nil {
		t.Fatalf("save decisions: %v", err)
	}
}

func found(item, cluster string) aggregator.Membership {
	return aggregator.Membership{Item: item, Cluster: cluster, Reason: aggregator.ReasonFirst, Score: 1}
}

func joins(item, cluster, matched string) aggregator.Membership {
	return aggregator.Membership{Item: item, Cluster: cluster, Reason: aggregator.ReasonSimilar, Matched: matched,
		Score: 0.625, Shared: []string{"senate", "vote"}}
}

func mustItem(t *testing.T, s Store, id string) (aggregator.Item, bool) {
	t.Helper()
	it, ok, err := s.Item(t.Context(), id)
	if err != nil {
		t.Fatalf("item %s: %v", id, err)
	}
	return it, ok
}

func mustCluster(t *testing.T, s Store, id string) (aggregator.Cluster, bool) {
	t.Helper()
	c, ok, err := s.Cluster(t.Context(), id)
	if err != nil {
		t.Fatalf("cluster %s: %v", id, err)
	}
	return canonCluster(c), ok
}

func mustMembership(t *testing.T, s Store, id string) (aggregator.Membership, bool) {
	t.Helper()
	m, ok, err := s.Membership(t.Context(), id)
	if err != nil {
		t.Fatalf("membership %s: %v", id, err)
	}
	return canonMembership(m), ok
}

func mustFeedState(t *testing.T, s Store, name string) (aggregator.FeedState, bool) {
	t.Helper()
	st, ok, err := s.FeedState(t.Context(), name)
	if err != nil {
		t.Fatalf("feed state %s: %v", name, err)
	}
	return canonState(st), ok
}

func mustPending(t *testing.T, s Store, limit int) []aggregator.Item {
	t.Helper()
	p, err := s.Pending(t.Context(), limit)
	if err != nil {
		t.Fatalf("pending(%d): %v", limit, err)
	}
	return p
}

func mustStats(t *testing.T, s Store) aggregator.StoreStats {
	t.Helper()
	st, err := s.Stats(t.Context())
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	return st
}

func mustStamp(t *testing.T, s Store) aggregator.ClusterStamp {
	t.Helper()
	st, err := s.ClusterStamp(t.Context())
	if err != nil {
		t.Fatalf("cluster stamp: %v", err)
	}
	return st
}

func mustStories(t *testing.T, s Store, q aggregator.StoryQuery) []aggregator.Story {
	t.Helper()
	st, err := s.Stories(t.Context(), q)
	if err != nil {
		t.Fatalf("stories: %v", err)
	}
	for i := range st {
		st[i] = canonStory(st[i])
	}
	return st
}

func mustPrune(t *testing.T, s Store, before time.Time, keep int) aggregator.PruneResult {
	t.Helper()
	res, err := s.Prune(t.Context(), before, keep)
	if err != nil {
		t.Fatalf("prune before %v keeping %d: %v", before, keep, err)
	}
	return res
}

// counts are a SaveResult's numbers, to compare in one go.
type counts struct{ New, Updated, Unchanged, Deleted int }

func countsOf(r aggregator.SaveResult) counts {
	return counts{len(r.New), len(r.Updated), r.Unchanged, r.Deleted}
}

// The canon functions put values read back from a store in one form, so
// that stores may differ in what they need not keep: time zones and
// monotonic readings (times compare in UTC), and nil against empty
// slices.

func canonTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func canonStrings(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	return ss
}

func canonItem(it aggregator.Item) aggregator.Item {
	it.Published = canonTime(it.Published)
	it.Updated = canonTime(it.Updated)
	it.FirstSeen = canonTime(it.FirstSeen)
	it.Categories = canonStrings(it.Categories)
	return it
}

func canonItems(items []aggregator.Item) []aggregator.Item {
	if len(items) == 0 {
		return nil
	}
	out := make([]aggregator.Item, len(items))
	for i, it := range items {
		out[i] = canonItem(it)
	}
	return out
}

func canonMembership(m aggregator.Membership) aggregator.Membership {
	m.Joined = canonTime(m.Joined)
	m.Shared = canonStrings(m.Shared)
	return m
}

func canonCluster(c aggregator.Cluster) aggregator.Cluster {
	c.Published = canonTime(c.Published)
	c.Updated = canonTime(c.Updated)
	if len(c.Members) == 0 {
		c.Members = nil
		return c
	}
	ms := make([]aggregator.Membership, len(c.Members))
	for i, m := range c.Members {
		ms[i] = canonMembership(m)
	}
	c.Members = ms
	return c
}

func canonStory(s aggregator.Story) aggregator.Story {
	s.Cluster = canonCluster(s.Cluster)
	s.Items = canonItems(s.Items)
	return s
}

func canonState(st aggregator.FeedState) aggregator.FeedState {
	st.LastFetch = canonTime(st.LastFetch)
	st.LastSuccess = canonTime(st.LastSuccess)
	st.NextFetch = canonTime(st.NextFetch)
	return st
}

// fieldDiffs names the fields in which two structs of one type differ,
// with both values, so that a failure shows what differs rather than two
// long dumps.
func fieldDiffs(got, want any) string {
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	var out string
	for i := range g.NumField() {
		if gf, wf := g.Field(i).Interface(), w.Field(i).Interface(); !reflect.DeepEqual(gf, wf) {
			out += fmt.Sprintf("\n\t%s: got %q, want %q", g.Type().Field(i).Name, fmt.Sprint(gf), fmt.Sprint(wf))
		}
	}
	return out
}
