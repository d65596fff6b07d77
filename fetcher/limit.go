package fetcher

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// limiter enforces the politeness limits for every request of a Client:
// a global cap on fetches in flight, a cap per host, and a least gap
// between the starts of two requests to one host.
//
// A request takes, in order: a slot of its host, its host's start token
// (so that starts to one host are decided one at a time), waits out the
// host delay, then a global slot. It never holds a global slot while
// waiting for a host, so one slow or crowded host cannot starve the rest.
type limiter struct {
	global  chan struct{}
	perHost int
	delay   time.Duration
	// loopbackNoDelay exempts loopback hosts from delay.
	loopbackNoDelay bool
	now             func() time.Time

	// gate, when set, replaces the per-host slots and delay (see
	// Options.HostGate).
	gate func(ctx context.Context, host string, perHost int, delay time.Duration) (sent, release func(), err error)

	mu    sync.Mutex // guards hosts
	hosts map[string]*hostLimit
}

// hostLimit is the state of one host. Its fields other than the channels
// are guarded by holding the start token.
type hostLimit struct {
	slots     chan struct{}
	start     chan struct{} // capacity 1: the start token
	delay     time.Duration
	lastStart time.Time
}

func newLimiter(concurrency, perHost int, delay time.Duration, now func() time.Time) *limiter {
	return &limiter{
		global:  make(chan struct{}, concurrency),
		perHost: perHost,
		delay:   delay,
		now:     now,
		hosts:   map[string]*hostLimit{},
	}
}

func (l *limiter) host(name string) *hostLimit {
	name = strings.ToLower(name)
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hosts[name]
	if h == nil {
		h = &hostLimit{slots: make(chan struct{}, l.perHost), start: make(chan struct{}, 1), delay: l.delay}
		if l.loopbackNoDelay && isLoopbackHost(name) {
			h.delay = 0
		}
		l.hosts[name] = h
	}
	return h
}

// acquire blocks until a request to host may start, or ctx is done, when
// there is no gate (with one, see takeGlobal). The returned sent is
// called once the request has been written (it matters only to a gate),
// and release once the request (body included) is finished.
func (l *limiter) acquire(ctx context.Context, host string) (sent, release func(), err error) {
	h := l.host(host)
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	fail := func() { <-h.slots }
	select {
	case h.start <- struct{}{}:
	case <-ctx.Done():
		fail()
		return nil, nil, ctx.Err()
	}
	if wait := h.lastStart.Add(h.delay).Sub(l.now()); h.delay > 0 && !h.lastStart.IsZero() && wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			<-h.start
			fail()
			return nil, nil, ctx.Err()
		}
	}
	select {
	case l.global <- struct{}{}:
	case <-ctx.Done():
		<-h.start
		fail()
		return nil, nil, ctx.Err()
	}
	h.lastStart = l.now()
	<-h.start
	return func() {}, func() { <-l.global; <-h.slots }, nil
}

// With a gate, a request takes a global slot (takeGlobal), then the
// gate's permission for its host (admitGated). The global slot comes
// first so that the request starts as soon as the gate grants it: a
// start the gate spaced host_delay from another node's must not then
// wait here and arrive late, closer to the next one. (The nodes of a
// fleet claim no more feeds than they have slots, so the global slots
// are not what they wait for.) The two are separate steps so that the
// fetch can ask the gate on a worker (see workers).

// takeGlobal is a gated request's first step: a global slot.
func (l *limiter) takeGlobal(ctx context.Context) error {
	select {
	case l.global <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// admitGated is a gated request's second step, with the global slot
// taken: the gate's permission. When the gate refuses, the global slot
// is given back.
func (l *limiter) admitGated(ctx context.Context, host string, delay time.Duration) (sent, release func(), err error) {
	sent, rel, err := l.gate(ctx, strings.ToLower(host), l.perHost, delay)
	if err != nil {
		<-l.global
		return nil, nil, err
	}
	return sent, func() { <-l.global; rel() }, nil
}

// gateDelay is the delay a gate is told to keep for host.
func (l *limiter) gateDelay(host string) time.Duration { return max(l.host(host).delay, 0) }

// isLoopbackHost reports whether the host name of a URL (lower case, no
// port, no brackets) names this machine: localhost and its subdomains
// (RFC 6761), 127.0.0.0/8 or ::1. Names are not resolved.
func isLoopbackHost(name string) bool {
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return true
	}
	addr, err := netip.ParseAddr(name)
	return err == nil && addr.Unmap().IsLoopback()
}
