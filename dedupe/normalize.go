package dedupe

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Normalize returns s as the comparison text of a news title or summary:
// markup stripped, entities decoded, Unicode folded (NFKC, lower case,
// diacritics removed), wire-style prefixes ("UPDATE 2:", "BREAKING:") and a
// trailing truncation ("…", "...") with its cut-off word removed, and every
// run of punctuation and space collapsed to one space. Stop words are kept:
// Normalize is for reading and exact comparison; [Tokens] gives the terms
// the similarity stage uses.
//
// Normalize is idempotent: Normalize(Normalize(s)) == Normalize(s).
func Normalize(s string) string {
	words, _ := splitWords(cleanText(s, ""), 0)
	return joinWords(words)
}

func joinWords(words []word) string {
	var b strings.Builder
	for _, w := range words {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w.text)
	}
	return b.String()
}

// Tokens returns the informative terms of s in order: the words of
// [Normalize] without stop words, lightly stemmed (plural and possessive
// endings), numbers of two or more characters kept, and runs of Chinese,
// Japanese or Korean script cut into overlapping character bigrams (those
// scripts do not separate words with spaces).
func Tokens(s string) []string {
	words, _ := splitWords(cleanText(s, ""), 0)
	out := make([]string, 0, len(words))
	for _, w := range words {
		out = appendTerms(out, w)
	}
	return out
}

// word is one word of a cleaned text: its folded form and whether the
// publisher wrote it capitalised (a hint that it names something).
type word struct {
	text string
	cap  bool
	cjk  bool
	cls  uint8 // the word's classes (classify), 0 until classified
}

// cleanText strips markup, decodes entities, applies NFKC and removes
// outlet boilerplate, keeping case (capitalisation is a signal). feed is
// the publishing feed's name, removed when the text ends with it.
func cleanText(s, feed string) string {
	// One pass over s tells what the usual text (valid, no markup, ASCII
	// or already NFKC, single spaces) needs; only a text that the steps
	// below change is scanned again for white space.
	sc := scanText(s)
	changed := false
	if sc.high && !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, " ")
		changed = true
	}
	if sc.markup {
		s = stripTags(s)
		s = html.UnescapeString(s)
		s = stripTags(s) // entities can encode markup: "&lt;b&gt;"
		changed = true
	}
	if (sc.high || changed) && !isNFKC(s) {
		s = norm.NFKC.String(s)
		changed = true
	}
	switch {
	case changed:
		s = collapseSpace(s)
	case sc.spaces:
		s = strings.Join(strings.Fields(s), " ")
	}
	s = stripTruncation(s)
	for range 3 { // "UPDATE 1-EXCLUSIVE-..." stacks prefixes
		t := stripPrefix(s)
		if t == s {
			break
		}
		s = t
	}
	s = stripSuffix(s, feed)
	return s
}

// isNFKC is norm.NFKC.IsNormalString(s) for a valid s, but that it
// decides most texts of news without x/text: a text whose runes are
// ASCII or in nfkcPlain is in NFKC. Only a text with another rune is
// checked by x/text.
func isNFKC(s string) bool {
	for i := 0; i < len(s); {
		if i+8 <= len(s) && load64(s[i:])&0x8080808080808080 == 0 {
			i += 8
			continue
		}
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if k := int(r) >> 6; k >= len(nfkcPlain) || nfkcPlain[k]&(1<<(r&63)) == 0 {
			return norm.NFKC.IsNormalString(s)
		}
		i += n
	}
	return true
}

