-- No foreign keys from pending and memberships. PostgreSQL checks a
-- foreign key row by row, with a query and a KEY SHARE lock on the
-- referenced row (which writes its tuple header, and WAL): a first pass
-- of 80,000 items ran 240,000 such checks (pending and memberships on
-- items, memberships on clusters) and wrote 180,000 WAL records for the
-- locks alone, some 3 s of the server's 11 s of CPU. The references
-- hold without them, as in the bbolt store: every write of memberships,
-- pending rows and clusters, and every deletion of items, runs under
-- the meta lock or the feed's lock (see doc.go), SaveDecisions skips a
-- membership of an item not stored, deleteItems removes an item's
-- membership and pending row with it (what ON DELETE CASCADE did), and
-- Import checks what it loaded.

-- +goose Up
ALTER TABLE pending DROP CONSTRAINT pending_item_id_fkey;
ALTER TABLE memberships DROP CONSTRAINT memberships_item_id_fkey,
    DROP CONSTRAINT memberships_cluster_id_fkey;

-- +goose Down
DELETE FROM pending p WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.id = p.item_id);
DELETE FROM memberships m WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.id = m.item_id)
    OR NOT EXISTS (SELECT 1 FROM clusters c WHERE c.id = m.cluster_id);
ALTER TABLE pending ADD CONSTRAINT pending_item_id_fkey
    FOREIGN KEY (item_id) REFERENCES items ON DELETE CASCADE;
ALTER TABLE memberships ADD CONSTRAINT memberships_item_id_fkey
    FOREIGN KEY (item_id) REFERENCES items ON DELETE CASCADE,
    ADD CONSTRAINT memberships_cluster_id_fkey
    FOREIGN KEY (cluster_id) REFERENCES clusters;
