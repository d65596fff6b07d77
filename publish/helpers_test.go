package publish_test

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"aggregator"
	"aggregator/internal/shareddata"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// richItem is one line of shared/data/dedupe/dev-rich.jsonl.
type richItem struct {
	ID        string    `json:"id"`
	Story     string    `json:"story"`
	Source    string    `json:"source"`
	Title     string    `json:"title"`
	Summary   string    `json:"summary"`
	URL       string    `json:"url"`
	Published time.Time `json:"published"`
}

// realStories returns the first n labelled stories with at least min items
// from the real development set, as the storage layer would hand them over:
// members in publication order, the first the representative, feeds named
// after their outlets.
func realStories(t testing.TB, n, min int) []aggregator.Story {
	t.Helper()
	f, err := os.Open(filepath.Join(shareddata.TestDir(t), "dedupe", "dev-rich.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	groups := map[string][]richItem{}
	var order []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var it richItem
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			t.Fatal(err)
		}
		if _, ok := groups[it.Story]; !ok {
			order = append(order, it.Story)
		}
		groups[it.Story] = append(groups[it.Story], it)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var out []aggregator.Story
	for _, key := range order {
		g := groups[key]
		if len(g) < min {
			continue
		}
		out = append(out, storyOf(g))
		if len(out) == n {
			break
		}
	}
	if len(out) < n {
		t.Fatalf("dev-rich.jsonl has only %d stories with %d+ items, want %d", len(out), min, n)
	}
	return out
}

func storyOf(g []richItem) aggregator.Story {
	var st aggregator.Story
	for i, ri := range g {
		feed := aggregator.Feed{Name: slugish(ri.Source), Title: ri.Source}
		it := aggregator.Item{Title: ri.Title, Summary: ri.Summary, URL: ri.URL, GUID: ri.URL,
			Published: ri.Published.Add(time.Duration(i) * time.Hour), FirstSeen: ri.Published}
		it.Normalize(feed.Name)
		st.Items = append(st.Items, it)
		st.Feeds = append(st.Feeds, feed)
		st.Members = append(st.Members, aggregator.Membership{Item: it.ID, Reason: aggregator.ReasonSimilar})
		if i == 0 {
			st.ID = "c" + it.ID
			st.Representative = it.ID
			st.Published = it.Published
		}
		st.Updated = it.Published
	}
	for i := range st.Members {
		st.Members[i].Cluster = st.ID
	}
	return st
}

func slugish(s string) string {
	b := []rune{}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b = append(b, r)
		case r >= 'A' && r <= 'Z':
			b = append(b, r+'a'-'A')
		default:
			if len(b) > 0 && b[len(b)-1] != '-' {
				b = append(b, '-')
			}
		}
	}
	return string(b)
}

// memSource is a Source over stories held in memory, as the lead's storage
// adapter is over bbolt: it counts calls so tests can see renders.
type memSource struct {
	mu      sync.Mutex
	version uint64
	stories []aggregator.Story
	err     error
	calls   int
	// gate, when set, blocks Stories until it is closed.
	gate chan struct{}
	// entered receives a value each time Stories starts.
	entered chan struct{}
}

func (m *memSource) Version() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version
}

func (m *memSource) Stories(ctx context.Context, out aggregator.Output) ([]aggregator.Story, error) {
	m.mu.Lock()
	m.calls++
	gate, entered := m.gate, m.entered
	m.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	var res []aggregator.Story
	for _, st := range m.stories {
		var feeds []aggregator.Feed
		keep := false
		for _, f := range st.Feeds {
			keep = keep || out.Includes(f)
			feeds = append(feeds, f)
		}
		if keep {
			st.Feeds = feeds
			res = append(res, st)
		}
		if out.MaxItems > 0 && len(res) == out.MaxItems {
			break
		}
	}
	return res, nil
}

// set replaces the stories and bumps the version, as a stored change does.
func (m *memSource) set(stories []aggregator.Story) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stories = stories
	m.version++
}

func (m *memSource) callCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("output differs from %s (run go test -run %s -update and review the diff):\n%s", path, t.Name(), firstDiff(string(got), string(want)))
	}
}

func firstDiff(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(0, i-80)
	return "got:  ..." + got[lo:min(len(got), i+80)] + "\nwant: ..." + want[lo:min(len(want), i+80)]
}
