package fetcher

import (
	"bytes"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"time"
)

// TreatAsPublic makes c treat addresses in p as public, so that tests can
// play a "public" server on a loopback address (there is no internet).
func TreatAsPublic(c *Client, p netip.Prefix) { c.public = append(c.public, p) }

// DialCheckOnly leaves private-address refusal to the dialer alone.
func DialCheckOnly(c *Client) { c.dialCheckOnly = true }

// ParseBody runs the document path of a fetch (charset, sniffing,
// parsing, item conversion) on body without HTTP, for the fuzz target.
func ParseBody(c *Client, body []byte, contentType string) (items int, err error) {
	base, _ := url.Parse("http://feed.example/feed.xml")
	p, err := c.parse(toUTF8(body, contentType), base.String(), contentType)
	if err != nil {
		return 0, err
	}
	return len(convertItems(p.feed, "fuzz", siteBase(p.feed, base), time.Time{}, c.opts.MaxItems).items), nil
}

// ParseOnly parses a UTF-8 document as a fetch does, without converting
// its items, for benchmarks.
func ParseOnly(c *Client, body []byte) error {
	_, err := c.parser.parse(body)
	return err
}

// DecodeBody runs the decoding half of the document path on a raw body:
// the Content-Encoding decoders under the size cap, then the charset
// conversion. It returns what the parser would be given.
func DecodeBody(raw []byte, coding, contentType string, max int64) ([]byte, error) {
	resp := &http.Response{Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(raw)), ContentLength: -1}
	if coding != "" {
		resp.Header.Set("Content-Encoding", coding)
	}
	var buf bytes.Buffer
	if _, err := readBody(resp, max, &buf); err != nil {
		return nil, err
	}
	return toUTF8(buf.Bytes(), contentType), nil
}
