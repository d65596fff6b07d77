package publish

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
)

// snapshot is everything served for one output at one source version.
// It is immutable once built.
type snapshot struct {
	version uint64
	// variants by kind: "rss", "atom", "json", "html".
	variants map[string]*variant
	// hash identifies the output's content (its stories as rendered), to
	// tell WebSub hubs only about real changes.
	hash string
}

// variant is one rendered document with its pre-computed headers.
type variant struct {
	raw      []byte
	gz       []byte
	modified time.Time
	etag     string // strong, quoted: the identity encoding's

	// Header values are built once so that serving allocates little.
	ctype, lastMod, rawETag, gzETag, brETag, rawLen, gzLen []string

	// rawFile and gzFile hold raw and gz for sendfile; nil when the body is
	// small or files are not available, and then it is written from memory.
	rawFile, gzFile *fileBody

	// br is compressed on the first request that asks for brotli: most
	// readers never do, and brotli costs more CPU than gzip.
	brOnce sync.Once
	br     []byte
	brLen  []string
	brFile *fileBody

	// fileMu guards retired and serialises setting brFile with retire.
	fileMu  sync.Mutex
	retired bool
}

func newVariant(raw []byte, ctype string, modified time.Time) *variant {
	sum := sha256.Sum256(raw)
	tag := base64.RawURLEncoding.EncodeToString(sum[:12])
	v := &variant{
		raw:      raw,
		gz:       gzipBytes(raw),
		modified: modified,
		etag:     `"` + tag + `"`,
		ctype:    []string{ctype},
		lastMod:  []string{modified.UTC().Format(http.TimeFormat)},
		rawETag:  []string{`"` + tag + `"`},
		gzETag:   []string{`"` + tag + `-gz"`},
		brETag:   []string{`"` + tag + `-br"`},
		rawLen:   []string{strconv.Itoa(len(raw))},
	}
	v.gzLen = []string{strconv.Itoa(len(v.gz))}
	v.rawFile = newFileBody(v.raw)
	v.gzFile = newFileBody(v.gz)
	return v
}

// retire releases v's files once no snapshot serves v any more; responses
// that still hold v carry on from memory.
func (v *variant) retire() {
	v.fileMu.Lock()
	defer v.fileMu.Unlock()
	v.retired = true
	v.rawFile.close()
	v.gzFile.close()
	v.brFile.close()
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b) // writes to a bytes.Buffer cannot fail
	zw.Close()
	return buf.Bytes()
}

func (v *variant) brotli() ([]byte, []string, *fileBody) {
	v.brOnce.Do(func() {
		var buf bytes.Buffer
		bw := brotli.NewWriterLevel(&buf, 9)
		bw.Write(v.raw) // writes to a bytes.Buffer cannot fail
		bw.Close()
		v.br = buf.Bytes()
		v.brLen = []string{strconv.Itoa(len(v.br))}
		fb := newFileBody(v.br)
		v.fileMu.Lock()
		if v.retired {
			fb.close()
			fb = nil
		}
		v.brFile = fb
		v.fileMu.Unlock()
	})
	return v.br, v.brLen, v.brFile
}

// retire releases the files of the variants of s that next does not
// serve; next may be nil.
func (s *snapshot) retire(next *snapshot) {
	for kind, v := range s.variants {
		if next == nil || next.variants[kind] != v {
			v.retire()
		}
	}
}

// snapshot returns the output's snapshot for the source's current version,
// rendering it when the version moved on. Concurrent callers share one
// render. When rendering fails, the last good snapshot is served instead.
func (h *Handler) snapshot(ctx context.Context, name string) (*snapshot, error) {
	version := h.src.Version()
	h.mu.Lock()
	old := h.cache[name]
	h.mu.Unlock()
	if old != nil && old.version == version {
		return old, nil
	}
	key := name + "\x00" + strconv.FormatUint(version, 10)
	res, err, _ := h.group.Do(key, func() (any, error) {
		// A render for this version may have finished between the check
		// above and joining the group.
		h.mu.Lock()
		cur := h.cache[name]
		h.mu.Unlock()
		if cur != nil && cur.version == version {
			return cur, nil
		}
		if cur != nil {
			old = cur
		}
		// The render outlives a cancelled first caller: others wait on it.
		s, err := h.build(context.WithoutCancel(ctx), name, version, old)
		if err != nil {
			return nil, err
		}
		h.mu.Lock()
		switch cur := h.cache[name]; {
		case cur != nil && cur.version > version:
			// A newer render was stored meanwhile: s only goes to the
			// callers waiting on it.
			s.retire(cur)
		default:
			h.cache[name] = s
			if cur != nil {
				cur.retire(s)
			}
			if h.closed {
				s.retire(nil)
			}
		}
		h.mu.Unlock()
		return s, nil
	})
	if err != nil {
		if old != nil {
			h.log.Warn("render failed, serving the previous version", "output", name, "err", err)
			return old, nil
		}
		return nil, err
	}
	return res.(*snapshot), nil
}

