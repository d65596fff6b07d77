package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"aggregator"
)

// TestFeedsFutureDates: `feeds` says when a feed's last document had
// items dated in the future, in the table and in --json.
func TestFeedsFutureDates(t *testing.T) {
	feeds := []aggregator.Feed{{Name: "clock", URL: "https://clock.example/feed"}, {Name: "fine", URL: "https://fine.example/feed"}}
	states := map[string]aggregator.FeedState{
		"clock": {Name: "clock", LastResult: "ok", Items: 3, FutureDates: 2},
		"fine":  {Name: "fine", LastResult: "ok", Items: 3},
	}
	var table bytes.Buffer
	if err := writeFeeds(&table, feeds, states, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(table.String(), "\n")
	if !strings.Contains(lines[1], "2 items dated over a day ahead") || strings.Contains(lines[2], "dated") {
		t.Errorf("table:\n%s", table.String())
	}
	var js bytes.Buffer
	if err := writeFeeds(&js, feeds, states, true); err != nil {
		t.Fatal(err)
	}
	var row struct {
		FutureDates int `json:"future_dates"`
	}
	if err := json.Unmarshal([]byte(strings.Split(js.String(), "\n")[0]), &row); err != nil || row.FutureDates != 2 {
		t.Errorf("json %q: future_dates %d, err %v", js.String(), row.FutureDates, err)
	}
}
