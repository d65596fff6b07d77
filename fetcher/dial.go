package fetcher

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// guard is the per-fetch dial policy, carried in the request context so
// that the shared transport can apply it to each dial. The configured
// feed's own host is always dialled; any other host (a redirect target) is
// checked after DNS resolution, unless the feed itself turned out to live
// at a private address (a LAN source may redirect within the LAN).
type guard struct {
	// host is the hostname of the URL the fetch started at.
	host string
	// origPrivate is set once a connection to host is seen to be private.
	origPrivate atomic.Bool
	// first is set by the first connection the fetch gets, new or pooled:
	// the one to host.
	first atomic.Bool
	// proxy is the hostname of the HTTP proxy the environment names, if
	// any: dialling it is always allowed (the proxy connects onwards, so
	// only literal private redirect targets are refused then).
	proxy atomic.Pointer[string]
}

type guardKey struct{}

// noteConn notes whether the fetch's first connection, dialled or taken
// from the pool, reaches a private address: then the feed is a LAN source
// and may redirect within the LAN. It is a GotConn hook (exchangeTrace).
func (c *Client) noteConn(g *guard, info httptrace.GotConnInfo) {
	if g.first.Swap(true) {
		return
	}
	if ap, err := netip.ParseAddrPort(info.Conn.RemoteAddr().String()); err == nil && c.isPrivate(ap.Addr()) {
		g.origPrivate.Store(true)
	}
}

func withGuard(ctx context.Context, g *guard) context.Context {
	return context.WithValue(ctx, guardKey{}, g)
}

// newTransport builds the one transport every fetch of a Client shares.
// Compression is negotiated by the fetcher itself (it also asks for
// brotli and caps the decompressed size), so the transport's own gzip
// handling is off.
func (c *Client) newTransport() *http.Transport {
	connect := min(10*time.Second, c.opts.Timeout)
	plainDialer := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	checked := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second,
		ControlContext: func(ctx context.Context, network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dial %s: %w", address, err)
			}
			if c.isPrivate(ap.Addr()) {
				return fmt.Errorf("%w: %s", ErrPrivateAddress, ap.Addr())
			}
			return nil
		}}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		g, _ := ctx.Value(guardKey{}).(*guard)
		host, _, _ := net.SplitHostPort(addr)
		if c.opts.AllowPrivate || g == nil || g.origPrivate.Load() || strings.EqualFold(host, g.host) || g.isProxy(host) {
			conn, err := plainDialer.DialContext(ctx, network, addr)
			if err == nil && g != nil && strings.EqualFold(host, g.host) {
				if ap, perr := netip.ParseAddrPort(conn.RemoteAddr().String()); perr == nil && c.isPrivate(ap.Addr()) {
					g.origPrivate.Store(true)
				}
			}
			return conn, err
		}
		return checked.DialContext(ctx, network, addr)
	}
	return &http.Transport{
		Proxy:                 proxy,
		DialContext:           dial,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   connect,
		ResponseHeaderTimeout: min(15*time.Second, c.opts.Timeout),
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		MaxIdleConns:          max(100, c.opts.Concurrency*2),
		MaxIdleConnsPerHost:   c.opts.PerHost,
		IdleConnTimeout:       90 * time.Second,
	}
}

// proxy is http.ProxyFromEnvironment, noting the proxy in the request's
// guard so that dialling it is not mistaken for a redirect.
func proxy(req *http.Request) (*url.URL, error) {
	u, err := http.ProxyFromEnvironment(req)
	if g, ok := req.Context().Value(guardKey{}).(*guard); ok && u != nil {
		h := u.Hostname()
		g.proxy.Store(&h)
	}
	return u, err
}

func (g *guard) isProxy(host string) bool {
	p := g.proxy.Load()
	return p != nil && strings.EqualFold(*p, host)
}

// isPrivate reports whether a is an address a public feed must not send
// us to: loopback, private (RFC 1918, ULA), link-local, unspecified,
// CGNAT shared space or multicast.
func (c *Client) isPrivate(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range c.public {
		if p.Contains(a) {
			return false
		}
	}
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() ||
		a.IsMulticast() || a.IsUnspecified() || cgnat.Contains(a)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// privateHost reports whether a URL host is private without resolving it:
// an IP literal in a private range, or a name that is local by definition.
func (c *Client) privateHost(host string) bool {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return c.isPrivate(a)
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}
