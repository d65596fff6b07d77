// Package postgres keeps the aggregator's state in a PostgreSQL database,
// the shared store of a fleet: the same contract as package storage (the
// bbolt file, see pipeline.Store and the contract tests in
// storage/storetest), method for method, on a database several processes
// can use at once. It is the only package that imports pgx.
//
// # Invariants
//
// As in package storage, every logical write is one transaction, all or
// nothing: a fetched feed's state with its items ([DB.SaveFetches] stores
// a group of feeds in one and falls back to one per feed when it fails,
// so that one feed's failure costs the others nothing), a batch of
// clustering decisions with its cluster log record ([DB.SaveDecisions]),
// a deletion ([DB.DeleteItem], [DB.DeleteFeed]), a batch of pruned items
// ([DB.Prune]), an import ([DB.Import]). A deleted or pruned item leaves
// a tombstone; a pruned item's is renewed by fetches still listing it and
// expires otherwise.
//
// Transactions that change clusters (decisions, deletions, prunes,
// imports) lock the single meta row, whose cluster_seq they advance: they
// run one at a time across every process, in ClusterStamp order, and
// cannot deadlock with each other. A feed's fetches, deletion and pruning
// also take a transaction-level advisory lock per feed (in one order,
// before meta), so that two processes polling one feed store each item
// once, and a deletion cannot race a fetch that lists the item again;
// fetches of different feeds run side by side. A fetch that moves a
// clustered item in time can still deadlock with a decision, and
// PostgreSQL then aborts one of them, which [DB] runs again (deadlock and
// serialization failures are retried a few times).
//
// # Schema
//
// migrations/ holds the schema as numbered SQL files (see the first for
// every table and column). In short:
//
//	meta          one row: instance and cluster_seq (the ClusterStamp),
//	              cluster_reset, log_from, cluster count
//	feeds         name → FeedState (json, or gob when a string is not
//	              UTF-8) and item_count (TotalItems)
//	items         id → feed, time, hash and the item (bytea, encode.go)
//	pending       the items not clustered yet, by time
//	clusters      id → representative, Published, Updated, next_pos
//	memberships   item → cluster, pos (joining order) and the rest (bytea)
//	tombstones    id → time, pruned
//	cluster_log   seq → expiry cutoff, item and cluster IDs in order
//	saved_index   the saved dedupe index in ~1 MiB chunks, and its head row
//
// IDs and names are COLLATE "C", so that ORDER BY is byte order as in
// bbolt whatever the database's collation. Times that queries order or
// compare by are (seconds, nanoseconds) bigint/integer pairs: exact, the
// zero time first. Items and the bodies of memberships are stored whole
// in a compact binary encoding rather than column by column: timestamptz
// would round times to microseconds and drop their zone offset, which
// the bbolt store keeps, and reading a story's items then decodes one
// column per item. The columns beside the encoding are the ones the
// queries use.
//
// A membership is one row, not a copy in the item's and in the cluster's
// record as in bbolt: Cluster.Members is the cluster's rows ordered by
// pos. Foreign keys tie memberships and pending rows to their items (and
// go with them) and memberships to their clusters.
//
// # Speed
//
// Nothing costs a round trip per item. SaveFetches reads what the
// group's IDs are (stored, with which hash, tombstoned) in one pipelined
// batch, fetching an item's data only when its hash changed; decides in
// memory; writes the new items and pending rows with COPY and the rest
// (feed states, changed items, renewed tombstones) as multi-row
// statements over unnest() in one more batch. SaveDecisions and the
// deletions read every item, membership and cluster they touch in one
// batch and write in one. Stories is one query per page of clusters
// (clusters, members and items joined), walking the Published index from
// the newest end.
//
// Sessions run with jit=off (unless the URL sets it): JIT compiled a 1 ms
// Stories query for 30 ms when statistics were stale. pgx prepares each
// statement once per connection, and PostgreSQL plans a prepared
// statement anew for each run's parameters five times, then may settle on
// a generic plan that does not know them: for a keyset query with LIMIT
// $n that generic plan was a full sort (Stories went from 2 to 13 ms),
// and planning each run instead was a third of Stories' cost. So LIMITs
// are written into the statements as literals: the first pages of
// Stories and Pending then have no parameter at all and are planned once
// per connection, and the keyset queries' generic plans know their limit
// and walk their index.
//
// # Migrations: why goose
//
// The schema is versioned with github.com/pressly/goose/v3: SQL files
// embedded with embed.FS, applied at Open by goose's Provider, which
// records them in aggregator_schema_version and refuses nothing but a
// database newer than the program (checked before, as ErrSchema). goose
// is well kept, needs no global state in its Provider form, and runs
// plain SQL files a DBA can read and apply by hand. Its own Postgres
// session locker was not used: it polls pg_try_advisory_lock every few
// seconds (one second at least), so a second process opening a fresh
// database at the same time would wait for a poll; Open instead holds
// pg_advisory_lock (which blocks until the first process is done, and is
// cancelled with the context) on a connection of its own for the
// migration, under a key of its own rather than the one every goose user
// shares.
//
// # Saved index
//
// The saved dedupe index lives in the database, not beside it, so that
// any process of a fleet can load the copy another saved: SaveIndex
// replaces the head row and every chunk in one transaction, and a reader
// streams the chunks in order from one read-only snapshot.
package postgres
