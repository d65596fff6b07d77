-- The first schema. See doc.go for the design; every ID and name column
-- is COLLATE "C" so that ORDER BY id is byte order, as in the bbolt store,
-- whatever the database's collation. Ordered times are (seconds since the
-- Unix epoch, nanoseconds) pairs: exact to the nanosecond, and the zero
-- time (year 1) sorts first.

-- +goose Up
CREATE TABLE meta (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- instance and cluster_seq are the ClusterStamp.
    instance      bytea   NOT NULL CHECK (octet_length(instance) = 16),
    cluster_seq   bigint  NOT NULL DEFAULT 0,
    -- cluster_reset is the sequence of the last change the cluster log
    -- cannot replay; log_from the sequence the log is complete after.
    cluster_reset bigint  NOT NULL DEFAULT 0,
    log_from      bigint  NOT NULL DEFAULT 0,
    -- clusters counts the rows of clusters, for Stats.
    clusters      bigint  NOT NULL DEFAULT 0
);
INSERT INTO meta (instance) VALUES (uuid_send(gen_random_uuid()));

CREATE TABLE feeds (
    name       text COLLATE "C" PRIMARY KEY,
    -- state is the FeedState as JSON; json, not jsonb, because jsonb
    -- refuses the \u0000 a hostile feed's title may hold.
    state      json    NOT NULL,
    -- item_count is the number of the feed's stored items, the
    -- FeedState's TotalItems.
    item_count integer NOT NULL DEFAULT 0
);

CREATE TABLE items (
    -- The length check keeps every ID within what a btree index takes,
    -- however it compresses, so a huge ID fails the same way always.
    id     text COLLATE "C" PRIMARY KEY CHECK (octet_length(id) <= 2000),
    feed   text COLLATE "C" NOT NULL,
    -- t_sec, t_nsec: Item.Time().
    t_sec  bigint  NOT NULL,
    t_nsec integer NOT NULL,
    hash   text COLLATE "C" NOT NULL,
    -- data is the whole item in the binary encoding of encode.go.
    data   bytea   NOT NULL
);
ALTER TABLE items ALTER COLUMN data SET COMPRESSION lz4;
CREATE INDEX items_time ON items (t_sec, t_nsec, id);
CREATE INDEX items_feed_time ON items (feed, t_sec, t_nsec, id);

-- pending holds the stored items not clustered yet; a table of its own so
-- that clustering deletes a small row instead of rewriting the item's.
CREATE TABLE pending (
    item_id text COLLATE "C" PRIMARY KEY REFERENCES items ON DELETE CASCADE,
    t_sec   bigint  NOT NULL,
    t_nsec  integer NOT NULL
);
CREATE INDEX pending_time ON pending (t_sec, t_nsec, item_id);

CREATE TABLE clusters (
    id             text COLLATE "C" PRIMARY KEY CHECK (octet_length(id) <= 2000),
    representative text COLLATE "C" NOT NULL,
    -- pub_sec, pub_nsec: Cluster.Published, the earliest member's time.
    pub_sec        bigint  NOT NULL,
    pub_nsec       integer NOT NULL,
    -- updated is Cluster.Updated, encoded (zone offset kept).
    updated        bytea   NOT NULL,
    -- next_pos is the pos the next member to join gets.
    next_pos       integer NOT NULL DEFAULT 0
);
CREATE INDEX clusters_published ON clusters (pub_sec DESC, pub_nsec DESC, id);

CREATE TABLE memberships (
    item_id    text COLLATE "C" PRIMARY KEY REFERENCES items ON DELETE CASCADE,
    cluster_id text COLLATE "C" NOT NULL REFERENCES clusters,
    -- pos orders a cluster's members: the order they joined.
    pos        integer NOT NULL,
    -- data is the rest of the Membership, encoded.
    data       bytea   NOT NULL
);
CREATE INDEX memberships_cluster ON memberships (cluster_id, pos);

CREATE TABLE tombstones (
    id      text COLLATE "C" PRIMARY KEY CHECK (octet_length(id) <= 2000),
    at_sec  bigint  NOT NULL,
    at_nsec integer NOT NULL,
    -- pruned tombstones (left by Prune) expire; a deletion's stay.
    pruned  boolean NOT NULL
);

CREATE TABLE cluster_log (
    seq            bigint PRIMARY KEY,
    -- expired_before is Decisions.ExpiredBefore, encoded.
    expired_before bytea  NOT NULL,
    -- items and clusters are parallel: the decisions in order.
    items          text[] COLLATE "C" NOT NULL,
    clusters       text[] COLLATE "C" NOT NULL
);

-- The saved dedupe index: a head row while there is a copy, and its bytes
-- in chunks of about 1 MiB, numbered from 0. SaveIndex replaces all of it
-- in one transaction.
CREATE TABLE saved_index_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    size      bigint  NOT NULL,
    chunks    integer NOT NULL
);
CREATE TABLE saved_index (
    n     integer PRIMARY KEY,
    chunk bytea   NOT NULL
);
-- The index is already compact binary: do not try to compress it.
ALTER TABLE saved_index ALTER COLUMN chunk SET STORAGE EXTERNAL;

-- +goose Down
DROP TABLE saved_index, saved_index_head, cluster_log, tombstones,
    memberships, clusters, pending, items, feeds, meta;
