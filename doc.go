// Package aggregator holds the domain types shared by every stage of the
// feed aggregator: the feeds it polls ([Feed], [FeedState]), the items they
// publish ([Item]), the stories those items are grouped into ([Cluster],
// [Membership], [Story]) and the merged feeds it republishes ([Output]).
//
// The stages live in sub-packages that import this one and never each other:
// fetcher (HTTP and parsing), dedupe (clustering), storage (bbolt) and
// publish (rendering and serving). cmd/aggregator wires them together.
//
// This package imports only the standard library, so that every stage can
// agree on these types without agreeing on anything else.
package aggregator
