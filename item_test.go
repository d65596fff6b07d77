package aggregator_test

import (
	"testing"
	"time"

	"aggregator"
)

func TestCanonicalURL(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"lower-cases scheme and host", "HTTPS://News.Example.COM/World/Story", "https://news.example.com/World/Story"},
		{"drops fragment", "https://a.example/x#comments", "https://a.example/x"},
		{"drops utm and click ids", "https://a.example/x?utm_source=rss&utm_medium=feed&id=7&fbclid=abc&gclid=z", "https://a.example/x?id=7"},
		{"sorts the query", "https://a.example/x?b=2&a=1", "https://a.example/x?a=1&b=2"},
		{"drops default port", "http://a.example:80/x", "http://a.example/x"},
		{"keeps other ports", "http://a.example:8080/x", "http://a.example:8080/x"},
		{"empty path is /", "https://a.example", "https://a.example/"},
		{"only tracking params leaves no ?", "https://a.example/x?utm_campaign=c", "https://a.example/x"},
		{"blank", "  ", ""},
		{"not http is kept", "urn:uuid:1234", "urn:uuid:1234"},
		{"drops credentials", "https://user:pw@a.example/x", "https://a.example/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := aggregator.CanonicalURL(tt.in); got != tt.want {
				t.Errorf("CanonicalURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestItemIdentity(t *testing.T) {
	norm := func(it aggregator.Item) aggregator.Item { it.Normalize("feed"); return it }
	guid := norm(aggregator.Item{GUID: " g-1 ", URL: "https://a.example/x"})
	if got := guid.Identity(); got != "guid:g-1" {
		t.Errorf("GUID item identity = %q", got)
	}
	link := norm(aggregator.Item{URL: "https://A.example/x?utm_source=y"})
	if got := link.Identity(); got != "url:https://a.example/x" {
		t.Errorf("link item identity = %q", got)
	}
	a := norm(aggregator.Item{Title: "t", Summary: "s"})
	b := norm(aggregator.Item{Title: "t", Summary: "s"})
	c := norm(aggregator.Item{Title: "t", Summary: "other"})
	if a.ID != b.ID || a.ID == c.ID {
		t.Errorf("content-hash identity: same text %s/%s, other text %s", a.ID, b.ID, c.ID)
	}
	other := aggregator.Item{GUID: "g-1"}
	other.Normalize("another feed")
	if other.ID == guid.ID {
		t.Error("the same GUID in two feeds must be two stored items (clustered together, not merged)")
	}
	if len(guid.ID) != 20 {
		t.Errorf("ID %q is not 20 hex digits", guid.ID)
	}
	if guid.ID[:4] != norm(aggregator.Item{GUID: "g-2"}).ID[:4] {
		t.Errorf("items of one feed must share the ID prefix: %s, %s", guid.ID, norm(aggregator.Item{GUID: "g-2"}).ID)
	}
}

func TestItemTime(t *testing.T) {
	seen := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pub := seen.Add(-time.Hour)
	if got := (aggregator.Item{FirstSeen: seen}).Time(); !got.Equal(seen) {
		t.Errorf("undated item time = %v, want first seen", got)
	}
	if got := (aggregator.Item{FirstSeen: seen, Published: pub}).Time(); !got.Equal(pub) {
		t.Errorf("dated item time = %v, want published", got)
	}
}

func TestOutputIncludes(t *testing.T) {
	f := aggregator.Feed{Name: "bbc", Tags: []string{"world", "europe"}}
	tests := []struct {
		out  aggregator.Output
		want bool
	}{
		{aggregator.Output{}, true},
		{aggregator.Output{Tags: []string{"europe"}}, true},
		{aggregator.Output{Tags: []string{"tech"}}, false},
		{aggregator.Output{Feeds: []string{"bbc"}}, true},
		{aggregator.Output{Tags: []string{"tech"}, Feeds: []string{"bbc"}}, true},
	}
	for _, tt := range tests {
		if got := tt.out.Includes(f); got != tt.want {
			t.Errorf("%+v.Includes(bbc) = %v, want %v", tt.out, got, tt.want)
		}
	}
}
