package fetcher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"aggregator"
)

// Status is the outcome of one fetch.
type Status string

const (
	// StatusOK: a document was parsed; Result.Items holds its items.
	StatusOK Status = "ok"
	// StatusUnchanged: 304 Not Modified, or a body identical to the last
	// one parsed (not parsed again).
	StatusUnchanged Status = "unchanged"
	// StatusFailed: see Result.Err.
	StatusFailed Status = "failed"
)

// redirectConfirmations is how many consecutive fetches must see the same
// permanent redirect (301/308) before the feed's FetchURL follows it.
const redirectConfirmations = 3

// maxRedirects is the most hops one fetch follows.
const maxRedirects = 5

// Result is the outcome of fetching one feed.
type Result struct {
	Feed aggregator.Feed
	// State is the feed's new state, to be stored with Items: validators,
	// LastFetch, LastStatus, LastResult (string(Status)), LastError,
	// ConsecutiveErrors, NextFetch, Items, Title/Link/Language, BodyHash,
	// the redirect and disable bookkeeping. When the caller's context was
	// cancelled the state is returned as it was given: storing it changes
	// nothing.
	State aggregator.FeedState
	// Items are the parsed items (StatusOK only), each Normalize()d with
	// the feed's name, FirstSeen set to the fetch time, links absolute.
	Items  []aggregator.Item
	Status Status
	// Err is non-nil iff Status is StatusFailed: a *StatusError, a
	// *NotFeedError (errors.Is ErrNotFeed), or one wrapping ErrTooLarge,
	// ErrParse, ErrEncoding, ErrTooManyRedirects, ErrRedirectLoop,
	// ErrPrivateAddress, a timeout, a DNS or a TLS error.
	Err error
	// EmptyItems counts the document's items that had no title, link,
	// GUID, summary or content: nothing to show or identify, so they were
	// dropped. OverMax counts the items beyond Options.MaxItems, dropped
	// too. FutureDates counts the items whose dates lay more than a day
	// after the fetch and were set to the fetch time (also in
	// State.FutureDates). All three are for StatusOK only.
	EmptyItems, OverMax, FutureDates int
	// Bytes is what was received on the wire (compressed size).
	Bytes    int64
	Duration time.Duration
}

// Client fetches feeds. It is safe for concurrent use; one Client (and
// so one HTTP transport, one limiter and one set of metrics) serves the
// whole process.
type Client struct {
	opts   Options
	http   *http.Client
	parser *parser
	lim    *limiter
	bufs   sync.Pool // *bytes.Buffer, reused across bodies
	m      metrics

	rndMu sync.Mutex // guards rnd
	rnd   *rand.Rand

	// public lists address ranges treated as public although they are
	// not; set by tests only (see export_test.go).
	public []netip.Prefix
	// dialCheckOnly turns off the redirect-time check of literal private
	// addresses, so that tests can see the dial-time check alone.
	dialCheckOnly bool
}

// New returns a Client with opts (zero fields take their defaults).
func New(opts Options) *Client {
	c := &Client{opts: opts.withDefaults(), parser: &parser{}}
	c.rnd = rand.New(rand.NewPCG(uint64(c.opts.Seed), 0x9e3779b97f4a7c15))
	c.lim = newLimiter(c.opts.Concurrency, c.opts.PerHost, c.opts.HostDelay, time.Now)
	c.lim.loopbackNoDelay = c.opts.LoopbackNoDelay
	c.lim.gate = c.opts.HostGate
	c.bufs.New = func() any { return new(bytes.Buffer) }
	rt := c.opts.Transport
	if rt == nil {
		rt = c.newTransport()
	}
	c.http = &http.Client{Transport: rt, CheckRedirect: c.checkRedirect}
	c.m.init()
	return c
}

// Options returns the options in effect, defaults filled in.
func (c *Client) Options() Options { return c.opts }

// Schedule returns the schedule knobs for feed f.
func (c *Client) Schedule(f aggregator.Feed) Schedule {
	iv := c.opts.Interval
	if f.Interval > 0 {
		iv = f.Interval
	}
	return Schedule{Interval: iv, MinInterval: c.opts.MinInterval, MaxInterval: c.opts.MaxInterval}
}

