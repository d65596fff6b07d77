package dedupe_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"aggregator"
	"aggregator/dedupe"
	"aggregator/dedupe/score"
)

var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// item builds a feed item the way the fetcher does.
func item(feed, guid, link, title, summary string, at time.Time) aggregator.Item {
	it := aggregator.Item{GUID: guid, URL: link, Title: title, Summary: summary, Published: at, FirstSeen: at}
	it.Normalize(feed)
	return it
}

// background feeds real headlines into ix so that its term statistics
// look like a news stream.
func background(t testing.TB, ix *dedupe.Index, n int) {
	t.Helper()
	for i, it := range loadSet(t, "dev.jsonl")[:n] {
		a := it.Feed()
		a.Published = t0.Add(-time.Duration(n-i) * time.Second)
		a.FirstSeen = a.Published
		ix.Add(a)
	}
}

func TestAddExactDuplicates(t *testing.T) {
	tests := []struct {
		name       string
		a, b       aggregator.Item
		wantReason aggregator.Reason
		wantSame   bool
	}{
		{"same guid across feeds",
			item("wire", "tag:wire.example,2026:story-991", "https://wire.example/a", "Quake shakes coastal city", "", t0),
			item("paper", "tag:wire.example,2026:story-991", "https://paper.example/b", "Totally different words here", "", t0.Add(time.Hour)),
			aggregator.ReasonGUID, true},
		{"numeric guids are feed-local",
			item("a", "12345", "https://a.example/1", "Council approves budget for parks", "", t0),
			item("b", "12345", "https://b.example/1", "Storm closes highway near border", "", t0),
			aggregator.ReasonFirst, false},
		{"same canonical url",
			item("a", "", "https://News.Example/story?id=7&utm_source=x", "Quake shakes coastal city", "", t0),
			item("b", "", "https://news.example/story?id=7#top", "Different title entirely, folks", "", t0),
			aggregator.ReasonURL, true},
		{"same normalised title",
			item("a", "", "https://a.example/1", "UPDATE 1: Fed raises interest rates by half a point", "", t0),
			item("b", "", "https://b.example/2", "Fed Raises Interest Rates by Half a Point - Reuters", "", t0.Add(2*time.Hour)),
			aggregator.ReasonTitle, true},
		{"generic title does not merge",
			item("a", "", "https://a.example/live", "Live updates", "", t0),
			item("b", "", "https://b.example/live", "Live updates", "", t0),
			aggregator.ReasonFirst, false},
		{"one-word title does not merge",
			item("a", "", "https://a.example/op", "Opinion", "", t0),
			item("b", "", "https://b.example/op", "Opinion", "", t0),
			aggregator.ReasonFirst, false},
		{"same title outside the window",
			item("a", "", "https://a.example/1", "Fed raises interest rates by half a point", "", t0),
			item("b", "", "https://b.example/2", "Fed raises interest rates by half a point", "", t0.Add(100*time.Hour)),
			aggregator.ReasonFirst, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := dedupe.New(dedupe.Options{})
			ma, _ := ix.Add(tt.a)
			mb, _ := ix.Add(tt.b)
			if ma.Reason != aggregator.ReasonFirst || ma.Cluster != tt.a.ID {
				t.Fatalf("first item: got reason %q cluster %q, want first/%q", ma.Reason, ma.Cluster, tt.a.ID)
			}
			if mb.Reason != tt.wantReason {
				t.Errorf("got reason %q, want %q (%+v)", mb.Reason, tt.wantReason, mb)
			}
			if got := mb.Cluster == ma.Cluster; got != tt.wantSame {
				t.Errorf("same cluster: got %v, want %v", got, tt.wantSame)
			}
			if tt.wantSame && (mb.Matched != tt.a.ID || mb.Score != 1) {
				t.Errorf("got matched %q score %v, want %q and 1", mb.Matched, mb.Score, tt.a.ID)
			}
			if !mb.Joined.Equal(tt.b.FirstSeen) {
				t.Errorf("got joined %v, want %v", mb.Joined, tt.b.FirstSeen)
			}
		})
	}
}

