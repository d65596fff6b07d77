package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"aggregator"
)

// Source is what the handler reads stories from.
type Source interface {
	// Stories returns the output's stories newest first, already limited by
	// out.MaxItems and out.MaxAge, with Story.Feeds filled.
	Stories(ctx context.Context, out aggregator.Output) ([]aggregator.Story, error)
	// Version changes whenever stored content changes. It is called on every
	// request, so it must be cheap (in memory).
	Version() uint64
}

// Options configure a [Handler]. Zero values mean the documented defaults.
type Options struct {
	// BaseURL is the public base URL without a trailing slash, e.g.
	// http://127.0.0.1:8080. Empty: links in pages are relative and feeds
	// carry no self link.
	BaseURL string
	// Outputs are the merged feeds to serve; the first one is the home page.
	// At least one is needed (the caller passes "all" when none is
	// configured).
	Outputs []aggregator.Output
	// Feeds are the subscriptions, for GET /feeds.opml.
	Feeds []aggregator.Feed
	// Hubs are WebSub hubs: when set, every feed advertises rel="hub" and
	// rel="self", and Ping notifies them of changes.
	Hubs []string
	// Now is the clock (default time.Now), used for Last-Modified when
	// content changes without a newer story date.
	Now func() time.Time
	// Logger receives render and ping failures (default: discarded).
	Logger *slog.Logger
	// Client sends WebSub pings (default: a client with a 10 s timeout).
	Client *http.Client
	// MaxAge is the Cache-Control max-age of feeds and pages (default 60 s):
	// how long a shared cache or reader may reuse a response unchecked.
	MaxAge time.Duration
}

// Handler serves the merged feeds, the pages and the OPML subscription list.
// Each output is rendered once per change of the source's version and then
// served from memory; it is safe for concurrent use.
type Handler struct {
	src     Source
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	client  *http.Client
	outputs map[string]aggregator.Output
	// cacheControl is the Cache-Control value, computed once.
	cacheControl []string
	opml         *variant

	// group makes concurrent requests during a re-render wait for the one
	// render in flight, keyed by output and version.
	group singleflight.Group
	// mu guards cache, the newest snapshot per output name, and closed.
	mu     sync.Mutex
	cache  map[string]*snapshot
	closed bool

	// pingMu guards pinged: per output, the content hash the hubs were last
	// told about. It also serialises Ping calls.
	pingMu sync.Mutex
	pinged map[string]string
}

// NewHandler returns a handler serving opts.Outputs from src.
func NewHandler(src Source, opts Options) *Handler {
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	h := &Handler{
		src:     src,
		opts:    opts,
		log:     opts.Logger,
		now:     opts.Now,
		client:  opts.Client,
		outputs: make(map[string]aggregator.Output, len(opts.Outputs)),
		cache:   make(map[string]*snapshot),
		pinged:  make(map[string]string),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.client == nil {
		h.client = &http.Client{Timeout: 10 * time.Second}
	}
	maxAge := opts.MaxAge
	if maxAge <= 0 {
		maxAge = time.Minute
	}
	h.cacheControl = []string{fmt.Sprintf("public, max-age=%d", int(maxAge.Seconds()))}
	for _, o := range opts.Outputs {
		h.outputs[o.Name] = o
	}
	var b strings.Builder
	title := "Subscriptions"
	if len(opts.Outputs) > 0 && opts.Outputs[0].Title != "" {
		title = opts.Outputs[0].Title + " subscriptions"
	}
	if err := WriteOPML(&b, title, opts.Feeds); err != nil {
		h.log.Error("render opml", "err", err)
	}
	h.opml = newVariant([]byte(b.String()), "text/x-opml; charset=utf-8", h.now().UTC())
	return h
}

// Close releases the in-memory files that rendered outputs are sent from
// with sendfile(2); call it once the server using h has shut down. The
// handler stays usable: it then serves everything from its heap.
func (h *Handler) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, s := range h.cache {
		s.retire(nil)
	}
	h.opml.retire()
	return nil
}

// ErrUnknownOutput is returned by Export for an output name that is not
// configured.
var ErrUnknownOutput = errors.New("unknown output")

// Export renders one output to w exactly as the server serves it.
func (h *Handler) Export(ctx context.Context, w io.Writer, output string, f Format) error {
	if _, ok := h.outputs[output]; !ok {
		return fmt.Errorf("export %q: %w", output, ErrUnknownOutput)
	}
	f, err := ParseFormat(string(f))
	if err != nil {
		return fmt.Errorf("export %q: %w", output, err)
	}
	s, err := h.snapshot(ctx, output)
	if err != nil {
		return fmt.Errorf("export %q: %w", output, err)
	}
	if _, err := w.Write(s.variants[string(f)].raw); err != nil {
		return fmt.Errorf("export %q: %w", output, err)
	}
	return nil
}

// ServeHTTP answers GET and HEAD for:
//
//	/                           page of the first output, with links to all
//	/{output}/, /{output}.html  page of one output
//	/{output}.rss .atom .json   the merged feed
//	/feeds.opml                 the subscriptions
//
// Anything else is 404 (405 for other methods).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if p == "/feeds.opml" {
		h.serveVariant(w, r, h.opml)
		return
	}
	var name, kind string
	switch {
	case p == "/":
		if len(h.opts.Outputs) == 0 {
			http.Error(w, "no outputs configured", http.StatusNotFound)
			return
		}
		name, kind = h.opts.Outputs[0].Name, "html"
	case strings.HasSuffix(p, "/") && strings.Count(p, "/") == 2:
		name, kind = p[1:len(p)-1], "html"
	case strings.Count(p, "/") == 1:
		base := p[1:]
		dot := strings.LastIndexByte(base, '.')
		if dot < 0 {
			if _, ok := h.outputs[base]; ok {
				http.Redirect(w, r, "/"+base+"/", http.StatusMovedPermanently)
				return
			}
			break
		}
		name, kind = base[:dot], base[dot+1:]
	}
	if _, ok := h.outputs[name]; !ok || !knownKind(kind) {
		http.Error(w, "404 not found: "+p, http.StatusNotFound)
		return
	}
	s, err := h.snapshot(r.Context(), name)
	if err != nil {
		h.log.Error("render output", "output", name, "err", err)
		http.Error(w, "500 cannot render this feed right now", http.StatusInternalServerError)
		return
	}
	h.serveVariant(w, r, s.variants[kind])
}

func knownKind(kind string) bool {
	switch kind {
	case "html", string(RSS), string(Atom), string(JSON):
		return true
	}
	return false
}

// pageURL and feedURL are the public addresses of an output's page and feed.
func (h *Handler) pageURL(name string) string { return h.opts.BaseURL + "/" + name + "/" }

func (h *Handler) feedURL(name string, f Format) string {
	return h.opts.BaseURL + "/" + name + "." + string(f)
}
