package dedupe

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"aggregator"
)

func BenchmarkExtractTmp(b *testing.B) {
	var items []aggregator.Item
	for _, f := range []string{"dev.jsonl", "dev-rich.jsonl"} {
		data, _ := os.ReadFile("/work/shared/data/dedupe/" + f)
		for _, l := range strings.Split(string(data), "\n") {
			var x struct{ Title, Summary, Source string }
			if json.Unmarshal([]byte(l), &x) == nil {
				items = append(items, aggregator.Item{Title: x.Title, Summary: x.Summary, Feed: x.Source})
			}
		}
	}
	o := Options{}.withDefaults()
	var sc scratch
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		extract(&o, items[i%len(items)], &sc)
		i++
	}
}