func TestAddSimilarKeepsClusterIDAndExplains(t *testing.T) {
	ix := dedupe.New(dedupe.Options{})
	background(t, ix, 2000)
	a := item("wire", "", "https://wire.example/1", "Volcano erupts near Grindavik as Iceland evacuates fishing town", "", t0)
	b := item("paper", "", "https://paper.example/2", "Iceland volcano eruption spreads, Grindavik fishing town evacuated", "", t0.Add(3*time.Hour))
	c := item("tv", "", "https://tv.example/3", "Grindavik eruption: Iceland volcano lava reaches evacuated fishing town",
		"Lava from the volcano near Grindavik reached the edge of the fishing town on Wednesday, three days after Iceland evacuated its 3,700 residents.", t0.Add(5*time.Hour))
	ma, rep := ix.Add(a)
	if rep != a.ID {
		t.Fatalf("founder: got rep %q, want %q (%+v)", rep, a.ID, ma)
	}
	mb, rep := ix.Add(b)
	if mb.Cluster != ma.Cluster || mb.Reason != aggregator.ReasonSimilar {
		t.Fatalf("b: got %+v, want to join %q by similarity", mb, ma.Cluster)
	}
	if rep != a.ID {
		t.Errorf("b: got rep %q, want the earlier report %q", rep, a.ID)
	}
	if mb.Score < ix.Options().Threshold || mb.Score > 1 || len(mb.Shared) < 2 || mb.Matched == "" {
		t.Errorf("b: membership does not explain itself: %+v", mb)
	}
	if !strings.Contains(strings.Join(mb.Shared, " "), "grindavik") {
		t.Errorf("b: got shared %q, want grindavik among them", mb.Shared)
	}
	mc, rep := ix.Add(c)
	if mc.Cluster != ma.Cluster {
		t.Fatalf("c: got cluster %q, want %q (%+v)", mc.Cluster, ma.Cluster, mc)
	}
	if rep != c.ID {
		t.Errorf("c: got rep %q, want %q, the member with a summary", rep, c.ID)
	}
}

// TestNoChaining: B joins A's story, C is close to B but not to the story
// as a whole, so C must not be pulled in through B.
func TestNoChaining(t *testing.T) {
	ix := dedupe.New(dedupe.Options{})
	background(t, ix, 2000)
	a := item("one", "", "https://one.example/a", "Toyota recalls 800,000 Camry sedans over faulty airbags", "", t0)
	b := item("two", "", "https://two.example/b", "Toyota Camry airbag recall: shares fall as dealers brace for repairs", "", t0.Add(time.Hour))
	c := item("three", "", "https://three.example/c", "Dealers brace as shares fall on Tokyo exchange; Nikkei repairs losses", "", t0.Add(2*time.Hour))
	ma, _ := ix.Add(a)
	if mb, _ := ix.Add(b); mb.Cluster != ma.Cluster {
		t.Fatalf("b: got %+v, want to join a's cluster", mb)
	}
	if e := ix.Explain(b, c); e.Score < ix.Options().Threshold {
		t.Fatalf("test premise: b and c should be similar on their own, got\n%v", e)
	}
	if e := ix.Explain(a, c); e.Merge {
		t.Fatalf("test premise: a and c should not be similar, got\n%v", e)
	}
	if mc, _ := ix.Add(c); mc.Cluster == ma.Cluster {
		t.Errorf("c chained into a's story through b: %+v", mc)
	}
}

type added struct {
	m   aggregator.Membership
	rep string
}

func addAll(ix *dedupe.Index, items []aggregator.Item) []added {
	out := make([]added, len(items))
	for i, it := range items {
		out[i].m, out[i].rep = ix.Add(it)
	}
	return out
}

func devItems(t testing.TB, name string, n int) []aggregator.Item {
	var out []aggregator.Item
	for _, it := range loadSet(t, name) {
		out = append(out, it.Feed())
		if len(out) == n {
			break
		}
	}
	return out
}

func TestSameInputSameOutput(t *testing.T) {
	items := devItems(t, "dev.jsonl", 2500)
	a := addAll(dedupe.New(dedupe.Options{}), items)
	b := addAll(dedupe.New(dedupe.Options{}), items)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs over the same items differ")
	}
}

// TestRestore rebuilds an index from the stored decisions of the first k
// items and checks that the remaining Adds decide exactly as in one run.
func TestRestore(t *testing.T) {
	for _, set := range []string{"dev.jsonl", "dev-rich.jsonl"} {
		t.Run(set, func(t *testing.T) {
			items := devItems(t, set, 1600)
			whole := addAll(dedupe.New(dedupe.Options{}), items)
			k := len(items) / 2
			ix := dedupe.New(dedupe.Options{})
			for i, it := range items[:k] {
				ix.Restore(it, whole[i].m)
			}
			if ix.Len() != k {
				t.Fatalf("got Len %d after restoring, want %d", ix.Len(), k)
			}
			rest := addAll(ix, items[k:])
			for i, got := range rest {
				if want := whole[k+i]; !reflect.DeepEqual(got, want) {
					t.Fatalf("item %d after restart: got %+v, want %+v", k+i, got, want)
				}
			}
		})
	}
}

