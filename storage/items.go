package storage

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"aggregator"
)

// Items are stored by time, not by ID: itemtime maps (time key, ID) to the
// item and memtime maps the same key to its membership, so the start-up
// walk (Recent) reads both buckets sequentially instead of seeking once per
// item. The items bucket is the ID index: ID -> time key and Hash, enough
// to find an item and to tell an unchanged refetch without decoding it.

// itemRef locates a stored item.
type itemRef struct {
	key  []byte // time key | ID: the item's key in itemtime and memtime
	hash string
}

func (r itemRef) time() time.Time { return timeFromKey(r.key) }

func encodeRef(key []byte, hash string) []byte {
	v := make([]byte, 0, timeKeyLen+len(hash))
	v = append(v, key[:timeKeyLen]...)
	return append(v, hash...)
}

// lookup finds the item with the given ID; the returned key is a copy.
// A value too short to hold a time key is damage, not absence.
func lookup(tx *bolt.Tx, id string) (itemRef, bool, error) {
	b := tx.Bucket(bucketItems)
	if b == nil {
		return itemRef{}, false, nil
	}
	return refOf(id, b.Get([]byte(id)))
}

// refOf makes the itemRef of id from its items entry v (nil: not stored).
func refOf(id string, v []byte) (itemRef, bool, error) {
	if v == nil {
		return itemRef{}, false, nil
	}
	if len(v) < timeKeyLen {
		return itemRef{}, false, fmt.Errorf("item %s: %w: index entry of %d bytes", id, errCorrupt, len(v))
	}
	key := make([]byte, 0, timeKeyLen+len(id))
	key = append(key, v[:timeKeyLen]...)
	key = append(key, id...)
	return itemRef{key: key, hash: string(v[timeKeyLen:])}, true, nil
}

// getItem reads the item with the given ID.
func getItem(tx *bolt.Tx, id string) (aggregator.Item, bool, error) {
	ref, ok, err := lookup(tx, id)
	if !ok || err != nil {
		return aggregator.Item{}, false, err
	}
	v := tx.Bucket(bucketItemTime).Get(ref.key)
	if v == nil {
		return aggregator.Item{}, false, fmt.Errorf("item %s: %w: indexed but not stored", id, errCorrupt)
	}
	it, err := decodeItem(ref.key, v)
	if err != nil {
		return aggregator.Item{}, false, fmt.Errorf("item %s: %w", id, err)
	}
	return it, true, nil
}

// putItem stores it under key (itemTimeKey(it), which the callers need
// too) and indexes it.
func putItem(tx *bolt.Tx, key []byte, it *aggregator.Item) error {
	if err := tx.Bucket(bucketItemTime).Put(key, encodeItem(key, it)); err != nil {
		return err
	}
	return tx.Bucket(bucketItems).Put([]byte(it.ID), encodeRef(key, it.Hash))
}

// getMembership reads the membership of the item with the given ID.
func getMembership(tx *bolt.Tx, itemID string) (aggregator.Membership, bool, error) {
	ref, ok, err := lookup(tx, itemID)
	if !ok || err != nil {
		return aggregator.Membership{}, false, err
	}
	return getMembershipAt(tx, ref.key)
}

func getMembershipAt(tx *bolt.Tx, key []byte) (aggregator.Membership, bool, error) {
	v := tx.Bucket(bucketMemTime).Get(key)
	if v == nil {
		return aggregator.Membership{}, false, nil
	}
	m, err := decodeMembership(key, v)
	if err != nil {
		return aggregator.Membership{}, false, fmt.Errorf("membership %s: %w", key[timeKeyLen:], err)
	}
	return m, true, nil
}

// timeFromKey is the inverse of appendTimeKey, in UTC.
func timeFromKey(k []byte) time.Time {
	sec := int64(binary.BigEndian.Uint64(k) ^ (1 << 63))
	nsec := int64(binary.BigEndian.Uint32(k[8:]))
	if sec == zeroUnix && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, nsec).UTC()
}

// zeroUnix is time.Time{}.Unix(), which appendTimeKey writes for a zero time.
var zeroUnix = time.Time{}.Unix()
