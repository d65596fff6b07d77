package publish_test

import (
	"bytes"
	"context"
	"testing"

	"aggregator/publish"
)

// TestLargeBodies serves documents bigger than any socket buffer: the
// bytes are the rendered ones, whole, and a change replaces them.
func TestLargeBodies(t *testing.T) {
	stories := realStories(t, 200, 1)
	src := &memSource{stories: stories}
	ts := newTestServer(t, src, publish.Options{})

	check := func(when string) []byte {
		t.Helper()
		var want bytes.Buffer
		if err := ts.h.Export(context.Background(), &want, "world", publish.RSS); err != nil {
			t.Fatal(err)
		}
		if want.Len() < 256<<10 {
			t.Fatalf("test feed is only %d bytes; want a large one", want.Len())
		}
		for range 2 {
			r := ts.do(t, "GET", "/world.rss")
			if r.status != 200 || !bytes.Equal(r.body, want.Bytes()) {
				t.Fatalf("%s: served %d bytes (status %d), want the %d rendered", when, len(r.body), r.status, want.Len())
			}
		}
		return want.Bytes()
	}
	first := check("first render")
	src.set(stories[:150])
	if second := check("after a change"); bytes.Equal(first, second) {
		t.Fatal("change not visible")
	}
}
