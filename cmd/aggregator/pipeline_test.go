package main

import (
	"slices"
	"testing"
	"time"

	"aggregator"
)

// TestClusterOrder: a pass clusters oldest first, and among reports of
// one time the fullest first, then by ID.
func TestClusterOrder(t *testing.T) {
	day := time.Date(2014, 3, 11, 12, 0, 0, 0, time.UTC)
	items := []aggregator.Item{
		{ID: "b", Title: "Short", Published: day},
		{ID: "c", Title: "Later but long", Summary: "A much longer lead paragraph than any other", Published: day.Add(time.Hour)},
		{ID: "a", Title: "Short", Published: day},
		{ID: "d", Title: "Fuller report", Summary: "With its lead paragraph", Published: day},
	}
	slices.SortFunc(items, clusterOrder)
	var got []string
	for _, it := range items {
		got = append(got, it.ID)
	}
	if want := []string{"d", "a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}
