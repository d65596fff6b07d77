// Package pipeline is the orchestrator: it joins the fetcher, the dedupe
// index and a store into the program's work — storing fetch results,
// clustering new items into stories, pruning, keeping the dedupe index
// saved, and answering for the stories of each output.
//
// # One owner for the goroutines
//
// [Pipeline.Run] is the daemon. Under one errgroup it runs the scheduler
// (fetcher.Scheduler, whose fetch workers hand results to one ingest
// goroutine), the clusterer and the housekeeping (pruning, saving the
// index); it returns when ctx is done and every one of them has ended.
// [Pipeline.Pass] is the one-shot pass of "aggregator fetch". Neither
// leaves a goroutine behind.
//
// # Data flow
//
// A fetch result is stored by [Store.SaveFetches]: the feed's items and
// its fetch state in one transaction, so the two never disagree. The
// ingest goroutine stores everything that queued up while it was
// committing in one call, so a pass over thousands of feeds costs tens of
// commits, not thousands, and a feed whose write fails is retried alone
// (the store's contract), costing the others nothing.
//
// New items wait as pending in the store. The clusterer takes them oldest
// first (ties: the fullest report first, then by ID), adds them to the
// in-memory dedupe index and stores the decisions with
// [Store.SaveDecisions], one transaction per batch of 4,096. Only adding
// is order-dependent: the terms of the next batch are extracted on every
// core while one is added, and a batch's decisions are stored while the
// next is added, which changes nothing of the order. So a pass
// gives the same stories whatever order its feeds answered in, and a crash
// between storing and clustering loses nothing: the next start clusters
// what is pending. The daemon waits for a lull after stores (Settle) so
// that feeds fetched together are clustered together.
//
// A pass clusters after its last fetch, not beside the fetches. An item's
// place in the order is its time, which is known only once its feed has
// answered, and any feed still in flight may bring an item older than
// everything stored so far (Item.Time is the publisher's date when the
// feed gives one); clustering what is stored meanwhile would make the stories
// depend on which feeds answered first, or have those older items rewind
// (see below) what was clustered early. What overlaps is within the
// clustering, where the order is already fixed.
//
// # Late items: rewinding
//
// Clustering is order-dependent, and a pass clusters in time order. Items
// older than what was already clustered by more than an hour (a feed
// added with its archive, an outlet that was down, a second pass over
// other feeds) make the pipeline rewind: it clusters again, on a fresh
// index, the stored items (all of them when there are at most 50,000,
// else the two windows before the late items) together with the late
// ones, oldest first, and stores what changed (see rewind.go). Passes in
// any grouping then give the stories of one pass over everything, ids
// included (TestPassesInGroups); without it they agreed on a third to
// two thirds of items. Beyond the bound, late items are clustered in
// arrival order.
//
// # Merging clusters
//
// Unless Options.NoMergeClusters, clusters that report one story but formed
// apart are merged (dedupe.Index.Consolidate) before the first item of
// each new UTC day of item time is clustered: a point set by the items,
// not by where a batch ends, so that merging keeps stories independent
// of batching, restarts and fleet leaders. Moves are stored as
// memberships of the batch (ReasonMerged) and the cluster log's replay
// repeats them (see merge.go). On by default, with the merge settings
// chosen end to end through the pipeline (README, "Merging clusters"):
// the settings chosen on the dedupe API's clusters cost headline
// precision here.
//
// # Cancellation
//
// Every long step takes a context and checks it between batches: a
// SIGTERM during a big clustering backlog stops after the batch in hand
// (a quarter of a second), one during an index rebuild after the chunk of
// items in hand. Nothing is lost: unclustered items stay pending, the
// index is only changed together with the decisions it stores, and
// results already fetched are still stored. A fetch cut short by shutdown
// stores nothing and keeps its place in the schedule.
//
// # The saved index and the cluster log
//
// The dedupe index lives in memory. A copy is saved in the store (for
// bbolt a file beside the database) with the store's ClusterStamp, and
// every batch of decisions is also appended to the store's cluster log,
// in the same transaction. A start loads the copy and replays the
// decisions made after it, in order, which gives exactly the index of
// the process that made them; only a copy the log cannot bring up to date
// (another database, a deletion since, a damaged copy) means a rebuild
// from the stored items of the window, and a rebuilt index is saved at
// once so that a crash after it replays rather than rebuilds again (a
// rebuilt index differs slightly from a grown one in its word
// statistics). The copy is rewritten only when that pays: once the items
// to replay reach a quarter of the index, and when the daemon stops.
//
// # A fleet
//
// A Store that is also a [Fleet] (storage/postgres) is shared: any
// number of daemons run on it as one, and [Pipeline.Run] becomes three
// goroutines under its errgroup. The fetcher claims due feeds from the
// store, no more than the node has free fetch slots, so that idle nodes
// take the rest; each claim is a lease, ended by storing the fetch, so a
// killed node's feeds come back by themselves, and the schedule is the
// stored one, the fleet's. Requests pass a HostGate that counts per-host
// limits across the fleet. The watcher turns the store's notifications
// into a wake-up for the clusterer and a re-render of outputs. The
// leader loop takes the fleet's leadership when it is free and then runs
// exactly what a daemon of its own runs — the clusterer (whose wave wait
// counts the fleet's leases, not local fetches) and the housekeeping —
// on an index loaded afresh from the saved copy and the cluster log.
//
// Decisions are fenced rather than trusted to the lock: every batch
// names the cluster sequence its index reflects, and the store refuses it
// if another process moved the sequence since (aggregator.ErrStaleIndex).
// A node that lost its leadership without noticing (a network partition)
// can therefore not store a decision made on an old index; the new
// leader, having replayed the log, decides on what the store holds. That
// is why a failover neither loses nor duplicates a decision, and why the
// stories stay those of one node (items clustered oldest first, in
// waves, with the rewind for late ones). The fence is on for a store of
// one process too, where it never fails.
//
// # The store
//
// [Store] holds only the methods the pipeline calls; storage (bbolt) and
// storage/postgres implement it, and storage/storetest is the contract
// both pass. The pipeline never names a store package.
package pipeline