// TestOrder: shuffled input gives the same partition of exact duplicates
// and nearly the same quality.
func TestOrder(t *testing.T) {
	src := loadSet(t, "dev-rich.jsonl")
	var items []aggregator.Item
	gold := map[string]string{}
	for i, s := range src {
		it := s.Feed()
		items = append(items, it)
		gold[it.ID] = s.Story
		// Every fifth story is syndicated: a copy under another feed
		// with the same GUID, or the same link, or the same title.
		if i%5 == 0 {
			cp := s
			cp.Source = s.Source + " (syndicated)"
			switch i % 3 {
			case 0:
				cp.Title = "Syndicated: " + cp.Title
			case 1:
				cp.ID = ""
			case 2:
				cp.ID, cp.URL = "", cp.URL+"?copy=1"
			}
			c := cp.Feed()
			if i%3 == 1 {
				c.GUID = ""
			}
			items = append(items, c)
			gold[c.ID] = s.Story
		}
	}
	run := func(items []aggregator.Item) map[string]string {
		ix := dedupe.New(dedupe.Options{})
		pred := map[string]string{}
		for _, it := range items {
			m, _ := ix.Add(it)
			pred[it.ID] = m.Cluster
		}
		return pred
	}
	base := run(items)
	for seed := range uint64(3) {
		shuffled := append([]aggregator.Item(nil), items...)
		r := rand.New(rand.NewPCG(seed, 7))
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		pred := run(shuffled)
		// Exact duplicates are together whatever the order.
		for i, s := range src {
			if i%5 != 0 {
				continue
			}
			orig := items[0]
			for _, it := range items {
				if it.GUID == s.ID && it.Feed == s.Source {
					orig = it
				}
			}
			for _, it := range items {
				if it.Feed == s.Source+" (syndicated)" && gold[it.ID] == s.Story && sameKey(orig, it) && pred[it.ID] != pred[orig.ID] {
					t.Errorf("seed %d: exact duplicates %q and %q split", seed, orig.Title, it.Title)
				}
			}
		}
		a, b := scoreOf(gold, base), scoreOf(gold, pred)
		if d := a - b; d > 0.01 || d < -0.01 {
			t.Errorf("seed %d: B-cubed F1 %.3f in file order, %.3f shuffled", seed, a, b)
		}
		t.Logf("seed %d: B-cubed F1 %.3f in file order, %.3f shuffled", seed, a, b)
	}
}

func sameKey(a, b aggregator.Item) bool {
	return a.GUID != "" && a.GUID == b.GUID || a.CanonicalURL == b.CanonicalURL ||
		dedupe.Normalize(a.Title) == dedupe.Normalize(b.Title)
}

func TestExpire(t *testing.T) {
	ix := dedupe.New(dedupe.Options{Window: 24 * time.Hour})
	a := item("a", "", "https://a.example/1", "Parliament passes sweeping climate bill after marathon debate", "", t0)
	b := item("b", "", "https://b.example/1", "Parliament passes sweeping climate bill after marathon debate", "", t0.Add(20*time.Hour))
	c := item("c", "", "https://c.example/1", "Parliament passes sweeping climate bill after marathon debate", "", t0.Add(40*time.Hour))
	ma, _ := ix.Add(a)
	mb, _ := ix.Add(b)
	if mb.Cluster != ma.Cluster {
		t.Fatalf("b: got %+v, want a's cluster", mb)
	}
	ix.Expire(t0.Add(30 * time.Hour)) // a is older than 24h, b is not
	if ix.Len() != 1 {
		t.Fatalf("got Len %d after Expire, want 1", ix.Len())
	}
	mc, rep := ix.Add(c)
	if mc.Cluster != ma.Cluster {
		t.Errorf("c: got cluster %q, want the story's id %q to outlive its founder", mc.Cluster, ma.Cluster)
	}
	if rep != b.ID {
		t.Errorf("c: got rep %q, want %q (a expired)", rep, b.ID)
	}
	if again, _ := ix.Add(a); again.Cluster != ma.Cluster {
		t.Errorf("a added again after expiry: got cluster %q, want the one it founded, %q", again.Cluster, ma.Cluster)
	}
	ix.Expire(t0.Add(100 * time.Hour))
	ix.Expire(t0.Add(100 * time.Hour)) // twice is harmless
	if ix.Len() != 0 {
		t.Fatalf("got Len %d, want 0", ix.Len())
	}
	// A new item reusing freed slots founds its own story.
	d := item("d", "", "https://d.example/1", "Parliament passes sweeping climate bill after marathon debate", "", t0.Add(101*time.Hour))
	if md, _ := ix.Add(d); md.Cluster != d.ID || md.Reason != aggregator.ReasonFirst {
		t.Errorf("d: got %+v, want a new cluster", md)
	}
}