func (c *Client) jitter() float64 {
	c.rndMu.Lock()
	defer c.rndMu.Unlock()
	return c.rnd.Float64()
}

// Fetch fetches and parses feed f, whose state after its last fetch is st
// (the zero state for a new feed). It waits for the politeness limits
// first. It never panics; failures are in Result.Err.
func (c *Client) Fetch(ctx context.Context, f aggregator.Feed, st aggregator.FeedState) Result {
	res := Result{Feed: f, State: st, Status: StatusFailed}
	delivered := false
	c.fetch(ctx, nil, c.prepare(f, st), func(r Result) { res, delivered = r, true })
	if !delivered {
		// Cancelled while waiting for the limiter: the state is untouched.
		res.Err = fmt.Errorf("fetch %s: %w", f.Name, ctx.Err())
	}
	return res
}

// A fetchJob is a fetch prepared: what fetch needs, on the heap, so that
// the goroutine waiting for the limiter with it keeps a small stack (see
// workers).
type fetchJob struct {
	f     aggregator.Feed
	given aggregator.FeedState // the state as the caller gave it
	st    aggregator.FeedState // given as it applies to f's URL (forURL)
	u     *url.URL             // what to fetch, unless err
	err   error                // the URL cannot be fetched
}

// prepare works out what fetching f, whose last state is st, asks for.
func (c *Client) prepare(f aggregator.Feed, st aggregator.FeedState) *fetchJob {
	j := &fetchJob{f: f, given: st, st: forURL(f, st)}
	target := f.URL
	if j.st.FetchURL != "" {
		target = j.st.FetchURL
	}
	j.u, j.err = url.Parse(strings.TrimSpace(target))
	if j.err == nil && (j.u.Scheme != "http" && j.u.Scheme != "https" || j.u.Host == "") {
		j.err = fmt.Errorf("unsupported URL %q: want http or https", target)
	}
	if j.err != nil {
		j.err = fmt.Errorf("feed %s: %w", f.Name, j.err)
	}
	return j
}

// fetch fetches j and calls deliver with the result while still holding
// its limiter slots, so that a slow consumer (storing, clustering) slows
// fetching down instead of letting results pile up in memory. deliver is
// not called when ctx ends while waiting for the limiter. The exchange and
// deliver run on one of on (see workers), or here when on is nil.
func (c *Client) fetch(ctx context.Context, on *workers, j *fetchJob, deliver func(Result)) {
	if j.err != nil {
		on.do(func() { deliver(c.finish(ctx, j.f, j.st, exchange{err: j.err}, time.Now())) })
		return
	}
	host := j.u.Hostname()
	if c.lim.gate != nil {
		// The gate is asked on the worker: it may ask a database, which
		// takes more stack than this goroutine should grow. The global
		// slot taken here keeps a worker free for it (see workers).
		if c.lim.takeGlobal(ctx) != nil {
			return
		}
		on.do(func() {
			sent, release, err := c.lim.admitGated(ctx, host, c.lim.gateDelay(host))
			if err != nil {
				c.gateFailed(ctx, j, err, deliver)
				return
			}
			c.fetchAcquired(ctx, j, sent, release, deliver)
		})
		return
	}
	sent, release, err := c.lim.acquire(ctx, host)
	if err != nil {
		return // only ctx ends an ungated wait
	}
	on.do(func() { c.fetchAcquired(ctx, j, sent, release, deliver) })
}

// gateFailed delivers the result of a fetch whose HostGate refused with
// err, unless ctx ended (then there is nothing to deliver).
func (c *Client) gateFailed(ctx context.Context, j *fetchJob, err error, deliver func(Result)) {
	if ctx.Err() != nil {
		return
	}
	// A HostGate failed (a fleet's database out of reach): the feed did
	// nothing wrong, so its state stays as it was.
	deliver(Result{Feed: j.f, State: j.given, Status: StatusFailed, Err: fmt.Errorf("fetch %s: host limits: %w", j.f.Name, err)})
}