// nfkcPlain holds the runes of Latin script and of general punctuation
// (the quotes, dashes and ellipses of news) that are in NFKC on their
// own and cannot combine with a rune before them: a text of such runes
// and ASCII (whose characters are all of that kind) is in NFKC, as no
// rune of it can compose with, or be reordered around, its neighbours.
var nfkcPlain = func() (set [(0x2070 + 63) / 64]uint64) {
	for _, rg := range [][2]rune{{0x80, 0x250}, {0x2000, 0x2070}} {
		for r := rg[0]; r < rg[1]; r++ {
			s := string(r)
			if p := norm.NFKC.PropertiesString(s); p.BoundaryBefore() && p.CCC() == 0 && norm.NFKC.IsNormalString(s) {
				set[r>>6] |= 1 << (r & 63)
			}
		}
	}
	return set
}()

// textScan is what scanText finds in a text.
type textScan struct {
	high   bool // a byte outside ASCII
	markup bool // a "<" or "&"
	// spaces: collapseSpace would change the text (white space other
	// than single spaces between words), as far as a valid text tells.
	spaces bool
}

// scanText reads s once for what cleanText needs to know of it. Most of
// a headline or lead is printable ASCII with single spaces: eight such
// bytes are checked at once (scanWord), and only the others one at a
// time.
func scanText(s string) textScan {
	var sc textScan
	prevSpace := true // the previous rune was white space, or s starts
	for i := 0; i < len(s); {
		if i+8 <= len(s) {
			if x := load64(s[i:]); plainASCII(x) {
				sp := zeroBytes(x ^ 0x2020202020202020)
				if sp&(sp<<8) != 0 || prevSpace && sp&0x80 != 0 {
					sc.spaces = true // two spaces in a row, or a leading one
				}
				if zeroBytes(x^0x3c3c3c3c3c3c3c3c)|zeroBytes(x^0x2626262626262626) != 0 {
					sc.markup = true // a "<" or "&"
				}
				prevSpace = sp>>63 != 0
				i += 8
				continue
			}
		}
		// Up to the next eight bytes one at a time.
		for end := min(i+8, len(s)); i < end; i++ {
			switch c := s[i]; {
			case c > ' ' && c < utf8.RuneSelf:
				if c == '<' || c == '&' {
					sc.markup = true
				}
				prevSpace = false
			case c == ' ':
				if prevSpace {
					sc.spaces = true
				}
				prevSpace = true
			case c < utf8.RuneSelf:
				prevSpace = c >= '\t' && c <= '\r'
				if prevSpace {
					sc.spaces = true
				}
			default:
				sc.high = true
				prevSpace = false
				// White space outside ASCII starts with one of these bytes
				// (U+0085, U+00A0, U+1680, U+2000–U+205F, U+3000).
				if c == 0xc2 || c == 0xe1 || c == 0xe2 || c == 0xe3 {
					if r, n := utf8.DecodeRuneInString(s[i:]); unicode.IsSpace(r) {
						sc.spaces, prevSpace = true, true
						i += n - 1
					}
				}
			}
		}
	}
	if prevSpace {
		sc.spaces = true
	}
	return sc
}

// plainASCII reports whether the eight bytes of x (as load64 reads them)
// are all printable ASCII or spaces: none below ' ', none from 0x80.
func plainASCII(x uint64) bool {
	const low7, below = 0x7f7f7f7f7f7f7f7f, 0x6060606060606060 // 0x80 - ' '
	// A byte under 0x80 plus 0x60 reaches 0x80 exactly when it is ' ' or
	// more; no sum carries into the next byte.
	return (x|^((x&low7)+below))&0x8080808080808080 == 0
}

// zeroBytes returns the high bit of each zero byte of x, exactly (no
// borrow from one byte to the next).
func zeroBytes(x uint64) uint64 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	return ^((x&low7 + low7) | x | low7)
}

