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
//	feeds         name → FeedState (state_bin, itemcodec's layout; older
//	              rows json, or gob), item_count (TotalItems), and the claim columns
//	              (next_fetch, disabled, lease_node, lease_until)
//	items         id → feed, time, hash and the item (bytea, encode.go)
//	pending       the items not clustered yet, by time
//	clusters      id → representative, Published, Updated, next_pos
//	memberships   item → cluster, pos (joining order) and the rest (bytea)
//	tombstones    id → time, pruned
//	cluster_log   seq → expiry cutoff, item and cluster IDs in order
//	saved_index   the saved dedupe index in ~1 MiB chunks, and its head row
//	fetch_hosts   host → next_start; fetch_slots (host, slot) → lease
//	fleet_changes pending, stories → count of changes (see Fleet)
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
// pos. No foreign keys tie memberships and pending rows to their items
// or memberships to their clusters: PostgreSQL checks each row with a
// query and a row lock, which cost a first pass more than storing the
// rows (migrations/00006_no_foreign_keys.sql). The writers keep the
// references instead, under the locks below: SaveDecisions stores no
// membership of an item not stored and writes a cluster before the
// memberships naming it, deletions take an item's membership and
// pending row with it, and Import checks what it loaded.
//
// # Speed
//
// Nothing costs a round trip per item, nor, on a node that fetches many
// feeds of one host without a delay, per fetch: a released fetch slot is
// reused, and the node's requests waiting for the host ask for their
// slots in one call (hostslots.go). SaveFetches reads what the
// group's IDs are (stored, with which hash, tombstoned) in one pipelined
// batch, fetching an item's data only when its hash changed; decides in
// memory; writes the new items and pending rows with COPY and the rest
// (feed states, changed items, renewed tombstones) as multi-row
// statements over unnest() in one more batch. SaveDecisions and the
// deletions read the items, memberships and clusters they touch in one
// batch (every member of a cluster only when one leaves it) and write in
// one. Stories is one query per page of clusters
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
// # Fleet
//
// [DB] implements pipeline.Fleet, so that several daemons on one database
// work as one; every time in it is the database's clock (clock_timestamp
// read in the statement), so that nodes whose clocks differ agree.
//
// Feeds are leased. feeds carries, beside the state, the columns a claim
// filters on (next_fetch, disabled, copied from the state by every write
// of it; lease_node, lease_until), and [DB.ClaimFeeds] is one statement:
// SELECT ... FOR UPDATE SKIP LOCKED LIMIT n of the due, unleased feeds,
// and an UPDATE of those rows setting the lease. SKIP LOCKED lets nodes
// claim side by side rather than queue on each other's rows, and a row
// another node leased in the meantime is checked again as that node left
// it, so no feed is leased twice. A lease is no more than a time: a node
// killed with kill -9 leaves leases that end by themselves, and its feeds
// are claimed again then. Storing a fetch ends the lease only of the node
// the state names (FeedState.Node): a node that stalled past its lease
// must not end the lease of the node that claimed the feed since. Items
// are stored exactly once whatever the leases do, by ID under the feed's
// advisory lock, as for any two writers.
//
// Politeness is fleet-wide: [DB.AcquireHost] grants one of a host's
// perHost slots (fetch_slots, each leased with a token) under the host's
// row lock in fetch_hosts, whose next_start keeps starts delay apart; the
// plpgsql function fleet_acquire_host_slots (fleet_acquire_host before
// migration 8, which granted one slot a call) does it in one round trip, reading
// the clock after the lock so that a grant that waited still keeps the
// gap. The gap is counted from the server's answer, not the grant: a
// grant holds the host (hold_token) until its node reports that the
// answer began (fleet_host_sent, from the fetcher's
// GotFirstResponseByte), and only then is next_start set delay after
// that moment. A server's handler starts after the grant by the trip
// back to the node, its dial and the server's own accept, all of which
// vary: spaced by grant, two requests reached a server a fifth of the
// delay apart on a loaded machine, and spaced from the request's write,
// a request that waited in the server's accept queue still came within
// a millisecond of the next. Its first answering byte is the first
// moment the server has certainly begun, so spacing from it holds at
// the server whatever the delays. A
// refused caller sleeps what the database says is left (the next start,
// the first slot's lease end, or about the delay while a send is
// awaited), a little at most, and tries again. A killed node's slots and
// holds come back when their leases end; a release frees its slot, and
// ends a hold no send ended, only while its token still holds them.
//
// One node clusters: [DB.Lead] holds a session advisory lock on a
// connection of its own. Session, because the lock must live exactly as
// long as the process's hold on the database: PostgreSQL drops it when
// the session ends, which a kill -9 (the socket closes) or a broken
// network (the server's keepalive, or the leader's own check giving up)
// brings about, and the next poll of a waiting node takes over. Not
// pooled, because a pooled session would carry the lock to whatever
// borrowed it next. The leader checks its lock every half second and
// ends its lost context when the check fails; until then a leader that
// lost without knowing is fenced: it saves decisions with
// Decisions.Fenced, checked against the cluster sequence under the meta
// lock, and its stale batch is refused.
//
// Word of changes comes by LISTEN/NOTIFY: writes that store new items,
// or change stories, bump their row of fleet_changes as their last
// statement and pg_notify the new count, both of which take effect at
// commit. [DB.Watch] listens on a connection of its own, skips its own
// DB's notifications, and compares the counts with what it heard every
// Options.WatchCheck and after each reconnection: a notification lost
// with a connection is caught there. A notifying commit holds the
// counter's row, and PostgreSQL's notification queue lock, for the
// commit only; fetches that store new items therefore commit one at a
// time, which their commit, not their work, bounds.
//
// # Saved index
//
// The saved dedupe index lives in the database, not beside it, so that
// any process of a fleet can load the copy another saved: SaveIndex
// replaces the head row and every chunk in one transaction, and a reader
// streams the chunks in order from one read-only snapshot.
package postgres
