package fetcher

import (
	"context"
	"net/http"
	"time"
)

// Version names the program version in the User-Agent. cmd sets it (from
// ldflags or build info) before creating a Client.
var Version = "dev"

// Defaults applied by [New] to zero fields of [Options].
const (
	DefaultTimeout     = 20 * time.Second
	DefaultConcurrency = 16
	DefaultPerHost     = 2
	DefaultHostDelay   = time.Second
	DefaultMaxBody     = 15 << 20
	DefaultInterval    = 30 * time.Minute
	DefaultMinInterval = 5 * time.Minute
	DefaultMaxInterval = 24 * time.Hour
	DefaultMaxItems    = 1000
)

// Options configure a Client. The zero value means the documented
// defaults, so callers set only what their configuration names.
type Options struct {
	// Timeout bounds a whole exchange, body included (default 20s). Dialing,
	// the TLS handshake and waiting for response headers have shorter
	// bounds of their own, at most Timeout.
	Timeout time.Duration
	// Concurrency is the number of fetches in flight at once, across all
	// hosts (default 16).
	Concurrency int
	// PerHost is the number of fetches in flight to one host (default 2).
	PerHost int
	// HostDelay is the least time between the starts of two requests to
	// one host (default 1s). 0 means the default; a negative value means
	// no delay at all (a configuration's "0s").
	HostDelay time.Duration
	// LoopbackNoDelay exempts feeds on this machine (localhost, 127.0.0.0/8,
	// ::1, by the URL's host name) from HostDelay: the delay spares other
	// people's servers, and a local server is the user's own. PerHost and
	// Concurrency still apply.
	LoopbackNoDelay bool
	// UserAgent replaces the whole User-Agent header when set. By default
	// it is "aggregator/<Version> (+<Contact>)", or "aggregator/<Version>"
	// without a Contact.
	UserAgent string
	// Contact is the URL (or mailto:) a publisher can reach us at, named in
	// the default User-Agent.
	Contact string
	// MaxBody caps a response body (default 15 MiB). The cap holds after
	// decompression too, so a gzip bomb is refused, not inflated.
	MaxBody int64
	// MaxItems caps the items taken from one document (default 1,000):
	// the newest by date, undated ones after the dated in document
	// order. Result.OverMax counts the rest.
	MaxItems int
	// AllowPrivate lets redirects lead to private, loopback and link-local
	// addresses even from a public feed URL.
	AllowPrivate bool
	// Interval is the default time between fetches of a feed (30m);
	// Feed.Interval overrides it per feed.
	Interval time.Duration
	// MinInterval and MaxInterval clamp every computed schedule (5m, 24h).
	MinInterval, MaxInterval time.Duration
	// Now is the clock (default time.Now). Tests inject fixed times.
	Now func() time.Time
	// Seed seeds the jitter added to schedules. Zero seeds from the clock.
	Seed int64
	// HostGate, when set, counts the per-host limits (PerHost in flight,
	// HostDelay between requests, as this Client would apply them to
	// host) somewhere wider than this Client: a fleet of daemons counts
	// them across all its nodes. It blocks until a request to host may
	// start and returns two functions: sent, which the Client calls when
	// the first byte of the answer arrives, the first moment the server
	// has certainly seen the request (a gate can space the next start
	// from it rather than from the grant, so that the server sees the
	// gap), and release, which ends the request (a request that got no
	// answer counts as sent then). Concurrency is still this Client's,
	// taken before the gate.
	HostGate func(ctx context.Context, host string, perHost int, delay time.Duration) (sent, release func(), err error)
	// Transport replaces the HTTP transport, for tests only. The default
	// transport refuses private redirect targets at dial time; a
	// replacement does whatever it does.
	Transport http.RoundTripper
}

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.PerHost <= 0 {
		o.PerHost = DefaultPerHost
	}
	switch {
	case o.HostDelay == 0:
		o.HostDelay = DefaultHostDelay
	case o.HostDelay < 0:
		o.HostDelay = 0
	}
	if o.UserAgent == "" {
		o.UserAgent = "aggregator/" + Version
		if o.Contact != "" {
			o.UserAgent += " (+" + o.Contact + ")"
		}
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.MaxItems <= 0 {
		o.MaxItems = DefaultMaxItems
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.MinInterval <= 0 {
		o.MinInterval = DefaultMinInterval
	}
	if o.MaxInterval <= 0 {
		o.MaxInterval = DefaultMaxInterval
	}
	if o.MaxInterval < o.MinInterval {
		o.MaxInterval = o.MinInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Seed == 0 {
		o.Seed = time.Now().UnixNano()
	}
	return o
}
