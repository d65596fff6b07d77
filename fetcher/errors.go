package fetcher

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Sentinel errors, found with errors.Is in Result.Err.
var (
	// ErrNotFeed: the document is not a feed. A *NotFeedError carries the
	// details, including the feed URL an HTML page advertises.
	ErrNotFeed = errors.New("not a feed")
	// ErrTooLarge: the body, after decompression, exceeds Options.MaxBody.
	ErrTooLarge = errors.New("response body too large")
	// ErrTooManyRedirects: more than maxRedirects hops.
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrRedirectLoop: a redirect led back to a URL already visited.
	ErrRedirectLoop = errors.New("redirect loop")
	// ErrPrivateAddress: a redirect from a public feed led to a private,
	// loopback or link-local address, refused unless AllowPrivate is set.
	ErrPrivateAddress = errors.New("refusing to connect to a private address")
	// ErrParse: the document could not be parsed as a feed.
	ErrParse = errors.New("cannot parse feed")
	// ErrEncoding: the body uses a Content-Encoding we cannot decode, or
	// its compressed stream is corrupt.
	ErrEncoding = errors.New("cannot decode body")
)

// StatusError is an HTTP response other than 200 or 304. Callers branch on
// Code (410 disables the feed) and RetryAfter (set from a Retry-After
// header on 429 and 503; zero when absent).
type StatusError struct {
	URL        string
	Code       int
	RetryAfter time.Time
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s: HTTP %d %s", e.URL, e.Code, http.StatusText(e.Code))
	if !e.RetryAfter.IsZero() {
		s += " (retry after " + e.RetryAfter.UTC().Format(time.RFC3339) + ")"
	}
	return s
}

// NotFeedError reports a document that is not a feed. When it is an HTML
// page that advertises a feed with <link rel="alternate">, Alternate holds
// that feed's absolute URL: the URL the configuration should name.
type NotFeedError struct {
	URL         string
	ContentType string
	Alternate   string
}

func (e *NotFeedError) Error() string {
	s := fmt.Sprintf("%s is not a feed", e.URL)
	if e.ContentType != "" {
		s += " (" + e.ContentType + ")"
	}
	if e.Alternate != "" {
		s += "; the page advertises the feed " + e.Alternate
	}
	return s
}

// Is makes errors.Is(err, ErrNotFeed) true.
func (e *NotFeedError) Is(target error) bool { return target == ErrNotFeed }

// ErrorKind names the class of a fetch error for metrics and summaries:
// "timeout", "dns", "tls", "connect", "http_4xx", "http_5xx", "too_large",
// "not_feed", "parse", "redirect", "private", "encoding", "canceled" or
// "other"; "" for a nil error.
func ErrorKind(err error) string {
	var (
		se   *StatusError
		dns  *net.DNSError
		cert *tls.CertificateVerificationError
		rec  tls.RecordHeaderError
		una  x509.UnknownAuthorityError
		host x509.HostnameError
		inv  x509.CertificateInvalidError
		op   *net.OpError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se):
		if se.Code >= 500 {
			return "http_5xx"
		}
		return "http_4xx"
	case errors.Is(err, ErrPrivateAddress):
		return "private"
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrNotFeed):
		return "not_feed"
	case errors.Is(err, ErrParse):
		return "parse"
	case errors.Is(err, ErrEncoding):
		return "encoding"
	case errors.Is(err, ErrTooManyRedirects), errors.Is(err, ErrRedirectLoop):
		return "redirect"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &dns):
		return "dns"
	case errors.As(err, &cert), errors.As(err, &rec), errors.As(err, &una),
		errors.As(err, &host), errors.As(err, &inv):
		return "tls"
	case errors.As(err, &op):
		if op.Timeout() {
			return "timeout"
		}
		return "connect"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "other"
}

// plainError is a sentence for people with the technical error kept
// for errors.Is/As.
type plainError struct {
	msg string
	err error
}

func (e *plainError) Error() string { return e.msg }
func (e *plainError) Unwrap() error { return e.err }

// phases follows where one exchange is, so that a timeout can say what
// timed out: the transport's own bounds (connect, TLS handshake, response
// headers) are shorter than the whole request's.
type phases struct {
	connecting, handshaking, awaitingHeaders atomic.Bool
}

// timeout says what timed out in an exchange whose context is ctx (the
// one bounded by Options.Timeout) and that was at ph.
func (c *Client) timeout(ctx context.Context, ph *phases) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("timed out after %v (the limit for the whole request, body included)", c.opts.Timeout)
	}
	connect, headers := c.opts.Timeout, c.opts.Timeout
	if t, ok := c.http.Transport.(*http.Transport); ok {
		if t.TLSHandshakeTimeout > 0 {
			connect = t.TLSHandshakeTimeout
		}
		if t.ResponseHeaderTimeout > 0 {
			headers = t.ResponseHeaderTimeout
		}
	}
	switch {
	case ph.handshaking.Load():
		return fmt.Sprintf("TLS handshake timed out after %v", connect)
	case ph.connecting.Load():
		return fmt.Sprintf("connecting timed out after %v", connect)
	case ph.awaitingHeaders.Load():
		return fmt.Sprintf("timed out after %v waiting for the response headers (the request was sent)", headers)
	}
	return ""
}

// plain rewrites transport errors into sentences a feed owner can act on,
// keeping the original wrapped for errors.Is/As. ctx and ph are the
// exchange's, for saying what timed out.
func (c *Client) plain(ctx context.Context, ph *phases, err error) error {
	var (
		dns  *net.DNSError
		cert *tls.CertificateVerificationError
		una  x509.UnknownAuthorityError
		host x509.HostnameError
		inv  x509.CertificateInvalidError
	)
	switch {
	case errors.Is(err, ErrPrivateAddress), errors.Is(err, ErrTooManyRedirects),
		errors.Is(err, ErrRedirectLoop), errors.Is(err, ErrTooLarge), errors.Is(err, ErrEncoding):
		return err
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return &plainError{fmt.Sprintf("DNS: no such host %s", dns.Name), err}
		}
		if dns.IsTimeout {
			return &plainError{fmt.Sprintf("DNS: lookup of %s timed out", dns.Name), err}
		}
		return &plainError{fmt.Sprintf("DNS: lookup of %s failed: %v", dns.Name, dns.Err), err}
	case errors.As(err, &cert), errors.As(err, &una), errors.As(err, &host), errors.As(err, &inv):
		return fmt.Errorf("TLS: certificate not accepted: %w", err)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		if msg := c.timeout(ctx, ph); msg != "" {
			return &plainError{msg, err}
		}
		return &plainError{fmt.Sprintf("timed out: %v", err), err}
	}
	return err
}
