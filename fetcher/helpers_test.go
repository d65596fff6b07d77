package fetcher_test

import (
	"testing"
	"time"

	"aggregator"
	"aggregator/fetcher"
)

// fixedNow is the clock of tests that check times.
var fixedNow = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// newClient returns a client for loopback tests: no host delay, no
// shared state with other tests.
func newClient(t testing.TB, o fetcher.Options) *fetcher.Client {
	t.Helper()
	if o.HostDelay == 0 {
		o.HostDelay = -1
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return fetcher.New(o)
}

func feed(url string) aggregator.Feed {
	return aggregator.Feed{Name: "test", URL: url}
}

const rssDoc = `<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
<title>Test Outlet</title>
<link>https://outlet.example/news/</link>
<language>en</language>
<ttl>90</ttl>
<item>
  <title>First story</title>
  <link>/news/first?utm_source=rss</link>
  <guid isPermaLink="false">id-1</guid>
  <description>&lt;p&gt;Summary one&lt;/p&gt;</description>
  <pubDate>Fri, 13 Mar 2026 10:00:00 +0100</pubDate>
  <category>World</category><category>World</category><category> Europe </category>
  <dc:creator>Ada Reporter</dc:creator>
  <enclosure url="img/first.jpg" type="image/jpeg" length="1"/>
</item>
<item>
  <title>Second story</title>
  <link>https://outlet.example/news/second</link>
  <description>Summary two</description>
  <pubDate>Thu, 12 Mar 2026 10:00:00 GMT</pubDate>
  <media:thumbnail url="https://cdn.example/second.jpg"/>
</item>
</channel>
</rss>`

// zeroState is the state of a feed never fetched.
var zeroState aggregator.FeedState