// TestExpireBounded adds many items over a long time, expiring as a
// daemon would, and checks that the index keeps only the window.
func TestExpireBounded(t *testing.T) {
	items := devItems(t, "dev.jsonl", 3000)
	ix := dedupe.New(dedupe.Options{Window: 10 * time.Hour})
	for i, it := range items {
		it.Published = t0.Add(time.Duration(i) * time.Minute)
		it.FirstSeen = it.Published
		ix.Add(it)
		if i%100 == 99 {
			ix.Expire(it.Published)
		}
	}
	if n := ix.Len(); n < 500 || n > 700 {
		t.Errorf("got Len %d, want the ~600 items of the last 10 hours", n)
	}
}

func TestRepresentative(t *testing.T) {
	long := strings.Repeat("word ", 45)
	tests := []struct {
		name  string
		items []aggregator.Item
		want  string
	}{
		{"empty", nil, ""},
		{"fullest summary wins", []aggregator.Item{
			{ID: "a", Title: "T", Published: t0},
			{ID: "b", Title: "T", Summary: long, Published: t0.Add(time.Hour)},
		}, "b"},
		{"earliest among equal tiers", []aggregator.Item{
			{ID: "a", Title: "T", Summary: long + "more", Published: t0.Add(time.Hour)},
			{ID: "b", Title: "T", Summary: long, Published: t0},
		}, "b"},
		{"longer title on a tie", []aggregator.Item{
			{ID: "a", Title: "Short", Published: t0},
			{ID: "b", Title: "A longer title", Published: t0},
		}, "b"},
		{"smallest id last", []aggregator.Item{
			{ID: "b", Title: "Same", Published: t0},
			{ID: "a", Title: "Same", Published: t0},
		}, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dedupe.Representative(tt.items); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	a := item("Daily Planet", "", "https://a.example/1", "Mayor resigns amid budget scandal - Daily Planet", "", t0)
	tests := []struct {
		name      string
		b         aggregator.Item
		wantMerge bool
		wantText  string
	}{
		{"same url", item("b", "", "https://a.example/1?utm_source=rss", "Other", "", t0), true, "same canonical URL"},
		{"similar", item("b", "", "https://b.example/1", "Budget scandal: mayor resigns", "", t0), true, "reaches threshold"},
		{"unrelated", item("b", "", "https://b.example/2", "Local team wins championship", "", t0), false, "shared terms"},
		{"outside window", item("b", "", "https://b.example/3", "Mayor resigns amid budget scandal", "", t0.Add(200*time.Hour)), false, "outside the"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := dedupe.Explain(dedupe.Options{}, a, tt.b)
			s := e.String()
			if e.Merge != tt.wantMerge || !strings.Contains(s, tt.wantText) {
				t.Errorf("got merge %v, want %v, with %q in:\n%s", e.Merge, tt.wantMerge, tt.wantText, s)
			}
			if e.TitleA != "mayor resigns amid budget scandal" {
				t.Errorf("got TitleA %q, want the feed's name removed", e.TitleA)
			}
		})
	}
}

func ExampleExplain() {
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	a := aggregator.Item{ID: "a", Title: "Fed raises rates by half a point", Published: at}
	b := aggregator.Item{ID: "b", Title: "UPDATE 1: Fed raises rates by half a point - Reuters", Published: at}
	fmt.Println(dedupe.Explain(dedupe.Options{}, a, b).Why)
	// Output: same normalised title
}

func scoreOf(gold, pred map[string]string) float64 { return score.Score(gold, pred).B3F1 }
