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
// When WebSub hubs are configured, every format advertises rel="hub" and
// rel="self", and [Handler.Ping] notifies the hubs of outputs that changed.
//
// publish is the only importer of github.com/gorilla/feeds; none of its types
// appear in this package's API.
package publish
