package postgres

import (
	"context"
	"sync"
	"time"
)

// Reusing fetch slots. Each grant of AcquireHost is a call of a plpgsql
// function under the host's row lock, and each release a DELETE: two
// committed transactions per request, which every node's requests to one
// host take in turn. On 2,000 feeds of one host that all answer 304 they
// were most of what PostgreSQL did in the pass (4,000 commits against
// some 150 for storing the fetches) and most of its wall time (16
// fetches queued on one row lock). With Options.SlotReuse a released
// slot of a host with no delay stays this process's for slotIdle, and
// the next request to the host on this node takes it without asking the
// database: a pass over one host costs a grant per slot, not per
// request.
//
// The requests of one node to such a host that find no kept slot ask
// the database together: one of them asks (fleet_acquire_host_slots,
// migration 8) for as many slots as there are requests waiting, the
// others wait for its answer, and the slots it brings back beyond its
// own are kept for them. A pass whose 16 fetches begin at once thus
// asks twice (the first request alone, then the fifteen that came while
// it asked) instead of sixteen times in a row on the host's lock. When
// the database has no slot free, nobody on the node asks again before
// the time it said to wait, and a slot released meanwhile on the node
// goes to a waiting request at once. Kept slots that expire together
// are freed in one statement, and Close frees the rest in one.
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
// fresh slot does. A kept slot nobody takes is freed after slotIdle/2 to
// slotIdle, and Close frees the rest, so another node waits at most
// about one of its polls (hostPollMax) longer for a slot this node no
// longer needs. What changes is fairness, not the limit: a node with a
// steady stream of requests to one host keeps its slots, until their
// leases run down to SlotReuse, rather than competing for each one anew.

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
	kept       time.Time // when it was kept, by this process's clock
	timer      *time.Timer
}

type hostNode struct{ host, node string }

// hostQueue is the requests of one node to one host that wait for a
// slot. It exists while waiting > 0.
type hostQueue struct {
	waiting int       // requests waiting, the one asking included
	asking  bool      // one of them is asking the database
	retry   time.Time // nobody asks before then: the database said to wait
	// wake is closed, and replaced, when a slot of the host is kept or
	// an ask ends: the waiting requests look again.
	wake chan struct{}
}

// idleSlots are the slots kept for reuse and the requests waiting for
// them.
type idleSlots struct {
	reuse time.Duration // Options.SlotReuse

	mu     sync.Mutex // guards idle, queues, held and closed
	idle   map[hostNode][]*idleSlot
	queues map[hostNode]*hostQueue
	// held counts the slots asked for by acquireShared and not yet
	// freed: in use or kept.
	held   map[hostNode]int
	closed bool
	// frees counts the idle slots whose timer may still run: Close waits
	// for them, so that no free outlives the pool.
	frees sync.WaitGroup
}

// acquireShared is acquireHost for a host without a delay when slots are
// reused: a kept slot if there is one, else slots asked for together
// with the node's other requests waiting for the host (see above).
func (db *DB) acquireShared(ctx context.Context, node, host string, perHost int, lease time.Duration) (*hostGrant, error) {
	s := &db.slots
	k := hostNode{host, node}
	s.mu.Lock()
	q := s.queues[k]
	if q == nil {
		q = &hostQueue{wake: make(chan struct{})}
		if s.queues == nil {
			s.queues = make(map[hostNode]*hostQueue)
		}
		s.queues[k] = q
	}
	q.waiting++
	leave := func() {
		if q.waiting--; q.waiting == 0 {
			delete(s.queues, k)
		}
		s.mu.Unlock()
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		// s.mu is held here.
		if is := s.takeLocked(k, perHost); is != nil {
			leave()
			return db.grant(ctx, node, host, is.slot, is.token, 0, is.at, is.leaseEnd, true), nil
		}
		wait := time.Until(q.retry)
		if !q.asking && q.retry.IsZero() && s.held[k] >= perHost {
			// Every slot the node may have is in use here, and one is
			// about to be released (the fetcher frees its own slot a
			// moment before the host's): asking the database now would
			// be refused. Wait for a release, or hostPollMax at most.
			q.retry = time.Now().Add(hostPollMax)
			continue
		}
		if !q.asking && wait <= 0 {
			q.asking = true
			want := min(q.waiting, perHost)
			s.mu.Unlock()
			a, err := db.askHost(ctx, node, host, perHost, want, 0, lease)
			s.mu.Lock()
			q.asking = false
			q.wakeLocked()
			if err != nil {
				leave()
				return nil, err
			}
			if len(a.slots) == 0 {
				q.retry = time.Now().Add(a.wait)
				continue
			}
			if s.held == nil {
				s.held = make(map[hostNode]int)
			}
			s.held[k] += len(a.slots)
			var unkept []idleSlot
			for _, sl := range a.slots[1:] {
				is := idleSlot{node: node, host: host, slot: sl, token: a.token, at: a.at, leaseEnd: a.leaseEnd}
				if !db.keepLocked(is) {
					unkept = append(unkept, is)
				}
			}
			leave()
			db.freeShared(ctx, unkept)
			return db.grant(ctx, node, host, a.slots[0], a.token, 0, a.at, a.leaseEnd, true), nil
		}
		wake, asking := q.wake, q.asking
		s.mu.Unlock()
		var retry <-chan time.Time
		if !asking {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			retry = timer.C
		}
		select {
		case <-ctx.Done():
			s.mu.Lock()
			leave()
			return nil, ctx.Err()
		case <-wake:
		case <-retry:
		}
		s.mu.Lock()
	}
}

