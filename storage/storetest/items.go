package storetest

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"aggregator"
)

// testSaveNewItems: a first fetch stores every item as given (its Feed set
// when empty), reports them new in batch order and counts them.
func testSaveNewItems(t *testing.T, open opener) {
	s := open(t)
	items := realItems(t, "wire", 0, 40, t0)
	items[3].Feed = "" // the feed's name is set from the fetch
	items[5].Published = time.Time{}
	items[7].Updated = t0.Add(-time.Hour)
	res := mustSave(t, s, "wire", items)
	items[3].Feed = "wire"
	if got, want := ids(res.New), ids(items); !slices.Equal(got, want) {
		t.Errorf("New = %v,\nwant %v", got, want)
	}
	if got := countsOf(res); got != (counts{New: 40}) {
		t.Errorf("counts = %+v, want 40 new", got)
	}
	if len(res.New) > 3 && res.New[3].Feed != "wire" {
		t.Errorf("New[3].Feed = %q, want %q", res.New[3].Feed, "wire")
	}
	for _, want := range items {
		got, ok := mustItem(t, s, want.ID)
		if !ok {
			t.Errorf("item %s not stored", want.ID)
			continue
		}
		if got, want := canonItem(got), canonItem(want); !reflect.DeepEqual(got, want) {
			t.Errorf("item %s differs:%s", want.ID, fieldDiffs(got, want))
		}
	}
	if _, ok := mustItem(t, s, aggregator.ItemID("wire", "guid:none")); ok {
		t.Error("an item never stored is found")
	}
	if st, _ := mustFeedState(t, s, "wire"); st.TotalItems != 40 {
		t.Errorf("TotalItems = %d, want 40", st.TotalItems)
	}
}

