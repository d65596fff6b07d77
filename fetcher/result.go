package fetcher

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"aggregator"
)

// finish turns an exchange into a Result: it parses a new body, and
// updates the state (validators, counters, redirect and disable
// bookkeeping, next fetch time). st is the state as it applies to f's URL.
func (c *Client) finish(_ context.Context, f aggregator.Feed, st aggregator.FeedState, x exchange, start time.Time) Result {
	now := c.opts.Now()
	if x.buf != nil {
		defer c.putBuf(x)
	}
	r := Result{Feed: f, Bytes: x.wire}
	ns := st
	ns.LastFetch = now
	ns.LastStatus = 0
	var facts Facts
	if x.resp != nil {
		ns.LastStatus = x.resp.StatusCode
		facts.MaxAge, facts.Expires = cacheFacts(x.resp.Header, now)
		trackRedirect(&ns, f, x.perm)
	}
	facts.RetryAfter = x.retryAt

	err := x.err
	switch {
	case err != nil:
	case x.resp.StatusCode == http.StatusNotModified:
		r.Status = StatusUnchanged
		// A 304 may refresh the validators; absent ones stay as they were.
		if v := x.resp.Header.Get("ETag"); v != "" {
			ns.ETag = v
		}
		if v := x.resp.Header.Get("Last-Modified"); v != "" {
			ns.LastModified = v
		}
	default:
		// The validators of a 200 are stored only with a body we could
		// use: a broken document must not become a 304 "unchanged" later.
		etag, lastMod := x.resp.Header.Get("ETag"), x.resp.Header.Get("Last-Modified")
		hash := bodyHash(x.body)
		if hash == st.BodyHash && st.BodyHash != "" {
			r.Status = StatusUnchanged
			ns.ETag, ns.LastModified = etag, lastMod
			break
		}
		ct := x.resp.Header.Get("Content-Type")
		p, perr := c.parse(toUTF8(x.body, ct), x.url.String(), ct)
		if perr != nil {
			err = fmt.Errorf("%s: %w", x.url, perr)
			if nf := (*NotFeedError)(nil); errors.As(perr, &nf) {
				err = perr // it names the URL already
			}
			break
		}
		cv, cerr := safeConvert(p, f.Name, x.url, now, c.opts.MaxItems)
		if cerr != nil {
			err = fmt.Errorf("%s: %w", x.url, cerr)
			break
		}
		r.Status = StatusOK
		ns.BodyHash = hash
		ns.ETag, ns.LastModified = etag, lastMod
		r.Items = cv.items
		r.EmptyItems, r.OverMax, r.FutureDates = cv.empty, cv.overMax, cv.future
		ns.FutureDates = cv.future
		ns.Title = demoronize(strings.TrimSpace(p.feed.Title))
		ns.Link = resolve(x.url, strings.TrimSpace(p.feed.Link))
		ns.Language = strings.TrimSpace(p.feed.Language)
		ns.Items = len(r.Items)
		if gap := meanGap(r.Items); gap > 0 {
			ns.MeanItemGap = gap.Seconds()
		}
		ns.HintInterval = max(p.facts.TTL, p.facts.UpdatePeriod).Seconds()
		ns.SkipHours, ns.SkipDays = 0, 0
		for _, h := range p.facts.SkipHours {
			ns.SkipHours |= 1 << h
		}
		for _, d := range p.facts.SkipDays {
			ns.SkipDays |= 1 << d
		}
	}
	// The document's hints hold until the next document says otherwise,
	// through the 304s and unchanged bodies in between.
	facts.TTL = time.Duration(ns.HintInterval * float64(time.Second))
	for h := range 24 {
		if ns.SkipHours&(1<<h) != 0 {
			facts.SkipHours = append(facts.SkipHours, h)
		}
	}
	for d := range 7 {
		if ns.SkipDays&(1<<d) != 0 {
			facts.SkipDays = append(facts.SkipDays, time.Weekday(d))
		}
	}

	if err != nil {
		r.Status, r.Err = StatusFailed, err
		ns.LastError = err.Error()
		ns.ConsecutiveErrors++
		facts.Failed = true
		if se := (*StatusError)(nil); errors.As(err, &se) && se.Code == http.StatusGone {
			ns.Disabled = true
			ns.DisabledReason = fmt.Sprintf("410 Gone from %s on %s", se.URL, now.UTC().Format(time.RFC3339))
		}
	} else {
		ns.LastSuccess = now
		ns.LastError = ""
		ns.ConsecutiveErrors = 0
		ns.Disabled, ns.DisabledReason = false, ""
	}
	ns.LastResult = string(r.Status)
	facts.Jitter = c.jitter()
	ns.NextFetch = NextFetch(now, ns, c.Schedule(f), facts)
	r.State = ns
	r.Duration = time.Since(start)
	c.m.record(r)
	return r
}

// trackRedirect counts consecutive fetches that saw the same permanent
// redirect target, and moves the feed's FetchURL there once it has been
// seen redirectConfirmations times. A fetch without one (including one
// through a temporary redirect) resets the count.
func trackRedirect(ns *aggregator.FeedState, f aggregator.Feed, perm string) {
	if perm == "" {
		ns.RedirectURL, ns.RedirectCount = "", 0
		return
	}
	if perm == ns.RedirectURL {
		ns.RedirectCount++
	} else {
		ns.RedirectURL, ns.RedirectCount = perm, 1
	}
	if ns.RedirectCount >= redirectConfirmations {
		ns.FetchURL = perm
		if perm == f.URL {
			ns.FetchURL = ""
		}
		ns.RedirectURL, ns.RedirectCount = "", 0
	}
}

func (c *Client) putBuf(x exchange) {
	if x.buf.Cap() <= 4<<20 {
		c.bufs.Put(x.buf)
	}
}

// safeConvert converts the parsed items, turning a panic (a gofeed
// structure we did not expect) into an error like a parser panic.
func safeConvert(p parsed, feed string, docURL *url.URL, now time.Time, maxItems int) (cv converted, err error) {
	defer func() {
		if r := recover(); r != nil {
			cv, err = converted{}, fmt.Errorf("%w: panic converting items: %v", ErrParse, r)
		}
	}()
	return convertItems(p.feed, feed, siteBase(p.feed, docURL), now, maxItems), nil
}