// fetchAcquired is the part of fetch after the limiter let it start; it
// calls release when done.
func (c *Client) fetchAcquired(ctx context.Context, j *fetchJob, sent, release func(), deliver func(Result)) {
	c.m.inflight.Add(1)
	defer func() {
		c.m.inflight.Add(-1)
		release()
	}()
	start := time.Now()
	x := c.exchange(ctx, j.u, j.st, sent)
	if ctx.Err() != nil {
		// The caller gave up (shutdown), not the feed: leave its state be.
		if x.buf != nil {
			c.putBuf(x)
		}
		r := Result{Feed: j.f, State: j.given, Status: StatusFailed, Err: fmt.Errorf("fetch %s: %w", j.f.Name, ctx.Err()), Bytes: x.wire, Duration: time.Since(start)}
		c.m.record(r)
		deliver(r)
		return
	}
	deliver(c.finish(ctx, j.f, j.st, x, start))
}

// forURL returns st as it applies to f's configured URL: when the URL
// changed, the validators, body hash, redirect and "gone" verdicts of the
// old one are dropped.
func forURL(f aggregator.Feed, st aggregator.FeedState) aggregator.FeedState {
	st.Name = f.Name
	if st.URL != f.URL {
		if st.URL != "" {
			st.FetchURL, st.ETag, st.LastModified, st.BodyHash = "", "", "", ""
			st.Disabled, st.DisabledReason = false, ""
			st.RedirectURL, st.RedirectCount = "", 0
			st.ConsecutiveErrors = 0
		}
		st.URL = f.URL
	}
	return st
}

// exchange is what one HTTP exchange (with its redirects) yielded.
type exchange struct {
	resp    *http.Response // body already consumed and closed
	url     *url.URL       // final URL after redirects
	perm    string         // target of an unbroken chain of 301/308 from the start
	body    []byte         // decoded body of a 2xx
	buf     *bytes.Buffer  // holds body; returned to the pool by finish
	wire    int64
	err     error
	retryAt time.Time
}

// redirectLog follows one fetch's redirects (CheckRedirect sees it
// through the request context).
type redirectLog struct {
	perm   string
	broken bool
}

type redirectKey struct{}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return fmt.Errorf("%w: more than %d hops", ErrTooManyRedirects, maxRedirects)
	}
	for _, v := range via {
		if v.URL.String() == req.URL.String() {
			return fmt.Errorf("%w: back to %s", ErrRedirectLoop, req.URL)
		}
	}
	ctx := req.Context()
	if log, ok := ctx.Value(redirectKey{}).(*redirectLog); ok && req.Response != nil {
		switch code := req.Response.StatusCode; {
		case !log.broken && (code == http.StatusMovedPermanently || code == http.StatusPermanentRedirect):
			log.perm = req.URL.String()
		default:
			log.broken = true
		}
	}
	// Literal private addresses are refused here already, because a
	// pooled connection to such an address (kept from a LAN feed) would
	// be reused without a dial. Names are checked when dialled.
	if g, ok := ctx.Value(guardKey{}).(*guard); ok && !c.opts.AllowPrivate && !c.dialCheckOnly && !g.origPrivate.Load() &&
		!strings.EqualFold(req.URL.Hostname(), g.host) && c.privateHost(req.URL.Hostname()) {
		return fmt.Errorf("%w: redirect to %s", ErrPrivateAddress, req.URL.Host)
	}
	return nil
}

