// Package publish turns stored stories into merged feeds and serves them.
//
// # Rendering
//
// [Render] is pure: it writes one merged feed (RSS 2.0, Atom 1.0 or JSON Feed
// 1.1) for a list of [aggregator.Story] values, with one entry per story. Its
// main invariant is identity: an entry's id is derived only from the story's
// cluster id, so when another outlet joins a story the entry keeps its id and
// readers update it in place (its updated date and its list of outlets change)
// instead of showing the story twice.
//
// Every piece of publisher HTML goes through an allowlist sanitiser
// (bluemonday) after relative links have been made absolute against the
// item's link and tracking pixels removed, so no script, style, frame, event
// handler or javascript:/data: URL reaches a subscriber.
//
// # Serving
//
// [Handler] serves every configured output in every format, an HTML page per
// output, and the subscriptions as OPML. Each output and format is rendered
// once per change of [Source.Version], compressed once (gzip, and brotli on
// demand), and then served from memory with a strong ETag, Last-Modified and
// Cache-Control, answering conditional requests with 304. Concurrent requests
// that arrive during a re-render wait for the one render in flight.
//
// On Linux, each body of 128 KiB or more is also put once, per change, in a
// sealed in-memory file (memfd) and sent from it with sendfile(2); with
// [ConnContext] set on the http.Server, the connection is corked meanwhile
// so that the headers and the body leave in full segments. Together they
// cut the CPU per response of a 200 kB feed by about a fifth on loopback
// (each alone saved nothing; scripts/bench-serve). The files of a replaced
// render are released at once, the rest by [Handler.Close]; nothing is
// ever written to disk. Smaller bodies, other systems, and bodies whose
// file could not be made are written from memory.
//
// When WebSub hubs are configured, every format advertises rel="hub" and
// rel="self", and [Handler.Ping] notifies the hubs of outputs that changed.
//
// publish is the only importer of github.com/gorilla/feeds; none of its types
// appear in this package's API.
package publish