// build renders every format and the page of one output.
func (h *Handler) build(ctx context.Context, name string, version uint64, old *snapshot) (*snapshot, error) {
	start := time.Now() // for the log line only
	out := h.outputs[name]
	stories, err := h.src.Stories(ctx, out)
	if err != nil {
		return nil, fmt.Errorf("stories of output %s: %w", name, err)
	}
	meta := Meta{
		Title:       out.Title,
		Description: out.Description,
		Link:        h.pageURL(name),
		Icon:        out.Icon,
	}
	if meta.Title == "" {
		meta.Title = name
	}
	s := newSanitizer()
	entries := make([]entry, len(stories))
	for i, st := range stories {
		entries[i] = newEntry(s, st, meta.Link)
		if entries[i].Updated.After(meta.Updated) {
			meta.Updated = entries[i].Updated
		}
	}
	snap := &snapshot{version: version, variants: make(map[string]*variant, 4)}
	now := h.now().UTC().Truncate(time.Second)
	var buf bytes.Buffer
	for _, f := range formats {
		m := meta
		if h.opts.BaseURL != "" {
			m.Self = h.feedURL(name, f)
			m.Hubs = h.opts.Hubs
		}
		buf.Reset()
		if err := renderEntries(&buf, f, m, entries); err != nil {
			return nil, fmt.Errorf("output %s: %w", name, err)
		}
		snap.variants[string(f)] = h.finish(old, string(f), bytes.Clone(buf.Bytes()), f.ContentType(), meta.Updated, now)
	}
	buf.Reset()
	if err := h.writePage(&buf, out, meta, entries); err != nil {
		return nil, fmt.Errorf("page of output %s: %w", name, err)
	}
	snap.variants["html"] = h.finish(old, "html", bytes.Clone(buf.Bytes()), "text/html; charset=utf-8", meta.Updated, now)
	snap.hash = snap.variants[string(Atom)].etag
	h.log.Debug("rendered output", "output", name, "version", version, "stories", len(entries),
		"rss_bytes", len(snap.variants[string(RSS)].raw), "took", time.Since(start).Round(time.Millisecond))
	return snap, nil
}

// finish wraps a rendered document, keeping the previous Last-Modified when
// the bytes did not change and otherwise using the newest story date, or now
// when that would not move Last-Modified forward (a story was removed).
func (h *Handler) finish(old *snapshot, kind string, raw []byte, ctype string, updated, now time.Time) *variant {
	modified := updated.UTC().Truncate(time.Second)
	if old != nil {
		if prev := old.variants[kind]; prev != nil {
			sum := sha256.Sum256(raw)
			if prev.etag == `"`+base64.RawURLEncoding.EncodeToString(sum[:12])+`"` {
				return prev
			}
			if !modified.After(prev.modified) {
				modified = now
			}
		}
	}
	if modified.IsZero() || modified.After(now) {
		modified = now
	}
	return newVariant(raw, ctype, modified)
}

// Header values shared by every response; net/http only reads them.
var (
	gzipValue    = []string{"gzip"}
	brValue      = []string{"br"}
	varyValue    = []string{"Accept-Encoding"}
	nosniffValue = []string{"nosniff"}
)

// serveVariant writes v, negotiating the encoding and answering
// conditional requests with 304.
func (h *Handler) serveVariant(w http.ResponseWriter, r *http.Request, v *variant) {
	hdr := w.Header()
	body, etag, length, file := v.raw, v.rawETag, v.rawLen, v.rawFile
	switch acceptedEncoding(r.Header.Get("Accept-Encoding")) {
	case "br":
		body, length, file = v.brotli()
		etag = v.brETag
		hdr["Content-Encoding"] = brValue
	case "gzip":
		body, etag, length, file = v.gz, v.gzETag, v.gzLen, v.gzFile
		hdr["Content-Encoding"] = gzipValue
	}
	hdr["Content-Type"] = v.ctype
	hdr["Etag"] = etag
	hdr["Last-Modified"] = v.lastMod
	hdr["Cache-Control"] = h.cacheControl
	hdr["Vary"] = varyValue
	hdr["X-Content-Type-Options"] = nosniffValue
	if notModified(r, v) {
		delete(hdr, "Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr["Content-Length"] = length
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	// sendfile pays only corked (measured: uncorked, it cost more than the
	// write below) and only through net/http's own ReadFrom, which a
	// wrapping ResponseWriter would hide.
	if _, ok := w.(io.ReaderFrom); ok && file != nil {
		if tc := cork(r); tc != nil {
			if f := file.get(); f != nil {
				// Bounded by the size, ReadFrom calls sendfile(2) once,
				// not once more to find the end.
				io.Copy(w, &io.LimitedReader{R: f, N: file.size}) // a failed write means the client went away
				uncork(tc)
				file.put(f)
				return
			}
			uncork(tc)
		}
	}
	w.Write(body) // a failed write means the client went away
}

// notModified applies RFC 9110's rules: If-None-Match (weak comparison,
// any encoding of the same bytes matches) wins over If-Modified-Since.
func notModified(r *http.Request, v *variant) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		base := strings.Trim(v.etag, `"`)
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimSpace(t)
			if t == "*" {
				return true
			}
			t = strings.Trim(strings.TrimPrefix(t, "W/"), `"`)
			t = strings.TrimSuffix(strings.TrimSuffix(t, "-gz"), "-br")
			if t == base {
				return true
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		t, err := http.ParseTime(ims)
		return err == nil && !v.modified.After(t)
	}
	return false
}

// acceptedEncoding picks "br", "gzip" or "" (identity) from an
// Accept-Encoding header, honouring q=0.
func acceptedEncoding(ae string) string {
	if ae == "" {
		return ""
	}
	var br, gz bool
	for _, part := range strings.Split(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(q), 64); err == nil && f == 0 {
				continue
			}
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "br":
			br = true
		case "gzip", "x-gzip":
			gz = true
		case "*":
			gz = true
		}
	}
	switch {
	case br:
		return "br"
	case gz:
		return "gzip"
	}
	return ""
}
