package fetcher

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"
)

// toUTF8 returns body as UTF-8, so that the parser never has to guess.
//
// A byte order mark (or the XML spec's autodetection of UTF-16/32) is
// decisive. Otherwise a body that is valid UTF-8 is taken as UTF-8 whatever
// the labels say: servers and templates mislabel UTF-8 as ISO-8859-1 all
// the time, while text in a legacy charset is almost never valid UTF-8 by
// accident. Only a body that is not valid UTF-8 is decoded from a label:
// the Content-Type header's charset, else the XML declaration's, else
// Windows-1252; unless it is mostly UTF-8 (see mostlyUTF8), when its
// broken bytes become U+FFFD, as they do after a UTF-8 byte order mark. The XML declaration of the result is rewritten to say
// utf-8. The common case, valid UTF-8 that says so, costs one validation
// pass and no copy.
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
		body = bytes.TrimLeft(body[3:], " \t\r\n")
		if !utf8.Valid(body) {
			body = bytes.ToValidUTF8(body, []byte("\uFFFD"))
		}
		return declareUTF8(body)
	}
	if utf8.Valid(body) {
		return declareUTF8(body)
	}
	if mostlyUTF8(body) {
		return declareUTF8(bytes.ToValidUTF8(body, []byte("\uFFFD")))
	}
	var enc encoding.Encoding
	for _, label := range []string{headerCharset(contentType), declaredCharset(body), "windows-1252"} {
		if e, name := lookup(label); e != nil && name != "utf-8" {
			enc = e
			break
		}
	}
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		return body
	}
	return declareUTF8(out)
}

// mostlyUTF8 reports a body that is UTF-8 with some bytes broken: it has
// more well-formed multi-byte UTF-8 characters than bytes that are not
// UTF-8. Text in a legacy charset almost never forms multi-byte UTF-8
// sequences, while a UTF-8 document with a stray Latin-1 byte (a
// template's, a pasted title's) has many; decoding that one as Latin-1
// would turn every other non-ASCII character into mojibake.
func mostlyUTF8(b []byte) bool {
	multi, bad := 0, 0
	for len(b) > 0 {
		if b[0] < utf8.RuneSelf {
			b = b[1:]
			continue
		}
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			bad++
		} else {
			multi++
		}
		b = b[n:]
	}
	return multi > bad
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

// demoronize repairs text written in Windows-1252 but labelled as
// Unicode, a mistake old publishing tools make: the code points 0x80–0x9F
// (C1 controls in Unicode, never meant literally in a feed) and the
// numeric references &#128;–&#159; stand for Windows-1252's curly quotes,
// dashes and the euro sign. Strings without them are returned as they
// are, without allocating.
func demoronize(s string) string {
	if !hasC1(s) && !strings.Contains(s, "&#1") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if s[i] == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f {
			b.WriteRune(cp1252(s[i+1]))
			i += 2
			continue
		}
		if s[i] == '&' && strings.HasPrefix(s[i:], "&#1") {
			if end := strings.IndexByte(s[i:min(len(s), i+7)], ';'); end > 0 {
				if n, err := strconv.Atoi(s[i+2 : i+end]); err == nil && n >= 0x80 && n <= 0x9f {
					b.WriteString("&#x" + strconv.FormatInt(int64(cp1252(byte(n))), 16) + ";")
					i += end + 1
					continue
				}
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func hasC1(s string) bool {
	for i := strings.IndexByte(s, 0xc2); i >= 0 && i+1 < len(s); {
		if c := s[i+1]; c >= 0x80 && c <= 0x9f {
			return true
		}
		j := strings.IndexByte(s[i+1:], 0xc2)
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// cp1252 maps a byte 0x80–0x9F to the character Windows-1252 gives it
// (the byte itself as a code point where Windows-1252 leaves it unused).
func cp1252(c byte) rune {
	if r := charmap.Windows1252.DecodeByte(c); r != '\ufffd' {
		return r
	}
	return rune(c)
}
