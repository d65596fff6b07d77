package storage_test

import (
	"context"
	"testing"

	"aggregator"
)

func TestPutFeedStates(t *testing.T) {
	db := mustOpenDB(t)
	states := []aggregator.FeedState{{Name: "a", ETag: `"1"`, TotalItems: 99}, {Name: "b", LastError: "boom"}}
	if err := db.PutFeedStates(context.Background(), states); err != nil {
		t.Fatal(err)
	}
	got, err := db.FeedStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got["a"].ETag != `"1"` || got["b"].LastError != "boom" {
		t.Errorf("got %+v", got)
	}
	if got["a"].TotalItems != 0 {
		t.Errorf("TotalItems = %d, want the stored count (0), not the caller's", got["a"].TotalItems)
	}
	if err := db.PutFeedStates(context.Background(), []aggregator.FeedState{{Name: ""}}); err == nil {
		t.Error("an empty name must be refused")
	}
}
