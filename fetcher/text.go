package fetcher

import (
	"strconv"
	"strings"

	"golang.org/x/text/encoding/charmap"
)

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