// wakeLocked lets the requests waiting in q look again. s.mu must be
// held.
func (q *hostQueue) wakeLocked() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// takeLocked returns a kept slot of k, among the first perHost, with at
// least SlotReuse of its lease left; nil when there is none. The most
// recently kept comes first, so that a host's slots that are no longer
// needed go idle and are freed. s.mu must be held.
func (s *idleSlots) takeLocked(k hostNode, perHost int) *idleSlot {
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
	db.slots.mu.Lock()
	defer db.slots.mu.Unlock()
	return db.keepLocked(is)
}

// keepLocked is keepIdleSlot with db.slots.mu held. A request of the
// slot's host and node waiting for a slot is woken to take it.
func (db *DB) keepLocked(is idleSlot) bool {
	s := &db.slots
	if s.closed || time.Until(is.leaseEnd) < s.reuse {
		return false
	}
	if s.idle == nil {
		s.idle = make(map[hostNode][]*idleSlot)
	}
	p := &is
	p.kept = time.Now()
	s.frees.Add(1)
	p.timer = time.AfterFunc(slotIdle, func() { db.expireIdleSlot(p) })
	k := hostNode{is.host, is.node}
	s.idle[k] = append(s.idle[k], p)
	if q := s.queues[k]; q != nil {
		q.wakeLocked()
	}
	return true
}

// expireIdleSlot frees a kept slot nobody took within slotIdle, and with
// it, in the same statement, the other slots of its host and node kept
// for at least half of slotIdle: the slots a burst of requests released
// together expire together.
func (db *DB) expireIdleSlot(is *idleSlot) {
	s := &db.slots
	defer s.frees.Done()
	s.mu.Lock()
	k := hostNode{is.host, is.node}
	var (
		free  []idleSlot
		left  []*idleSlot
		found bool
	)
	early := time.Now().Add(-slotIdle / 2)
	for _, x := range s.idle[k] {
		switch {
		case x == is:
			found = true
			free = append(free, *x)
		case !x.kept.After(early) && x.timer.Stop():
			s.frees.Done() // its timer will not run
			free = append(free, *x)
		default:
			left = append(left, x)
		}
	}
	if !found {
		// Taken, or freed with another: nothing of this call's to do.
		s.mu.Unlock()
		return
	}
	if len(left) == 0 {
		delete(s.idle, k)
	} else {
		s.idle[k] = left
	}
	s.mu.Unlock()
	db.freeShared(context.Background(), free)
}

// freeShared frees slots that acquireShared asked for: no longer held.
func (db *DB) freeShared(ctx context.Context, slots []idleSlot) {
	if len(slots) == 0 {
		return
	}
	s := &db.slots
	s.mu.Lock()
	for _, is := range slots {
		k := hostNode{is.host, is.node}
		if s.held[k]--; s.held[k] <= 0 {
			delete(s.held, k)
		}
	}
	s.mu.Unlock()
	db.freeSlots(ctx, slots)
}

// closeSlots frees every kept slot in one statement, waits for the frees
// already begun, and keeps no slot from now on.
func (db *DB) closeSlots() {
	s := &db.slots
	s.mu.Lock()
	s.closed = true
	idle := s.idle
	s.idle = nil
	var free []idleSlot
	for _, list := range idle {
		for _, is := range list {
			if is.timer.Stop() {
				free = append(free, *is)
				s.frees.Done()
			}
		}
	}
	s.mu.Unlock()
	db.freeShared(context.Background(), free)
	s.frees.Wait()
}
