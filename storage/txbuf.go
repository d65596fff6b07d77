package storage

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"aggregator"
)

// txBuf is scratch space for a write transaction that stores a
// membership per item, thousands in one transaction (saveClusters). A
// bbolt Get makes a new cursor, and allocates its path down the tree,
// every time: txBuf seeks with cursors it keeps instead. And bbolt
// requires the keys and values given to Put to stay valid until the
// transaction ends, so they cannot share one buffer: txBuf cuts them from
// a few large blocks instead of allocating each. A txBuf lives and dies
// with its transaction.
type txBuf struct {
	items, mem *bolt.Cursor // on the items and memtime buckets; nil when missing
	key        []byte       // a lookup key, reused at once
	free       []byte       // the rest of the current block
}

// txBlock is the size of a txBuf block: some 400 memberships with their
// keys.
const txBlock = 64 << 10

func newTxBuf(tx *bolt.Tx) *txBuf {
	var b txBuf
	if bk := tx.Bucket(bucketItems); bk != nil {
		b.items = bk.Cursor()
	}
	if bk := tx.Bucket(bucketMemTime); bk != nil {
		b.mem = bk.Cursor()
	}
	return &b
}

// take returns an empty slice with room for n bytes, valid until the
// transaction ends and shared with nothing else.
func (b *txBuf) take(n int) []byte {
	if n > len(b.free) {
		if n > txBlock/16 {
			return make([]byte, 0, n)
		}
		b.free = make([]byte, txBlock)
	}
	out := b.free[:0:n]
	b.free = b.free[n:]
	return out
}

// lookup is lookup through b: the item's key comes from b's blocks, and
// its hash is left empty (saving a membership does not read it).
func (b *txBuf) lookup(id string) (itemRef, bool, error) {
	if b.items == nil {
		return itemRef{}, false, nil
	}
	b.key = append(b.key[:0], id...)
	v := cursorGet(b.items, b.key)
	if v == nil {
		return itemRef{}, false, nil
	}
	if len(v) < timeKeyLen {
		return itemRef{}, false, fmt.Errorf("item %s: %w: index entry of %d bytes", id, errCorrupt, len(v))
	}
	key := append(b.take(timeKeyLen+len(id)), v[:timeKeyLen]...)
	return itemRef{key: append(key, id...)}, true, nil
}

// membershipAt is getMembershipAt through b.
func (b *txBuf) membershipAt(key []byte) (m aggregator.Membership, ok bool, err error) {
	if b.mem == nil {
		return m, false, nil
	}
	v := cursorGet(b.mem, key)
	if v == nil {
		return m, false, nil
	}
	if m, err = decodeMembership(key, v); err != nil {
		return m, false, fmt.Errorf("membership %s: %w", key[timeKeyLen:], err)
	}
	return m, true, nil
}

// cursorGet is Bucket.Get through a cursor the caller keeps: the value
// under key, nil when there is none or key names a nested bucket. Seek
// repositions c, so Puts in between do no harm.
func cursorGet(c *bolt.Cursor, key []byte) []byte {
	k, v := c.Seek(key)
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}
