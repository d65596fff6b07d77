package postgres

import (
	"context"
	"sync"
	"time"
)

// Reusing fetch slots. Each grant of AcquireHost is a call of
// fleet_acquire_host under the host's row lock, and each release a
// DELETE: two committed transactions per request, which every node's
// requests to one host take in turn. On 2,000 feeds of one host that
// all answer 304 they were most of what PostgreSQL did in the pass
// (4,000 commits against some 150 for storing the fetches) and most of
// its wall time (16 fetches queued on one row lock). With
// Options.SlotReuse a released slot of a host with no delay stays this
// process's for slotIdle, and the next request to the host on this node
// takes it without asking the database: a pass over one host costs a
// grant per slot, not per request.
//
// The limits hold as before. The slot stays leased in fetch_slots to the
// same node and token, so no other node can be granted it while it is
// kept or reused, and at most perHost requests are in flight across the
// fleet. Only hosts without a delay are reused: with a delay each start
// must be recorded in the database (fleet_host_sent) to space the next.
// A slot is reused only while at least SlotReuse of its lease is left,
// counted from before the grant was asked for (the database granted it
// later, so its lease ends later still); with SlotReuse at the fetch
// timeout, a request on a reused slot ends within the lease as one on a
// fresh slot does. A kept slot nobody takes is freed after slotIdle, and
// Close frees the rest, so another node waits at most about one of its
// polls (hostPollMax) longer for a slot this node no longer needs. What
// changes is fairness, not the limit: a node with a steady stream of
// requests to one host keeps its slots, until their leases run down to
// SlotReuse, rather than competing for each one anew.

// slotIdle is how long a released slot is kept for this process's next
// request to its host before it is freed.
const slotIdle = 50 * time.Millisecond

// idleSlot is a granted slot kept for reuse.
type idleSlot struct {
	node, host string
	slot       int32
	token      int64
	at         time.Time // when the database granted it, by its clock
	leaseEnd   time.Time // when its lease ends at the earliest, by this process's clock
	timer      *time.Timer
}

type hostNode struct{ host, node string }

// idleSlots are the slots kept for reuse.
type idleSlots struct {
	reuse time.Duration // Options.SlotReuse

	mu     sync.Mutex // guards idle and closed
	idle   map[hostNode][]*idleSlot
	closed bool
	// frees counts the idle slots whose timer may still run: Close waits
	// for them, so that no free outlives the pool.
	frees sync.WaitGroup
}

// takeIdleSlot returns a kept slot of host for node, among the first
// perHost, with at least SlotReuse of its lease left; nil when there is
// none. The most recently kept comes first, so that a host's slots
// that are no longer needed go idle and are freed.
func (db *DB) takeIdleSlot(node, host string, perHost int) *idleSlot {
	s := &db.slots
	s.mu.Lock()
	defer s.mu.Unlock()
	k := hostNode{host, node}
	list := s.idle[k]
	for i := len(list) - 1; i >= 0; i-- {
		is := list[i]
		if int(is.slot) >= perHost || time.Until(is.leaseEnd) < s.reuse {
			continue // its timer frees it
		}
		s.idle[k] = append(list[:i], list[i+1:]...)
		if len(s.idle[k]) == 0 {
			delete(s.idle, k)
		}
		if is.timer.Stop() {
			s.frees.Done()
		} // else its timer is waiting for mu, and will find it gone
		return is
	}
	return nil
}

// keepIdleSlot keeps a released slot for reuse and reports whether it
// did: not when too little of its lease is left or the DB is closing.
func (db *DB) keepIdleSlot(is idleSlot) bool {
	s := &db.slots
	if time.Until(is.leaseEnd) < s.reuse {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.idle == nil {
		s.idle = make(map[hostNode][]*idleSlot)
	}
	p := &is
	s.frees.Add(1)
	p.timer = time.AfterFunc(slotIdle, func() { db.expireIdleSlot(p) })
	k := hostNode{is.host, is.node}
	s.idle[k] = append(s.idle[k], p)
	return true
}

// expireIdleSlot frees a kept slot nobody took within slotIdle.
func (db *DB) expireIdleSlot(is *idleSlot) {
	s := &db.slots
	defer s.frees.Done()
	s.mu.Lock()
	k := hostNode{is.host, is.node}
	list := s.idle[k]
	i := -1
	for j, x := range list {
		if x == is {
			i = j
			break
		}
	}
	if i >= 0 {
		s.idle[k] = append(list[:i], list[i+1:]...)
		if len(s.idle[k]) == 0 {
			delete(s.idle, k)
		}
	}
	s.mu.Unlock()
	if i >= 0 {
		db.freeSlot(context.Background(), is.host, is.slot, is.token)
	}
}

// closeSlots frees every kept slot, waits for the frees already begun,
// and keeps no slot from now on.
func (db *DB) closeSlots() {
	s := &db.slots
	s.mu.Lock()
	s.closed = true
	idle := s.idle
	s.idle = nil
	s.mu.Unlock()
	for _, list := range idle {
		for _, is := range list {
			if is.timer.Stop() {
				db.freeSlot(context.Background(), is.host, is.slot, is.token)
				s.frees.Done()
			}
		}
	}
	s.frees.Wait()
}