// exchange performs the conditional GET of u and reads the body of a
// successful response, all within Options.Timeout. It calls sent once
// the first response begins.
func (c *Client) exchange(ctx context.Context, u *url.URL, st aggregator.FeedState, sent func()) (x exchange) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	g := &guard{host: u.Hostname()}
	if c.privateHost(g.host) {
		g.origPrivate.Store(true)
	}
	log := &redirectLog{}
	ctx = context.WithValue(withGuard(ctx, g), redirectKey{}, log)
	tr := &exchangeTrace{c: c, sent: sent}
	if c.opts.Transport == nil && !c.opts.AllowPrivate && !g.origPrivate.Load() {
		tr.g = g
	}
	ctx = httptrace.WithClientTrace(ctx, tr.trace())
	ph := &tr.ph
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		x.err = err
		return x
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	req.Header.Set("Accept", "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5")
	req.Header.Set("Accept-Encoding", acceptEncoding)
	if st.ETag != "" {
		req.Header["If-None-Match"] = []string{st.ETag}
	}
	if st.LastModified != "" {
		req.Header["If-Modified-Since"] = []string{st.LastModified}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		x.err = fmt.Errorf("%s: %w", u, c.plain(ctx, ph, unwrapURLError(err)))
		return x
	}
	defer resp.Body.Close()
	x.resp, x.url, x.perm = resp, resp.Request.URL, log.perm
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return x
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		x.buf = c.bufs.Get().(*bytes.Buffer)
		x.buf.Reset()
		x.wire, x.err = readBody(resp, c.opts.MaxBody, x.buf)
		if x.err != nil {
			x.err = fmt.Errorf("%s: %w", x.url, c.plain(ctx, ph, x.err))
		}
		x.body = x.buf.Bytes()
		return x
	}
	// Read a little of an error body so the connection can be reused.
	n, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	x.wire = n
	se := &StatusError{URL: x.url.String(), Code: resp.StatusCode}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		se.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.opts.Now())
	}
	x.retryAt = se.RetryAfter
	x.err = se
	return x
}

// exchangeTrace is the one httptrace.ClientTrace of an exchange, with
// what its hooks keep. One, because a context's traces compose: each
// further httptrace.WithClientTrace made a reflect.MakeFunc for every
// hook two of them share, on every request.
type exchangeTrace struct {
	c *Client
	// g, when set, is told of the first connection (noteConn): set when
	// the dial policy applies.
	g  *guard
	ph phases
	// sent is called at the first byte of the first answer, the first
	// moment the server has certainly begun on the request (a written
	// request may still wait in its accept queue): that is when the
	// host gate hears of it.
	sent     func()
	answered atomic.Bool
}

func (t *exchangeTrace) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) { t.ph.connecting.Store(true) },
		GotConn: func(info httptrace.GotConnInfo) {
			t.ph.connecting.Store(false)
			if t.g != nil {
				t.c.noteConn(t.g, info)
			}
		},
		TLSHandshakeStart: func() { t.ph.handshaking.Store(true) },
		TLSHandshakeDone:  func(tls.ConnectionState, error) { t.ph.handshaking.Store(false) },
		WroteRequest:      func(httptrace.WroteRequestInfo) { t.ph.awaitingHeaders.Store(true) },
		GotFirstResponseByte: func() {
			t.ph.awaitingHeaders.Store(false)
			if !t.answered.Swap(true) {
				t.sent()
			}
		},
	}
}

// unwrapURLError drops net/http's *url.Error wrapper ("Get \"u\": ..."),
// since our messages name the feed themselves.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// retryAfter parses a Retry-After value: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return now.Add(time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return t
	}
	return time.Time{}
}

// cacheFacts reads the freshness a response declares: Cache-Control
// max-age, else Expires (relative to the response's own Date, so that a
// skewed server clock does not matter).
func cacheFacts(h http.Header, now time.Time) (maxAge time.Duration, expires time.Time) {
	for d := range strings.SplitSeq(h.Get("Cache-Control"), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(d), "=")
		if strings.EqualFold(k, "max-age") {
			if n, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64); err == nil && n > 0 {
				return time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second, time.Time{}
			}
		}
	}
	// Most answers have no Expires, and http.ParseTime of "" fails three
	// times over (a layout each), allocating an error for each.
	v := h.Get("Expires")
	if v == "" {
		return 0, time.Time{}
	}
	exp, err := http.ParseTime(v)
	if err != nil {
		return 0, time.Time{}
	}
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		return 0, now.Add(exp.Sub(date))
	}
	return 0, exp
}

func bodyHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
