package storetest

import (
	"slices"
	"testing"
	"time"

	"aggregator"
)

// storyFixture stores feeds wire, tv and blog and clusters their items
// into stories s1..s5, returning the items by feed.
//
//	story  published  members (feed: item)          representative
//	s1     t0-1h      wire0, tv0, blog0             tv0
//	s2     t0-2h      tv1                           tv1
//	s3     t0-3h      wire1 (t0-3h), blog1 (t0-1h)  wire1
//	s4     t0-2h      wire2                         wire2 (ties s2: ID order)
//	s5     t0-5h      blog2                         blog2
func storyFixture(t *testing.T, s Store) map[string][]aggregator.Item {
	wire := realItems(t, "wire", 300, 3, t0)
	tv := realItems(t, "tv", 303, 2, t0)
	blog := realItems(t, "blog", 305, 3, t0)
	at := func(it *aggregator.Item, d time.Duration) { it.Published = t0.Add(-d) }
	at(&wire[0], time.Hour)
	at(&tv[0], 50*time.Minute)
	at(&blog[0], 40*time.Minute)
	at(&tv[1], 2*time.Hour)
	at(&wire[1], 3*time.Hour)
	at(&blog[1], time.Hour)
	at(&wire[2], 2*time.Hour)
	at(&blog[2], 5*time.Hour)
	mustSave(t, s, "wire", wire)
	mustSave(t, s, "tv", tv)
	mustSave(t, s, "blog", blog)
	decide(t, s, t0, map[string]string{"s1": tv[0].ID},
		found(blog[2].ID, "s5"), found(wire[1].ID, "s3"), found(tv[1].ID, "s2"), found(wire[2].ID, "s4"),
		found(wire[0].ID, "s1"), joins(tv[0].ID, "s1", wire[0].ID), joins(blog[1].ID, "s3", wire[1].ID),
		joins(blog[0].ID, "s1", wire[0].ID))
	return map[string][]aggregator.Item{"wire": wire, "tv": tv, "blog": blog}
}

// testStories: stories come newest first (Published descending, then ID),
// each with its members resolved in membership order and the
// representative set; Include keeps the stories with an included member
// and only those members, Since and Limit cut the list, as an output's
// selection does.
func testStories(t *testing.T, open opener) {
	s := open(t)
	items := storyFixture(t, s)
	only := func(feeds ...string) func(string) bool {
		return func(f string) bool { return slices.Contains(feeds, f) }
	}
	type story struct {
		id, rep string
		members []string
	}
	wire, tv, blog := items["wire"], items["tv"], items["blog"]
	s1 := story{"s1", tv[0].ID, []string{wire[0].ID, tv[0].ID, blog[0].ID}}
	s2 := story{"s2", tv[1].ID, []string{tv[1].ID}}
	s3 := story{"s3", wire[1].ID, []string{wire[1].ID, blog[1].ID}}
	s4 := story{"s4", wire[2].ID, []string{wire[2].ID}}
	s5 := story{"s5", blog[2].ID, []string{blog[2].ID}}
	for _, tc := range []struct {
		name string
		q    aggregator.StoryQuery
		want []story
	}{
		{"all", aggregator.StoryQuery{}, []story{s1, s2, s4, s3, s5}},
		{"limit", aggregator.StoryQuery{Limit: 3}, []story{s1, s2, s4}},
		{"since is inclusive", aggregator.StoryQuery{Since: t0.Add(-2 * time.Hour)}, []story{s1, s2, s4}},
		{"since after all", aggregator.StoryQuery{Since: t0}, nil},
		{"since and limit", aggregator.StoryQuery{Since: t0.Add(-3 * time.Hour), Limit: 10}, []story{s1, s2, s4, s3}},
		{"one feed's members only", aggregator.StoryQuery{Include: only("blog")},
			[]story{{"s1", tv[0].ID, []string{blog[0].ID}}, {"s3", wire[1].ID, []string{blog[1].ID}}, s5}},
		{"limit counts included stories", aggregator.StoryQuery{Include: only("tv", "blog"), Limit: 3},
			[]story{{"s1", tv[0].ID, []string{tv[0].ID, blog[0].ID}}, s2, {"s3", wire[1].ID, []string{blog[1].ID}}}},
		{"include, since, limit", aggregator.StoryQuery{Include: only("wire"), Since: t0.Add(-3 * time.Hour), Limit: 2},
			[]story{{"s1", tv[0].ID, []string{wire[0].ID}}, s4}},
		{"no feed included", aggregator.StoryQuery{Include: only("radio")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustStories(t, s, tc.q)
			var gotStories []story
			for _, st := range got {
				gotStories = append(gotStories, story{st.ID, st.Representative, memberIDs(st.Cluster)})
				if !slices.Equal(ids(st.Items), memberIDs(st.Cluster)) {
					t.Errorf("story %s: Items %v do not follow Members %v", st.ID, ids(st.Items), memberIDs(st.Cluster))
				}
				if tc.q.Include != nil {
					for _, it := range st.Items {
						if !tc.q.Include(it.Feed) {
							t.Errorf("story %s has item %s of feed %s, which is not included", st.ID, it.ID, it.Feed)
						}
					}
				}
			}
			if !slices.EqualFunc(gotStories, tc.want, func(a, b story) bool {
				return a.id == b.id && a.rep == b.rep && slices.Equal(a.members, b.members)
			}) {
				t.Errorf("got  %v\nwant %v", gotStories, tc.want)
			}
		})
	}

	// The items are resolved whole, and Published is the earliest member's
	// time, whichever founded the story.
	all := mustStories(t, s, aggregator.StoryQuery{})
	byID := make(map[string]aggregator.Story)
	for _, st := range all {
		byID[st.ID] = st
	}
	if got := byID["s1"]; len(got.Items) == 3 && !itemsEqual(got.Items[2], blog[0]) {
		t.Errorf("s1's third item = %+v,\nwant %+v", got.Items[2], blog[0])
	}
	for id, want := range map[string]time.Time{"s1": wire[0].Published, "s3": wire[1].Published, "s5": blog[2].Published} {
		if got := byID[id]; !got.Published.Equal(want) || !got.Updated.Equal(t0) {
			t.Errorf("story %s: published %v, updated %v; want %v, %v", id, got.Published, got.Updated, want, t0)
		}
	}
	if got := byID["s1"].Rep(); got.ID != tv[0].ID {
		t.Errorf("s1's Rep() = %s, want %s", got.ID, tv[0].ID)
	}
}

