package publish

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
)

// spool keeps a copy of each served document in a private temporary
// directory so that large bodies go out through sendfile(2), as a static
// file server's do, instead of being copied through user space on every
// request. Files are created on first use (Export never needs them) and
// removed when their document is replaced or the handler is closed; a
// request that finds its file gone falls back to the bytes in memory.
type spool struct {
	// mu guards dir and closed.
	mu     sync.Mutex
	dir    string
	closed bool
}

// minSpool is the body size from which sendfile pays for the open(2) it
// costs per request.
const minSpool = 128 << 10

// path returns the file holding body (creating it on first use), or "" to
// serve from memory.
func (s *spool) path(v *variant, enc int, body []byte) string {
	if len(body) < minSpool {
		return ""
	}
	v.fmu.Lock()
	defer v.fmu.Unlock()
	if v.dead {
		return ""
	}
	if p := v.files[enc]; p != "" {
		return p
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ""
	}
	if s.dir == "" {
		dir, err := os.MkdirTemp("", "aggregator-publish-")
		if err != nil {
			s.mu.Unlock()
			return ""
		}
		s.dir = dir
	}
	dir := s.dir
	s.mu.Unlock()
	f, err := os.CreateTemp(dir, "doc-")
	if err != nil {
		return ""
	}
	_, werr := f.Write(body)
	if cerr := f.Close(); werr != nil || cerr != nil {
		os.Remove(f.Name())
		return ""
	}
	v.files[enc] = f.Name()
	return f.Name()
}

// release removes v's files and closes its idle descriptors; later
// requests for v are served from memory.
func (v *variant) release() {
	v.fmu.Lock()
	defer v.fmu.Unlock()
	v.dead = true
	for i, p := range v.files {
		if p != "" {
			os.Remove(p)
			v.files[i] = ""
		}
		for _, f := range v.idle[i] {
			f.Close()
		}
		v.idle[i] = nil
	}
}

// maxIdle bounds the open descriptors kept per document and encoding.
const maxIdle = 16

// take returns an open descriptor of the spooled file, positioned at its
// start, or nil to serve from memory. Reusing descriptors saves the
// open/fstat/close a request would otherwise cost.
func (s *spool) take(v *variant, enc int, body []byte) *os.File {
	p := s.path(v, enc, body)
	if p == "" {
		return nil
	}
	v.fmu.Lock()
	if n := len(v.idle[enc]); n > 0 {
		f := v.idle[enc][n-1]
		v.idle[enc] = v.idle[enc][:n-1]
		v.fmu.Unlock()
		return f
	}
	v.fmu.Unlock()
	f, err := os.Open(filepath.Clean(p))
	if err != nil {
		return nil
	}
	return f
}

// give returns a descriptor after use, rewound, or closes it.
func (v *variant) give(enc int, f *os.File, ok bool) {
	if ok {
		_, err := f.Seek(0, io.SeekStart)
		ok = err == nil
	}
	v.fmu.Lock()
	if ok && !v.dead && len(v.idle[enc]) < maxIdle {
		v.idle[enc] = append(v.idle[enc], f)
		f = nil
	}
	v.fmu.Unlock()
	if f != nil {
		f.Close()
	}
}

// close removes the spool directory and stops creating files.
func (s *spool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.dir == "" {
		return nil
	}
	err := os.RemoveAll(s.dir)
	s.dir = ""
	return err
}

// send writes body, through its spooled file when there is one.
func (s *spool) send(w http.ResponseWriter, v *variant, enc int, body []byte) {
	if f := s.take(v, enc, body); f != nil {
		// io.Copy reaches the connection's ReadFrom, which hands the
		// descriptor to sendfile; the limit spares a last call that would
		// only find the end of the file.
		n, err := io.Copy(w, &io.LimitedReader{R: f, N: int64(len(body))})
		v.give(enc, f, err == nil && n == int64(len(body)))
		if n > 0 || err == nil {
			return
		}
	}
	w.Write(body) // a failed write means the client went away
}

// Close removes the temporary files the handler keeps for fast serving.
// The handler still works afterwards, from memory. cmd calls it after the
// server has shut down.
func (h *Handler) Close() error {
	err := h.spool.close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.cache {
		for _, v := range s.variants {
			v.release()
		}
	}
	h.opml.release()
	return err
}
