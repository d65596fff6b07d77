// Package fetcher fetches and parses feeds politely: one shared HTTP
// client, conditional GET with the stored validators, compressed bodies
// capped after decompression, gofeed parsing bytes it was handed (never
// fetching itself), and a scheduler that polls each feed when it is due.
//
// The package knows nothing of storage. [Client.Fetch] takes a feed and the
// state remembered from its last fetch and returns a [Result] holding the
// new state and the parsed items; the caller stores both together.
//
// # Invariants
//
//   - Fetch never panics and always returns a Result: every failure,
//     including a panic inside the parser, becomes Result.Err with
//     Status [StatusFailed] and a state that schedules the next attempt.
//     Only a cancelled caller context leaves the state as it was given.
//   - Every request, whoever issues it (Fetch, FetchAll or the Scheduler),
//     goes through one limiter: at most Options.Concurrency in flight, at
//     most Options.PerHost per host, and Options.HostDelay between request
//     starts to one host (a host on this machine is spared the delay with
//     Options.LoopbackNoDelay). Waiting for the limiter does not count
//     against Options.Timeout.
//   - The next fetch time is a pure function of (now, state, response
//     facts): [NextFetch]. Only the jitter is random, drawn from a source
//     seeded by Options.Seed.
//
// # Conditional GET
//
// If-None-Match and If-Modified-Since carry the stored ETag and
// Last-Modified byte for byte, and only for the URL they were recorded
// for. 304 is [StatusUnchanged]; so is a 200 whose decoded body hashes
// like the last parsed one, which is then not parsed again.
//
// # Error policy
//
// Failures back off exponentially per feed (the interval doubled per
// consecutive error, capped at MaxInterval, jittered); a Retry-After on
// 429 or 503 pushes that feed, not its host, further out. 410 Gone
// disables the feed (State.Disabled, DisabledReason) until it is
// re-enabled or its configured URL changes ([Disabled]). A 301 or 308 seen
// on redirectConfirmations consecutive fetches moves State.FetchURL; 302
// and 307 are followed but never stored; loops and more than maxRedirects
// hops are errors.
//
// # Hostile servers
//
// Connect, TLS and header waits have their own bounds within the total
// Options.Timeout, which also cuts off a body trickled forever; a timeout
// error says which bound fired and after how long. gzip,
// deflate and brotli are decoded here, and Options.MaxBody holds for the
// decoded size (a compression bomb is refused after MaxBody bytes).
// Charsets come from a byte order mark, the Content-Type header or the XML
// declaration, and every document reaches gofeed as UTF-8. An HTML page is
// a [NotFeedError] naming the feed it advertises. Redirects from a public
// address to a private, loopback or link-local one are refused when
// dialled, after DNS, unless Options.AllowPrivate is set; a feed
// configured at a private address (a LAN source) keeps working.
//
// # Hostile documents
//
// Before parsing, a cheap scan refuses nesting deeper than 512 elements
// and cuts any text longer than 1 MiB (see bound), so that a document of
// MaxBody bytes costs the parser a small multiple of its size. After
// parsing, each item's text is capped per field; items with nothing to
// show or identify are dropped (Result.EmptyItems); dates more than a day
// after the fetch become the fetch time (Result.FutureDates,
// State.FutureDates); and at most Options.MaxItems items are kept, the
// newest (Result.OverMax). A body that is mostly UTF-8 keeps its UTF-8,
// broken bytes becoming U+FFFD.
package fetcher