// testStoryIDsStable: a story keeps its ID as members join, earlier ones
// included, and as a member's date is corrected; Published follows the
// earliest member.
func testStoryIDsStable(t *testing.T, open opener) {
	s := open(t)
	items := realItems(t, "f", 320, 4, t0)
	items[0].Published = t0.Add(-time.Hour)
	items[1].Published = t0.Add(-3 * time.Hour)
	items[2].Published = t0.Add(-30 * time.Minute)
	items[3].Published = t0.Add(-2 * time.Hour)
	mustSave(t, s, "f", items)
	decide(t, s, t0, nil, found(items[0].ID, items[0].ID))
	id := items[0].ID
	steps := []struct {
		name      string
		do        func()
		published time.Time
		members   []string
	}{
		{"founded", func() {}, items[0].Published, []string{items[0].ID}},
		{"an earlier report joins", func() {
			decide(t, s, t0.Add(time.Minute), nil, joins(items[1].ID, id, items[0].ID))
		}, items[1].Published, []string{items[0].ID, items[1].ID}},
		{"a later report joins", func() {
			decide(t, s, t0.Add(2*time.Minute), nil, joins(items[2].ID, id, items[0].ID))
		}, items[1].Published, []string{items[0].ID, items[1].ID, items[2].ID}},
		{"the earliest report is redated", func() {
			it := items[1]
			it.Published = t0.Add(-20 * time.Minute)
			it.Summary += " (corrected date)"
			it.Normalize("f")
			if res := mustSave(t, s, "f", []aggregator.Item{it}); len(res.Updated) != 1 {
				t.Fatalf("redated item: %d updated, want 1", len(res.Updated))
			}
		}, items[0].Published, []string{items[0].ID, items[1].ID, items[2].ID}},
		{"another story's report moves in", func() {
			decide(t, s, t0.Add(3*time.Minute), nil, found(items[3].ID, "other"))
			decide(t, s, t0.Add(4*time.Minute), nil, joins(items[3].ID, id, items[0].ID))
		}, items[3].Published, []string{items[0].ID, items[1].ID, items[2].ID, items[3].ID}},
	}
	for _, step := range steps {
		step.do()
		got := mustStories(t, s, aggregator.StoryQuery{})
		if len(got) != 1 {
			t.Errorf("%s: %d stories %v, want 1", step.name, len(got), storyIDs(got))
			continue
		}
		if got[0].ID != id || !got[0].Published.Equal(step.published) || !slices.Equal(memberIDs(got[0].Cluster), step.members) {
			t.Errorf("%s: story %s published %v with %v;\nwant %s published %v with %v", step.name,
				got[0].ID, got[0].Published, memberIDs(got[0].Cluster), id, step.published, step.members)
		}
	}
}
