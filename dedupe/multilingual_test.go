package dedupe_test

import (
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"aggregator"
	"aggregator/dedupe"
	"aggregator/dedupe/score"
)

// TestMultilingual clusters testdata/multilingual.jsonl: reports written
// for this test in Spanish, German, French, Russian and Japanese, several
// outlets per event, with unrelated items of the same days, and one event
// (a volcano's eruption) reported in three languages, labelled as one
// story per language. Every same-language story must end in one cluster,
// and no cluster may hold two stories: not unrelated items of one
// language, nor reports in two languages that share a name. It runs on
// the items alone and mixed into real English headlines moved to the same
// days (which must not merge with them either).
func TestMultilingual(t *testing.T) {
	ml, english := multilingualStream(t)
	tests := []struct {
		name  string
		items []score.Item
	}{
		{"alone", ml},
		{"among English headlines", append(append([]score.Item(nil), english...), ml...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := make([]aggregator.Item, len(tt.items))
			for i, it := range tt.items {
				items[i] = it.Feed()
			}
			ms := dedupe.New(dedupe.Options{}).AddBatch(items)
			clusterOf := map[string]string{} // labelled ID → cluster
			stories := map[string]map[string]bool{}
			for i, it := range tt.items {
				clusterOf[it.ID] = ms[i].Cluster
				if stories[ms[i].Cluster] == nil {
					stories[ms[i].Cluster] = map[string]bool{}
				}
				stories[ms[i].Cluster][it.Story] = true
			}
			byStory := map[string]map[string]bool{}
			for _, it := range ml {
				if byStory[it.Story] == nil {
					byStory[it.Story] = map[string]bool{}
				}
				byStory[it.Story][clusterOf[it.ID]] = true
			}
			for story, cls := range byStory {
				if len(cls) != 1 {
					t.Errorf("story %s split over %d clusters", story, len(cls))
				}
			}
			for _, it := range ml {
				if s := stories[clusterOf[it.ID]]; len(s) > 1 {
					t.Errorf("%s %q is in a cluster of stories %s", it.ID, it.Title, sortedKeys(s))
				}
			}
		})
	}
}

func sortedKeys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// multilingualStream is testdata/multilingual.jsonl and 1,500 real English
// headlines moved to the same days, their stories prefixed "en-".
func multilingualStream(t *testing.T) (ml, english []score.Item) {
	t.Helper()
	f, err := os.Open("testdata/multilingual.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ml, err = score.Load(f); err != nil {
		t.Fatal(err)
	}
	english = loadSet(t, "dev.jsonl")[:1500]
	day := time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)
	for i := range english {
		english[i].Published = day.Add(time.Duration(i) * 48 * time.Hour / time.Duration(len(english)))
		english[i].Story = "en-" + english[i].Story
	}
	return ml, english
}