// load64 reads the first eight bytes of s, little-endian: byte k is
// bits 8k to 8k+7.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// stripTags removes HTML tags, and the content of script and style
// elements, replacing each tag with a space.
func stripTags(s string) string {
	if !strings.Contains(s, "<") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		rest := s[i+1:]
		// Only "<" followed by a letter, "/", "!" or "?" opens a tag;
		// "a < b" is text.
		if rest == "" || !(isASCIILetter(rest[0]) || rest[0] == '/' || rest[0] == '!' || rest[0] == '?') {
			b.WriteByte('<')
			s = rest
			continue
		}
		j := strings.IndexByte(rest, '>')
		if j < 0 {
			break // an unterminated tag: drop the rest
		}
		tag := strings.ToLower(rest[:j])
		s = rest[j+1:]
		b.WriteByte(' ')
		for _, el := range [...]string{"script", "style"} {
			if strings.HasPrefix(tag, el) {
				if k := strings.Index(strings.ToLower(s), "</"+el); k >= 0 {
					s = s[k:]
				} else {
					s = ""
				}
			}
		}
	}
	return b.String()
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// stripTruncation removes a trailing "…" or "..." together with the word it
// cut, which is usually partial ("The Federal Reserve sai...").
func stripTruncation(s string) string {
	t := strings.TrimRight(s, " ")
	switch {
	case strings.HasSuffix(t, "…"):
		t = strings.TrimSuffix(t, "…")
	case strings.HasSuffix(t, "..."):
		t = strings.TrimRight(t, ".")
	default:
		return s
	}
	if strings.HasSuffix(t, " ") || t == "" {
		return strings.TrimRight(t, " ") // the cut fell between words
	}
	if i := strings.LastIndexByte(t, ' '); i >= 0 {
		return t[:i]
	}
	return t
}

// wirePrefixes are labels that news wires and sites put before a headline.
// They say nothing about the story.
var wirePrefixes = []string{
	"update", "updated", "updates", "breaking", "breaking news", "exclusive",
	"watch", "video", "videos", "photos", "photo", "gallery", "live", "live updates",
	"analysis", "opinion", "op-ed", "editorial", "rpt", "refile", "corrected",
	"correction", "factbox", "timeline", "instant view", "wrapup", "urgent",
	"just in", "developing", "podcast", "audio", "listen", "read", "report",
}

// prefixesByLetter lists wirePrefixes by their first letter, in their
// order: a text is compared with the few that start as it does.
var prefixesByLetter = func() (by [26][]string) {
	for _, p := range wirePrefixes {
		by[p[0]-'a'] = append(by[p[0]-'a'], p)
	}
	return by
}()

// stripPrefix removes one wire label such as "UPDATE 2:", "BREAKING -" or
// "RPT-UPDATE 1-" from the start of s.
func stripPrefix(s string) string {
	if s == "" || !isASCIILetter(s[0]) {
		return s
	}
	for _, p := range prefixesByLetter[s[0]|0x20-'a'] {
		if !hasPrefixFold(s, p) {
			continue
		}
		rest := s[len(p):]
		// An optional number: "UPDATE 2".
		r := strings.TrimLeft(rest, " ")
		r = strings.TrimLeft(r, "0123456789")
		r = strings.TrimLeft(r, " ")
		if r == "" {
			continue
		}
		switch {
		case strings.HasPrefix(r, ":"), strings.HasPrefix(r, "-"), strings.HasPrefix(r, "|"):
			r = r[1:]
		case strings.HasPrefix(r, "—"), strings.HasPrefix(r, "–"):
			r = r[len("—"):]
		default:
			continue
		}
		r = strings.TrimLeft(r, " ")
		if r == "" {
			continue
		}
		return r
	}
	return s
}

// wireSuffixes are outlets whose name news sites commonly append to a
// headline ("... - Reuters").
var wireSuffixes = map[string]bool{
	"reuters": true, "ap": true, "associated press": true, "afp": true,
	"bbc": true, "bbc news": true, "cnn": true, "cnn.com": true, "the guardian": true,
	"al jazeera": true, "bloomberg": true, "upi": true, "upi.com": true,
	"nyt": true, "the new york times": true, "fox news": true, "npr": true,
	"the associated press": true, "dpa": true, "efe": true, "ians": true, "pti": true,
}

