package publish

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Ping tells the WebSub hubs about every output whose content changed since
// the last successful ping: one publish notification per hub and feed URL
// (hub.mode=publish, hub.url=the feed's self URL, in each format). Without
// hubs, or when the source's version has not moved, it does no I/O. A hub
// that fails is retried on the next call; the error lists every failure.
func (h *Handler) Ping(ctx context.Context) error {
	if len(h.opts.Hubs) == 0 || h.opts.BaseURL == "" {
		return nil
	}
	h.pingMu.Lock()
	defer h.pingMu.Unlock()
	var errs []error
	for _, out := range h.opts.Outputs {
		s, err := h.snapshot(ctx, out.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if h.pinged[out.Name] == s.hash {
			continue
		}
		var failed bool
		for _, hub := range h.opts.Hubs {
			for _, f := range formats {
				if err := h.notify(ctx, hub, h.feedURL(out.Name, f)); err != nil {
					errs = append(errs, err)
					failed = true
				}
			}
		}
		if !failed {
			h.pinged[out.Name] = s.hash
		}
	}
	return errors.Join(errs...)
}

// notify sends one publish notification. Hubs answer 204 (or any 2xx).
func (h *Handler) notify(ctx context.Context, hub, topic string) error {
	form := url.Values{"hub.mode": {"publish"}, "hub.url": {topic}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hub, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("websub ping %s: %w", hub, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", generator)
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("websub ping %s for %s: %w", hub, topic, err)
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("websub ping %s for %s: hub answered %s", hub, topic, resp.Status)
	}
	return nil
}
