package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aggregator"
	"aggregator/internal/pgtest"
	"aggregator/pipeline"
	"aggregator/storage"
	"aggregator/storage/postgres"
)

// TestHealthzDegraded: while the store's last write failed (here a file
// at its size limit, as on a full disk), /healthz says "degraded" with
// 503 and the error; once a write commits again it says "ok".
func TestHealthzDegraded(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "full.db"), storage.Options{NoSync: true, MaxSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check := func(wantCode int, wantStatus string) {
		t.Helper()
		rec := httptest.NewRecorder()
		healthz(context.Background(), rec, db, pipeline.New(db, pipeline.Options{}))
		var body struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if rec.Code != wantCode || body.Status != wantStatus {
			t.Fatalf("got %d %q (%s), want %d %q", rec.Code, body.Status, body.Error, wantCode, wantStatus)
		}
		if wantStatus == "degraded" && !strings.Contains(body.Error, "the last write failed") {
			t.Errorf("error %q does not say a write failed", body.Error)
		}
	}
	check(http.StatusOK, "ok")
	text := strings.Repeat("A long enough lead paragraph to fill pages quickly. ", 40)
	failed := false
	for f := 0; f < 1000 && !failed; f++ {
		name := fmt.Sprintf("feed%03d", f)
		var items []aggregator.Item
		for i := range 20 {
			it := aggregator.Item{GUID: fmt.Sprint(i), Title: "Item", Summary: text, Published: time.Unix(int64(i), 0), FirstSeen: time.Unix(int64(i), 0)}
			it.Normalize(name)
			items = append(items, it)
		}
		_, err := db.SaveFetch(context.Background(), aggregator.FeedState{Name: name, URL: "http://127.0.0.1/" + name}, items)
		failed = err != nil
	}
	if !failed {
		t.Fatal("the file never filled up")
	}
	check(http.StatusServiceUnavailable, "degraded")
	if err := db.PutFeedState(context.Background(), aggregator.FeedState{Name: "small", URL: "http://127.0.0.1/small"}); err != nil {
		t.Fatal(err)
	}
	check(http.StatusOK, "ok")
}

// TestHealthzFleet: on a shared store /healthz names the node and says
// whether it is the fleet's clusterer and what leases it holds; on a
// store of one process there is no fleet object.
func TestHealthzFleet(t *testing.T) {
	url := pgtest.NewDatabase(t)
	db, err := openPostgres(t.Context(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := pipeline.New(db, pipeline.Options{Node: "node-a"})
	rec := httptest.NewRecorder()
	healthz(t.Context(), rec, db, p)
	var body struct {
		Status string `json:"status"`
		Fleet  *struct {
			Node      string `json:"node"`
			Leader    bool   `json:"leader"`
			Leases    int    `json:"leases"`
			AllLeases int    `json:"all_leases"`
		} `json:"fleet"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Status != "ok" || body.Fleet == nil || body.Fleet.Node != "node-a" || body.Fleet.Leader {
		t.Fatalf("healthz %s: want ok and node-a, not leading (not running)", rec.Body)
	}
	if _, _, err := db.(pipeline.Fleet).ClaimFeeds(t.Context(), "node-a", []string{"x", "y"}, time.Minute, 10); err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	healthz(t.Context(), rec, db, p)
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Fleet.Leases != 2 || body.Fleet.AllLeases != 2 {
		t.Errorf("healthz %s: want 2 leases of the node's and the fleet's", rec.Body)
	}

	bolt, err := storage.Open(filepath.Join(t.TempDir(), "one.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	rec = httptest.NewRecorder()
	healthz(t.Context(), rec, bolt, pipeline.New(bolt, pipeline.Options{}))
	if strings.Contains(rec.Body.String(), `"fleet"`) {
		t.Errorf("a store of one process reports a fleet: %s", rec.Body)
	}
}