// testItemIdentity: an item is its ID. A refetch keeps the stored
// FirstSeen; a changed Hash replaces the item and reports it Updated; an
// ID repeated in one batch is stored once, the first occurrence winning.
func testItemIdentity(t *testing.T, open opener) {
	later := t0.Add(6 * time.Hour)
	edit := func(it aggregator.Item, title string) aggregator.Item {
		it.Title = title
		it.Normalize(it.Feed)
		return it
	}
	for _, tc := range []struct {
		name string
		// first and second are the two fetches of feed "f", from 12 real
		// items fetched at t0 (first) and at later (second).
		first, second func(first, second []aggregator.Item) []aggregator.Item
		want          counts
		// check looks at the store after the second fetch.
		check func(t *testing.T, s Store, first, second []aggregator.Item, res aggregator.SaveResult)
	}{{
		name:   "unchanged refetch keeps FirstSeen",
		first:  func(a, _ []aggregator.Item) []aggregator.Item { return a },
		second: func(_, b []aggregator.Item) []aggregator.Item { return b },
		want:   counts{Unchanged: 12},
		check: func(t *testing.T, s Store, a, _ []aggregator.Item, _ aggregator.SaveResult) {
			for _, want := range a {
				got, _ := mustItem(t, s, want.ID)
				if !got.FirstSeen.Equal(t0) {
					t.Errorf("item %s FirstSeen = %v, want %v", want.ID, got.FirstSeen, t0)
				}
			}
		},
	}, {
		name:  "edited item is updated with its FirstSeen",
		first: func(a, _ []aggregator.Item) []aggregator.Item { return a },
		second: func(_, b []aggregator.Item) []aggregator.Item {
			b = slices.Clone(b)
			b[4] = edit(b[4], "Corrected: "+b[4].Title)
			return b
		},
		want: counts{Updated: 1, Unchanged: 11},
		check: func(t *testing.T, s Store, a, b []aggregator.Item, res aggregator.SaveResult) {
			want := edit(b[4], "Corrected: "+b[4].Title)
			want.FirstSeen = t0
			if len(res.Updated) == 1 {
				if got := canonItem(res.Updated[0]); !reflect.DeepEqual(got, canonItem(want)) {
					t.Errorf("Updated[0] = %+v,\nwant %+v", got, want)
				}
			}
			got, _ := mustItem(t, s, want.ID)
			if got := canonItem(got); !reflect.DeepEqual(got, canonItem(want)) {
				t.Errorf("stored %+v,\nwant %+v", got, want)
			}
		},
	}, {
		name: "ID repeated in one batch: first wins",
		first: func(a, _ []aggregator.Item) []aggregator.Item {
			return append(slices.Clone(a), edit(a[0], "A second copy"), a[1])
		},
		second: func(a, _ []aggregator.Item) []aggregator.Item { return a[:2] },
		want:   counts{Unchanged: 2},
		check: func(t *testing.T, s Store, a, _ []aggregator.Item, _ aggregator.SaveResult) {
			got, _ := mustItem(t, s, a[0].ID)
			if got.Title != a[0].Title {
				t.Errorf("title = %q, want the first occurrence's %q", got.Title, a[0].Title)
			}
			if n := mustStats(t, s).Items; n != 12 {
				t.Errorf("Stats.Items = %d, want 12", n)
			}
		},
	}, {
		name:   "new items among known ones",
		first:  func(a, _ []aggregator.Item) []aggregator.Item { return a[:8] },
		second: func(_, b []aggregator.Item) []aggregator.Item { return b[4:] },
		want:   counts{New: 4, Unchanged: 4},
		check: func(t *testing.T, s Store, _, b []aggregator.Item, res aggregator.SaveResult) {
			if got, want := ids(res.New), ids(b[8:]); !slices.Equal(got, want) {
				t.Errorf("New = %v, want %v", got, want)
			}
			got, _ := mustItem(t, s, b[10].ID)
			if !got.FirstSeen.Equal(later) {
				t.Errorf("new item's FirstSeen = %v, want %v", got.FirstSeen, later)
			}
		},
	}, {
		name:   "same GUID in another feed is another item",
		first:  func(a, _ []aggregator.Item) []aggregator.Item { return a },
		second: func(_, _ []aggregator.Item) []aggregator.Item { return nil },
		want:   counts{},
		check: func(t *testing.T, s Store, a, _ []aggregator.Item, _ aggregator.SaveResult) {
			other := slices.Clone(a[:3])
			for i := range other {
				other[i].Normalize("g")
			}
			res := mustSave(t, s, "g", other)
			if got := countsOf(res); got != (counts{New: 3}) {
				t.Errorf("feed g: counts = %+v, want 3 new", got)
			}
			for i := range other {
				if other[i].ID == a[i].ID {
					t.Fatalf("feeds f and g share ID %s", a[i].ID)
				}
				got, _ := mustItem(t, s, a[i].ID)
				if got.Feed != "f" {
					t.Errorf("item %s feed = %q, want f", a[i].ID, got.Feed)
				}
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			a := realItems(t, "f", 40, 12, t0)
			b := realItems(t, "f", 40, 12, later)
			mustSave(t, s, "f", tc.first(a, b))
			res := mustSave(t, s, "f", tc.second(a, b))
			if got := countsOf(res); got != tc.want {
				t.Errorf("second fetch: counts = %+v, want %+v", got, tc.want)
			}
			tc.check(t, s, a, b, res)
		})
	}
}

// testSaveRejects: a fetch with an item of another feed, an item without
// an ID or no feed name is refused whole, at its index; the others in the
// same call are stored.
func testSaveRejects(t *testing.T, open opener) {
	s := open(t)
	a := realItems(t, "a", 60, 5, t0)
	noID := realItems(t, "c", 70, 3, t0)
	noID[1].ID = ""
	res, errs := s.SaveFetches(t.Context(), []aggregator.Fetched{
		{State: state("a"), Items: a},
		{State: state("b"), Items: a[:2]}, // feed a's items
		{State: state("c"), Items: noID},
		{State: aggregator.FeedState{URL: "https://news.example/nameless"}, Items: realItems(t, "", 80, 2, t0)},
	})
	if len(res) != 4 || len(errs) != 4 {
		t.Fatalf("%d results, %d errors; want 4, 4", len(res), len(errs))
	}
	for i, wantErr := range []bool{false, true, true, true} {
		if (errs[i] != nil) != wantErr {
			t.Errorf("fetch %d: error %v, want an error: %v", i, errs[i], wantErr)
		}
	}
	if len(res[0].New) != 5 {
		t.Errorf("fetch 0: %d new, want 5", len(res[0].New))
	}
	for _, feed := range []string{"b", "c", ""} {
		if _, ok := mustFeedState(t, s, feed); ok {
			t.Errorf("refused fetch of feed %q left its state", feed)
		}
	}
	if _, ok := mustItem(t, s, noID[0].ID); ok {
		t.Error("refused fetch of feed c stored an item")
	}
	if got := mustStats(t, s); got.Items != 5 || got.Feeds != 1 {
		t.Errorf("stats: %d items, %d feeds; want 5, 1", got.Items, got.Feeds)
	}
}

// oddFeed is a feed name as a configuration may have it: spaces, a slash,
// letters outside ASCII.
const oddFeed = "Le Monde — À la une / International"

// oddItems are items whose text is what feeds really send now and then:
// scripts and emoji, a NUL byte, bytes that are not UTF-8, HTML, a very
// long content, empty fields.
func oddItems(t *testing.T) []aggregator.Item {
	base := realItems(t, oddFeed, 680, 6, t0)
	texts := []struct{ title, summary, content string }{
		{"Ukraine : les négociations reprennent à Genève 🇺🇦", "Résumé <b>en gras</b> &amp; une esperluette", ""},
		{"خبر عاجل: انتخابات", "מבזק חדשות", "日本語のニュース 漢字"},
		{"A NUL\x00inside", "tab\tand\r\nnewlines", "\x00"},
		{"Latin-1 caf\xe9, not UTF-8", "\xff\xfe\xfd", "ok"},
		{"Long read", "", strings.Repeat("<p>Paragraph with words and more words. ", 8000)},
		{"", "", ""},
	}
	for i := range base {
		base[i].Title, base[i].Summary, base[i].Content = texts[i].title, texts[i].summary, texts[i].content
		base[i].Author, base[i].Image = "Rédaction ✍", "https://img.example/ä/ø.jpg?w=1&h=2"
		base[i].Categories = []string{"Économie", "", "a,b", "x\x00y"}
		base[i].Normalize(oddFeed)
	}
	return base
}

// testItemText: what feeds send comes back byte for byte, whatever it
// holds, under a feed name of any characters.
func testItemText(t *testing.T, open opener) {
	s := open(t)
	items := oddItems(t)
	st := state(oddFeed)
	st.Title, st.LastError = "Le Monde.fr — Actualités et Infos en France et dans le monde", "parse: illegal character \x00 at 3:14"
	st.ETag = "W/\"\xe9t\xe9\""
	res, errs := s.SaveFetches(t.Context(), []aggregator.Fetched{{State: st, Items: items}})
	if errs[0] != nil {
		t.Fatalf("save fetch: %v", errs[0])
	}
	if len(res[0].New) != len(items) {
		t.Errorf("%d new, want %d", len(res[0].New), len(items))
	}
	for _, want := range items {
		got, ok := mustItem(t, s, want.ID)
		if !ok {
			t.Errorf("item %q not stored", want.Title)
			continue
		}
		if !itemsEqual(got, want) {
			t.Errorf("item %q differs:%s", want.Title, fieldDiffs(canonItem(got), canonItem(want)))
		}
	}
	st.TotalItems = len(items)
	if got, ok := mustFeedState(t, s, oddFeed); !ok || !reflect.DeepEqual(got, canonState(st)) {
		t.Errorf("feed state (stored: %v) differs:%s", ok, fieldDiffs(got, canonState(st)))
	}
	decide(t, s, t0, nil, found(items[0].ID, "s"), joins(items[2].ID, "s", items[0].ID))
	stories := mustStories(t, s, aggregator.StoryQuery{Include: func(f string) bool { return f == oddFeed }})
	if len(stories) != 1 || len(stories[0].Items) != 2 || !itemsEqual(stories[0].Items[1], items[2]) {
		t.Errorf("stories of %q = %+v; want one with items 0 and 2 as stored", oddFeed, stories)
	}
	if got := countsOf(mustSave(t, s, oddFeed, items)); got != (counts{Unchanged: len(items)}) {
		t.Errorf("refetch: %+v, want %d unchanged", got, len(items))
	}
}

// testItemTimes: times far from now keep their order and value: before
// 1970, the zero time (an item with no date first seen at an unknown
// time), far in the future.
func testItemTimes(t *testing.T, open opener) {
	s := open(t)
	items := realItems(t, "f", 760, 7, t0)
	times := []struct {
		name            string
		published, seen time.Time
	}{
		{"1969", time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), t0},
		{"1900", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), t0},
		{"no date, no first seen", time.Time{}, time.Time{}},
		{"epoch", time.Unix(0, 0).UTC(), t0},
		{"2100 in a zone", time.Date(2100, 6, 1, 8, 0, 0, 0, time.FixedZone("", -7*3600)), t0},
		{"9999", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), t0},
		{"undated", time.Time{}, t0.Add(-time.Hour)},
	}
	for i, tm := range times {
		items[i].Published, items[i].FirstSeen = tm.published, tm.seen
	}
	mustSave(t, s, "f", items)
	for i, tm := range times {
		got, ok := mustItem(t, s, items[i].ID)
		if !ok || !got.Published.Equal(tm.published) || !got.FirstSeen.Equal(tm.seen) {
			t.Errorf("%s: stored %v, published %v, first seen %v; want %v, %v", tm.name, ok, got.Published, got.FirstSeen, tm.published, tm.seen)
		}
	}
	want := byTimeID(items)
	if got := mustPending(t, s, 0); !slices.Equal(ids(got), ids(want)) {
		t.Errorf("Pending = %v,\nwant %v", ids(got), ids(want))
	}
	if got := mustLatest(t, s); !got.Equal(times[5].published) {
		t.Errorf("Latest = %v, want %v", got, times[5].published)
	}
	var ms []aggregator.Membership
	for _, it := range items {
		ms = append(ms, found(it.ID, "s"+it.ID))
	}
	decide(t, s, t0, nil, ms...)
	var recent []aggregator.Item
	if err := s.Recent(t.Context(), time.Time{}, func(it aggregator.Item, _ aggregator.Membership) error {
		recent = append(recent, it)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(recent), ids(want)) {
		t.Errorf("Recent = %v,\nwant %v", ids(recent), ids(want))
	}
	stories := mustStories(t, s, aggregator.StoryQuery{})
	if len(stories) != len(items) {
		t.Fatalf("%d stories, want %d", len(stories), len(items))
	}
	for i, st := range stories {
		if w := want[len(want)-1-i]; st.ID != "s"+w.ID || !st.Published.Equal(w.Time()) {
			t.Errorf("story %d = %s published %v, want s%s published %v", i, st.ID, st.Published, w.ID, w.Time())
		}
	}
}

