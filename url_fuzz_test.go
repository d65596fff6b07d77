package aggregator_test

import (
	"net/url"
	"strings"
	"testing"

	"aggregator"
)

// FuzzCanonicalURL: canonicalising is idempotent (a canonical link is its
// own canonical form, so stored keys stay stable), and an http(s) result
// parses again, without fragment or user info unless it is the link as
// published (one without a host is kept so).
func FuzzCanonicalURL(f *testing.F) {
	for _, s := range []string{
		"https://Example.COM:443/a/b?utm_source=x&b=2&a=1#frag",
		"http://user:pw@host.example:80",
		"HTTP://host.example./path?fbclid=1",
		"https://host.example/?q=a+b&q=%20c",
		"https://host.example/%7Euser/a%2Fb",
		"javascript:alert(1)",
		"//host.example/feed",
		"https://[::1]:8080/x?",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c := aggregator.CanonicalURL(raw)
		if again := aggregator.CanonicalURL(c); again != c {
			t.Fatalf("not idempotent: %q -> %q -> %q", raw, c, again)
		}
		if !strings.HasPrefix(c, "http://") && !strings.HasPrefix(c, "https://") {
			return
		}
		u, err := url.Parse(c)
		if err != nil {
			t.Fatalf("%q -> %q, which does not parse: %v", raw, c, err)
		}
		if (u.Fragment != "" || u.User != nil) && c != strings.TrimSpace(raw) {
			t.Fatalf("%q -> %q keeps a fragment or user info", raw, c)
		}
	})
}
