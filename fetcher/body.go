package fetcher

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/andybalholm/brotli"
)

// acceptEncoding is what we ask servers for. Every listed coding is
// decoded by decodeBody, with the size cap applied to the decoded bytes.
const acceptEncoding = "gzip, deflate, br"

// countingReader counts the bytes read through it: the wire size of a
// body, before decompression.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readBody reads the decoded body of resp into buf, refusing bodies whose
// decoded size exceeds max. It returns the bytes received on the wire.
// The cap is checked while reading, so an oversized or endless body, or a
// compression bomb, costs at most max+1 decoded bytes of memory.
func readBody(resp *http.Response, max int64, buf *bytes.Buffer) (wire int64, err error) {
	cr := &countingReader{r: resp.Body}
	coding := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	if (coding == "" || coding == "identity") && resp.ContentLength > max {
		return 0, fmt.Errorf("%w: Content-Length %d exceeds the limit of %d bytes", ErrTooLarge, resp.ContentLength, max)
	}
	r, coding, err := decodeBody(bufio.NewReaderSize(cr, 4096), coding)
	if err != nil {
		return cr.n, err
	}
	if resp.ContentLength > 0 && resp.ContentLength <= max && (coding == "" || coding == "identity") {
		buf.Grow(int(resp.ContentLength) + 1)
	}
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		if coding != "" && coding != "identity" && !isNetErr(err) {
			err = fmt.Errorf("%w (%s): %w", ErrEncoding, coding, err)
		}
		return cr.n, err
	}
	if n > max {
		return cr.n, fmt.Errorf("%w: more than %d bytes after decoding", ErrTooLarge, max)
	}
	return cr.n, nil
}

// isNetErr tells transport failures (timeouts, resets) from corrupt
// compressed data, which the decoders report with their own errors.
func isNetErr(err error) bool {
	return ErrorKind(err) == "timeout" || ErrorKind(err) == "connect" || ErrorKind(err) == "canceled"
}

// decodeBody wraps r in the decoders for the Content-Encoding coding (a
// comma-separated list, applied in order, so decoded in reverse). A body
// sent gzip-compressed without saying so is recognised by its magic
// number, as browsers do. It also returns the coding it applies, that
// sniffed one included.
func decodeBody(r *bufio.Reader, coding string) (io.Reader, string, error) {
	if coding == "" {
		if magic, _ := r.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
			coding = "gzip"
		}
	}
	out, err := decoders(r, coding)
	return out, coding, err
}

// decoders wraps r in the decoders for coding.
func decoders(r *bufio.Reader, coding string) (io.Reader, error) {
	codings := strings.Split(coding, ",")
	var out io.Reader = r
	for i := len(codings) - 1; i >= 0; i-- {
		switch c := strings.TrimSpace(codings[i]); c {
		case "", "identity":
		case "gzip", "x-gzip":
			zr, err := gzip.NewReader(out)
			if err != nil {
				return nil, fmt.Errorf("%w (gzip): %w", ErrEncoding, err)
			}
			out = zr
		case "deflate":
			// "deflate" means zlib-wrapped DEFLATE, but some servers send
			// raw DEFLATE; tell them apart by the zlib header.
			br := bufio.NewReader(out)
			if h, _ := br.Peek(2); len(h) == 2 && h[0]&0x0f == 8 && (uint16(h[0])<<8|uint16(h[1]))%31 == 0 {
				zr, err := zlib.NewReader(br)
				if err != nil {
					return nil, fmt.Errorf("%w (deflate): %w", ErrEncoding, err)
				}
				out = zr
			} else {
				out = flate.NewReader(br)
			}
		case "br":
			out = brotli.NewReader(out)
		default:
			return nil, fmt.Errorf("%w: unsupported Content-Encoding %q", ErrEncoding, c)
		}
	}
	return out, nil
}