// testSameFeedTwice: two fetches of one feed in one SaveFetches are stored
// in order, as two calls would store them: the second finds the first's
// items, and its state is the one kept.
func testSameFeedTwice(t *testing.T, open opener) {
	s := open(t)
	items := realItems(t, "f", 780, 6, t0)
	edited := items[1]
	edited.Title = "Update: " + edited.Title
	edited.Normalize("f")
	first, second := state("f"), state("f")
	first.ETag, second.ETag = `"1"`, `"2"`
	res, errs := s.SaveFetches(t.Context(), []aggregator.Fetched{
		{State: first, Items: items[:4]},
		{State: second, Items: append([]aggregator.Item{items[0], edited}, items[4:]...)},
	})
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("errors %v", errs)
	}
	for i, want := range []counts{{New: 4}, {New: 2, Updated: 1, Unchanged: 1}} {
		if got := countsOf(res[i]); got != want {
			t.Errorf("fetch %d: %+v, want %+v", i, got, want)
		}
	}
	if st, _ := mustFeedState(t, s, "f"); st.ETag != `"2"` || st.TotalItems != 6 {
		t.Errorf("state: ETag %s, %d items; want \"2\", 6", st.ETag, st.TotalItems)
	}
	if got, _ := mustItem(t, s, edited.ID); got.Title != edited.Title {
		t.Errorf("title %q, want the second fetch's %q", got.Title, edited.Title)
	}
}