// suffixSeparators separate a headline from the outlet name after it.
var suffixSeparators = [...]string{" | ", " - ", " — ", " – ", " :: "}

// stripSuffix removes a trailing outlet name: the feed's own name, a wire
// agency, a host name, or any short segment after " | " (sites use the
// pipe for their name, rarely for the story).
func stripSuffix(s, feed string) string {
	// A separator followed by more than 6 words is never the one: look
	// only at the end of a long summary.
	from := tailStart(s, 7)
	last := lastSeparators(s[from:])
	for k, sep := range suffixSeparators {
		i := last[k]
		if i >= 0 {
			i += from
		}
		if i <= 0 {
			continue
		}
		head, tail := s[:i], strings.TrimSpace(s[i+len(sep):])
		nw := len(strings.Fields(tail))
		if nw == 0 || nw > 6 {
			continue
		}
		ft := foldKey(tail)
		if ft == "" {
			continue
		}
		switch {
		case feed != "" && (ft == foldKey(feed) || nw <= 4 && strings.Contains(foldKey(feed), ft)):
		case wireSuffixes[strings.ToLower(tail)]:
		case isHostName(tail):
		case sep == " | " && nw <= 4:
		default:
			continue
		}
		return strings.TrimSpace(head)
	}
	return s
}

// tailStart returns the index of the space before the last n words of s
// (0 if it has fewer), counting only space-separated runs with a visible
// ASCII character, which are words to strings.Fields too: a separator
// before that space is followed by at least n words.
func tailStart(s string, n int) int {
	words, visible := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		switch c := s[i]; {
		case c == ' ':
			if visible {
				if words++; words == n {
					return i
				}
			}
			visible = false
		case c > ' ' && c < 0x7f:
			visible = true
		}
	}
	return 0
}

// lastSeparators returns where each of suffixSeparators last occurs in
// s (strings.LastIndex; -1: nowhere), from one backward pass over s:
// every separator starts with a space and a byte that is rarer, which
// is looked at only after a space.
func lastSeparators(s string) [len(suffixSeparators)]int {
	var last [len(suffixSeparators)]int
	for k := range last {
		last[k] = -1
	}
	for p := len(s) - 2; p >= 0; p-- {
		if s[p] != ' ' {
			continue
		}
		switch s[p+1] {
		case '|', '-', ':', "—"[0]: // "–" starts with the same byte
		default:
			continue
		}
		for k, sep := range suffixSeparators {
			if last[k] < 0 && strings.HasPrefix(s[p:], sep) {
				last[k] = p
			}
		}
	}
	return last
}

// foldKey is a loose key for comparing outlet names.
func foldKey(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isHostName(s string) bool {
	if strings.ContainsAny(s, " ") || !strings.Contains(s, ".") {
		return false
	}
	for _, tld := range [...]string{".com", ".org", ".net", ".co.uk", ".in", ".ca", ".au", ".de", ".fr"} {
		if strings.HasSuffix(strings.ToLower(s), tld) {
			return true
		}
	}
	return false
}

// collapseSpace trims s and turns every run of white space into one space.
func collapseSpace(s string) string {
	clean := true
	prevSpace := true
	for i := 0; i < len(s); {
		var sp, other bool // white space; white space but not ' '
		if c := s[i]; c < utf8.RuneSelf {
			sp, other = c == ' ' || c >= '\t' && c <= '\r', c != ' '
			i++
		} else {
			r, n := utf8.DecodeRuneInString(s[i:])
			sp, other = unicode.IsSpace(r), true
			i += n
		}
		if sp && (prevSpace || other) {
			clean = false
			break
		}
		prevSpace = sp
	}
	if clean && !prevSpace {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// hasPrefixFold reports whether s starts with the lower-case ASCII prefix
// p, ignoring ASCII case.
func hasPrefixFold(s, p string) bool {
	if len(s) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}
