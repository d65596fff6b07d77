package fetcher

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"
)

// toUTF8 returns body as UTF-8, so that the parser never has to guess.
// The charset comes from, in order: a byte order mark (or the XML
// spec's autodetection of UTF-16/32), the Content-Type header, the XML
// declaration, else UTF-8. Two repairs for what servers get wrong in the
// wild: a body that is not valid in the chosen UTF-8 falls back to the
// declared charset or Windows-1252; and a header naming Latin-1 (the
// default of many servers) does not override a body that is valid,
// non-ASCII UTF-8 declared as such. The XML declaration of a converted
// document is rewritten to say utf-8. The common case, valid UTF-8 that
// says so, is returned without copying.
func toUTF8(body []byte, contentType string) []byte {
	body = bytes.TrimLeft(body, " \t\r\n")
	if enc, n := sniffUnicode(body); enc != nil {
		out, err := enc.NewDecoder().Bytes(body[n:])
		if err != nil {
			return body
		}
		return declareUTF8(bytes.TrimLeft(out, " \t\r\n"))
	}
	if len(body) >= 3 && body[0] == 0xef && body[1] == 0xbb && body[2] == 0xbf {
		return declareUTF8(bytes.TrimLeft(body[3:], " \t\r\n"))
	}
	header := headerCharset(contentType)
	if len(body) > 0 && (body[0] == '{' || body[0] == '[') {
		// JSON is UTF-8 unless a header insists otherwise.
		if e, name := lookup(header); e != nil && name != "utf-8" && !utf8.Valid(body) {
			if out, err := e.NewDecoder().Bytes(body); err == nil {
				return out
			}
		}
		return body
	}
	declared := declaredCharset(body)
	enc, name := lookup(header)
	if enc == nil {
		enc, name = lookup(declared)
	}
	if enc == nil {
		name = "utf-8"
	}
	valid := utf8.Valid(body)
	switch {
	case name == "utf-8" && valid:
		return declareUTF8(body)
	case name == "utf-8":
		if d, dn := lookup(declared); d != nil && dn != "utf-8" {
			enc = d
		} else {
			enc, _ = lookup("windows-1252")
		}
	case valid && isASCII(body):
		return declareUTF8(body) // every ASCII-compatible charset agrees
	case valid && name == "windows-1252":
		if _, dn := lookup(declared); declared == "" || dn == "utf-8" {
			return declareUTF8(body)
		}
	}
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		return body
	}
	return declareUTF8(out)
}

// lookup resolves a charset label to its decoder and canonical name, or
// nil when the label is empty or unknown. UTF-32 is not in the WHATWG
// list that x/net's charset knows, so it is handled here.
func lookup(label string) (encoding.Encoding, string) {
	label = strings.ToLower(strings.TrimSpace(label))
	switch label {
	case "":
		return nil, ""
	case "utf-32", "utf-32be", "ucs-4":
		return utf32.UTF32(utf32.BigEndian, utf32.UseBOM), "utf-32be"
	case "utf-32le":
		return utf32.UTF32(utf32.LittleEndian, utf32.IgnoreBOM), "utf-32le"
	}
	e, name := charset.Lookup(label)
	if e == nil {
		return nil, ""
	}
	return e, name
}

// sniffUnicode recognises UTF-16 and UTF-32 by their byte order mark or,
// without one, by how "<?" or "<" is encoded (XML 1.0, appendix F). It
// returns the decoder and the length of the mark to skip.
func sniffUnicode(b []byte) (encoding.Encoding, int) {
	switch {
	case bytes.HasPrefix(b, []byte{0x00, 0x00, 0xfe, 0xff}):
		return utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM), 4
	case bytes.HasPrefix(b, []byte{0xff, 0xfe, 0x00, 0x00}):
		return utf32.UTF32(utf32.LittleEndian, utf32.IgnoreBOM), 4
	case bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), 2
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}):
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), 2
	case bytes.HasPrefix(b, []byte{0x00, 0x00, 0x00, '<'}):
		return utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM), 0
	case bytes.HasPrefix(b, []byte{'<', 0x00, 0x00, 0x00}):
		return utf32.UTF32(utf32.LittleEndian, utf32.IgnoreBOM), 0
	case bytes.HasPrefix(b, []byte{0x00, '<', 0x00}):
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), 0
	case bytes.HasPrefix(b, []byte{'<', 0x00, '?', 0x00}), bytes.HasPrefix(b, []byte{'<', 0x00, '!', 0x00}),
		len(b) > 3 && b[0] == '<' && b[1] == 0 && b[2] != 0 && b[3] == 0:
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), 0
	}
	return nil, 0
}

// headerCharset extracts the charset parameter of a Content-Type,
// tolerating the quoting and spacing mistakes servers make
// (charset= 'us-ascii', charset = "x").
func headerCharset(contentType string) string {
	_, params, ok := strings.Cut(contentType, ";")
	if !ok {
		return ""
	}
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "charset") {
			continue
		}
		return strings.Trim(strings.TrimSpace(v), `"' `)
	}
	return ""
}

// prolog returns the XML declaration at the start of b ("<?xml ... ?>")
// and whether there is one.
func prolog(b []byte) ([]byte, bool) {
	if !bytes.HasPrefix(b, []byte("<?xml")) {
		return nil, false
	}
	end := bytes.Index(b[:min(len(b), 512)], []byte("?>"))
	if end < 0 {
		return nil, false
	}
	return b[:end], true
}

// encodingAttr locates the value of the encoding pseudo-attribute in an
// XML declaration: its start and end offsets, or -1.
func encodingAttr(decl []byte) (int, int) {
	i := bytes.Index(decl, []byte("encoding"))
	if i < 0 {
		return -1, -1
	}
	j := i + len("encoding")
	for j < len(decl) && (decl[j] == ' ' || decl[j] == '=' || decl[j] == '\t') {
		j++
	}
	if j >= len(decl) || (decl[j] != '"' && decl[j] != '\'') {
		return -1, -1
	}
	q := decl[j]
	k := bytes.IndexByte(decl[j+1:], q)
	if k < 0 {
		return -1, -1
	}
	return j + 1, j + 1 + k
}

// declaredCharset is the encoding named by the XML declaration, or "".
func declaredCharset(b []byte) string {
	decl, ok := prolog(b)
	if !ok {
		return ""
	}
	s, e := encodingAttr(decl)
	if s < 0 {
		return ""
	}
	return string(decl[s:e])
}

// declareUTF8 makes the XML declaration of a UTF-8 document say so, or
// the parser would decode it a second time.
func declareUTF8(b []byte) []byte {
	decl, ok := prolog(b)
	if !ok {
		return b
	}
	s, e := encodingAttr(decl)
	if s < 0 || strings.EqualFold(string(decl[s:e]), "utf-8") {
		return b
	}
	out := make([]byte, 0, len(b))
	out = append(out, b[:s]...)
	out = append(out, "utf-8"...)
	return append(out, b[e:]...)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
