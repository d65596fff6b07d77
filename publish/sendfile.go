package publish

import (
	"context"
	"net"
	"net/http"
	"os"
	"sync"
)

// minFileBody is the smallest body worth serving through sendfile(2).
// Measured on loopback (scripts/bench-serve, CPU per request): at 112 kB a
// write from memory was cheaper, at 160 kB and more sendfile, corked, was.
// Bodies that fit the client's receive buffer at once (Linux's default
// tcp_rmem is 128 KiB) leave in one write; larger ones wait on the client,
// and then copying them through our write costs more than the few more
// system calls (cork, uncork, rewind) the file needs.
const minFileBody = 128 << 10

// maxIdleFiles bounds the rewound descriptors a fileBody keeps for reuse;
// past it, descriptors are closed when their response is done.
const maxIdleFiles = 64

// fileBody is a rendered body also held in a sealed, anonymous in-memory
// file, so that it can be sent with sendfile(2): given an *os.File,
// net/http lets the kernel hand the file's pages to the socket instead of
// copying the bytes from our heap in a write(2). Measured on loopback, that
// pays only with the connection corked (see [ConnContext]).
//
// sendfile reads from the offset of an open file description, so
// concurrent responses each need a descriptor of their own: fileBody opens
// them on demand and keeps the idle ones, rewound, for the next response.
type fileBody struct {
	size int64
	// open returns a new read-only descriptor at offset 0.
	open func() (*os.File, error)
	// release frees what open needs (the file itself).
	release func()

	// mu guards idle and closed.
	mu     sync.Mutex
	idle   []*os.File
	closed bool
}

// newFileBody returns b as a fileBody, or nil when b is too small to gain
// from sendfile or the system offers no anonymous files: the caller then
// serves b from memory.
func newFileBody(b []byte) *fileBody {
	if len(b) < minFileBody {
		return nil
	}
	open, release, err := anonymousFile(b)
	if err != nil {
		return nil
	}
	return &fileBody{size: int64(len(b)), open: open, release: release}
}

// get returns a descriptor at offset 0 for one response, to be handed back
// with put; nil when fb is nil or closed or no descriptor can be opened
// (the caller serves from memory then).
func (fb *fileBody) get() *os.File {
	if fb == nil {
		return nil
	}
	fb.mu.Lock()
	if fb.closed {
		fb.mu.Unlock()
		return nil
	}
	if n := len(fb.idle); n > 0 {
		f := fb.idle[n-1]
		fb.idle = fb.idle[:n-1]
		fb.mu.Unlock()
		return f
	}
	// Opening under mu keeps close from releasing the file meanwhile.
	f, err := fb.open()
	fb.mu.Unlock()
	if err != nil {
		return nil
	}
	return f
}

// put takes back a descriptor from get, whatever its offset.
func (fb *fileBody) put(f *os.File) {
	if _, err := f.Seek(0, 0); err != nil {
		f.Close()
		return
	}
	fb.mu.Lock()
	if fb.closed || len(fb.idle) >= maxIdleFiles {
		fb.mu.Unlock()
		f.Close()
		return
	}
	fb.idle = append(fb.idle, f)
	fb.mu.Unlock()
}

// close releases the file and the idle descriptors; descriptors still
// serving a response are closed by put. Later gets return nil. close is
// safe to call on a nil fileBody and more than once.
func (fb *fileBody) close() {
	if fb == nil {
		return
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if fb.closed {
		return
	}
	fb.closed = true
	for _, f := range fb.idle {
		f.Close()
	}
	fb.idle = nil
	fb.release()
}

// connKey is the context key of the connection a request came in on.
type connKey struct{}

// ConnContext is meant for [http.Server.ConnContext]: it lets the handler
// cork the TCP connection (TCP_CORK, on Linux) while it writes a large
// response, so that the headers and the body leave in full segments rather
// than the headers in a small packet of their own. On loopback that halves
// the segments per response and most of the kernel's work; nginx does the
// same with tcp_nopush. Without it, responses are correct, only dearer.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*net.TCPConn); ok {
		return context.WithValue(ctx, connKey{}, tc)
	}
	return ctx
}

// cork corks r's connection, when [ConnContext] recorded it, and returns
// it for uncork; nil otherwise.
func cork(r *http.Request) *net.TCPConn {
	tc, ok := r.Context().Value(connKey{}).(*net.TCPConn)
	if !ok || !setCork(tc, true) {
		return nil
	}
	return tc
}

// uncork sends what cork held back; tc may be nil.
func uncork(tc *net.TCPConn) {
	if tc != nil {
		setCork(tc, false)
	}
}
