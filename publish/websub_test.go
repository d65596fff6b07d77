package publish_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/mmcdole/gofeed"

	"aggregator/publish"
)

// hub is a WebSub hub that records publish notifications.
type hub struct {
	*httptest.Server
	mu     sync.Mutex
	topics []string
	status int
}

func newHub(t *testing.T) *hub {
	h := &hub{status: http.StatusNoContent}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("hub got %s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		}
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		if r.PostForm.Get("hub.mode") != "publish" {
			t.Errorf("hub.mode: got %q, want publish", r.PostForm.Get("hub.mode"))
		}
		h.mu.Lock()
		h.topics = append(h.topics, r.PostForm.Get("hub.url"))
		status := h.status
		h.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hub) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	got := h.topics
	h.topics = nil
	slices.Sort(got)
	return got
}

func TestWebSubLinks(t *testing.T) {
	hb := newHub(t)
	ts := newTestServer(t, &memSource{stories: goldenStories(t)}, publish.Options{Hubs: []string{hb.URL + "/hub"}})
	for _, f := range []string{"rss", "atom", "json"} {
		t.Run(f, func(t *testing.T) {
			body := ts.do(t, "GET", "/world."+f).body
			self := ts.URL + "/world." + f
			switch f {
			case "json":
				feed, err := gofeed.NewParser().ParseString(string(body))
				if err != nil {
					t.Fatal(err)
				}
				if feed.FeedLink != self {
					t.Errorf("feed_url: got %q, want %q", feed.FeedLink, self)
				}
				if !bytes.Contains(body, []byte(`"type": "WebSub"`)) || !bytes.Contains(body, []byte(`"url": "`+hb.URL+`/hub"`)) {
					t.Errorf("no WebSub hub in JSON Feed hubs")
				}
			default:
				for _, want := range []string{`href="` + self + `" rel="self"`, `href="` + hb.URL + `/hub" rel="hub"`} {
					if !bytes.Contains(body, []byte(want)) {
						t.Errorf("no link %s", want)
					}
				}
			}
		})
	}
	// Without hubs there is no rel="hub".
	plain := newTestServer(t, &memSource{stories: goldenStories(t)}, publish.Options{})
	for _, f := range []string{"rss", "atom", "json"} {
		if body := plain.do(t, "GET", "/world."+f).body; bytes.Contains(body, []byte(`rel="hub"`)) || bytes.Contains(body, []byte("WebSub")) {
			t.Errorf("%s advertises a hub though none is configured", f)
		}
	}
}

func TestWebSubPing(t *testing.T) {
	hb := newHub(t)
	stories := goldenStories(t)
	src := &memSource{stories: stories[1:]}
	ts := newTestServer(t, src, publish.Options{Hubs: []string{hb.URL + "/hub"}})
	ctx := context.Background()
	topics := func(outputs ...string) []string {
		var out []string
		for _, o := range outputs {
			for _, f := range []string{"atom", "json", "rss"} {
				out = append(out, ts.URL+"/"+o+"."+f)
			}
		}
		slices.Sort(out)
		return out
	}

	if err := ts.h.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := hb.take(), topics("all", "world"); !slices.Equal(got, want) {
		t.Fatalf("first ping: got %v, want %v", got, want)
	}
	if err := ts.h.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if got := hb.take(); len(got) != 0 {
		t.Fatalf("ping without a change notified %v", got)
	}
	// A stored change that leaves the output as it was pings nobody.
	src.set(stories[1:])
	if err := ts.h.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if got := hb.take(); len(got) != 0 {
		t.Fatalf("ping after a no-op change notified %v", got)
	}
	// A failing hub is retried on the next ping.
	src.set(stories)
	hb.mu.Lock()
	hb.status = http.StatusServiceUnavailable
	hb.mu.Unlock()
	if err := ts.h.Ping(ctx); err == nil {
		t.Fatal("ping to a failing hub: got nil error")
	}
	hb.take()
	hb.mu.Lock()
	hb.status = http.StatusAccepted
	hb.mu.Unlock()
	if err := ts.h.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := hb.take(), topics("all", "world"); !slices.Equal(got, want) {
		t.Fatalf("retry after failure: got %v, want %v", got, want)
	}
	// Every topic is a URL the server answers with 200.
	for _, topic := range topics("world") {
		u, _ := url.Parse(topic)
		if r := ts.do(t, "GET", u.Path); r.status != 200 {
			t.Errorf("topic %s: status %d", topic, r.status)
		}
	}
}
