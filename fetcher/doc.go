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
//   - Fetch never panics and never returns without a Result: every failure,
//     including a panic inside the parser, becomes Result.Err with
//     Status [StatusFailed] and a state that schedules the next attempt.
//   - Every request, whoever issues it (Fetch, FetchAll or the Scheduler),
//     goes through one limiter: at most Options.Concurrency in flight, at
//     most Options.PerHost per host, and Options.HostDelay between request
//     starts to one host.
//   - The next fetch time is a pure function of (now, state, response
//     facts): [NextFetch]. Only the jitter is random, drawn from a seeded
//     source.
//   - Redirects from a public address to a private, loopback or link-local
//     one are refused when the connection is dialled, after DNS, unless
//     Options.AllowPrivate is set. A feed configured with a private address
//     keeps working.
package fetcher
