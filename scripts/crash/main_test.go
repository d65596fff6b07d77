package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"aggregator/internal/shareddata"
)

// TestCrashShort is the short version of the crash script for CI: five
// kills (each kind of trial, then two more) on the title + lead set with
// a small archive, every check of the full run. It fails on any
// violation.
func TestCrashShort(t *testing.T) {
	data, err := shareddata.Path("dedupe", "dev-rich.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	// Building the binary may take a while on a cold cache; the trials
	// themselves take some 20 s.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	res, err := run(ctx, config{kills: 5, seed: 12, data: data, archive: 4000, inTurn: true, out: &out})
	t.Logf("%s\n(%s)", out.String(), time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if res.trials != 5 {
		t.Errorf("%d trials ran, want 5", res.trials)
	}
	for _, v := range res.violations {
		t.Error(v)
	}
}
