package dedupe

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// scanTextBytes is scanText one byte at a time, without the eight-byte
// path: what scanText must agree with.
func scanTextBytes(s string) textScan {
	var sc textScan
	prevSpace := true
	for i := 0; i < len(s); i++ {
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
			if r, n := utf8.DecodeRuneInString(s[i:]); unicode.IsSpace(r) {
				sc.spaces, prevSpace = true, true
				i += n - 1
			}
		}
	}
	if prevSpace {
		sc.spaces = true
	}
	return sc
}

// TestScanTextWords checks scanText against scanTextBytes on random
// texts made of the bytes and runes that change its answer, at every
// alignment.
func TestScanTextWords(t *testing.T) {
	parts := []string{"a", "Z", "0", " ", "  ", "<", "&", "\t", "\n", "\r", "\x00", "\x1f", "\x7f", "~", "é", "\u00a0", "\u0085", "\u2003", "\u3000", "\u1680", "’", "\xff", "\xc2", "\xe2\x80", "abcdefgh", "word word"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteString(parts[r.IntN(len(parts))])
		}
		s := b.String()
		if got, want := scanText(s), scanTextBytes(s); got != want {
			t.Fatalf("scanText(%q) = %+v, want %+v", s, got, want)
		}
	}
}

func TestZeroBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 100_000 {
		var x, want uint64
		ascii := true
		for k := range 8 {
			var c uint64
			switch r.IntN(4) {
			case 0:
				c = 0
			case 1:
				c = 0x20
			default:
				c = uint64(r.IntN(256))
			}
			x |= c << (8 * k)
			if c == 0 {
				want |= 0x80 << (8 * k)
			}
			ascii = ascii && c >= 0x20 && c < 0x80
		}
		if got := zeroBytes(x); got != want {
			t.Fatalf("zeroBytes(%#x) = %#x, want %#x", x, got, want)
		}
		if got := plainASCII(x); got != ascii {
			t.Fatalf("plainASCII(%#x) = %v, want %v", x, got, ascii)
		}
	}
}

// TestLastSeparators checks lastSeparators against strings.LastIndex on
// random texts of separators, their parts and words.
func TestLastSeparators(t *testing.T) {
	parts := []string{" ", "|", "-", "—", "–", ":", "::", "a", "word", " | ", " - ", " — ", " – ", " :: ", "\u2014"[:1]}
	r := rand.New(rand.NewPCG(5, 6))
	for range 100_000 {
		var b strings.Builder
		for range r.IntN(10) {
			b.WriteString(parts[r.IntN(len(parts))])
		}
		s := b.String()
		got := lastSeparators(s)
		for k, sep := range suffixSeparators {
			if want := strings.LastIndex(s, sep); got[k] != want {
				t.Fatalf("lastSeparators(%q)[%q] = %d, want %d", s, sep, got[k], want)
			}
		}
	}
}

// TestClassTable checks wordClasses against the lists it merges, for
// the listed words and for words near them.
func TestClassTable(t *testing.T) {
	want := func(w string) uint8 {
		var c uint8
		if stopWords[w] {
			c |= clsStop
		}
		if dateWords[w] {
			c |= clsDate
		}
		for k := langEnglish; k <= langGerman; k++ {
			if langWords[w]&(1<<k) != 0 {
				c |= 1 << (clsLang0 + k - 1)
			}
		}
		return c
	}
	var words []string
	for _, m := range []map[string]bool{stopWords, dateWords} {
		for w := range m {
			words = append(words, w)
		}
	}
	for w := range langWords {
		words = append(words, w)
	}
	for _, w := range slices.Clone(words) {
		words = append(words, w+"s", w[1:], w[:len(w)-1], strings.ToUpper(w), w+w, "x"+w)
	}
	words = append(words, "", "a", "zz", "internationally", "responsibilities", "abcdefghijklmnopq")
	for _, w := range words {
		if got := wordClasses.get(w); got != want(w) {
			t.Errorf("classes of %q: got %#x, want %#x", w, got, want(w))
		}
	}
}

// TestIsNFKC checks isNFKC against x/text on random texts of ASCII, of
// the runes nfkcPlain holds, of runes next to them and of combining
// marks.
func TestIsNFKC(t *testing.T) {
	var pool []string
	for r := rune(0x20); r < 0x2100; r++ {
		if r < 0x7f || r >= 0xa0 && r < 0x400 || r >= 0x1e00 && r < 0x1f00 || r >= 0x2000 {
			pool = append(pool, string(r))
		}
	}
	pool = append(pool, "\u0301", "\u0308", "\u0338", "\u1100", "\u1161", "\u11a8", "가", "ﬁ", "①", "Å", "Ω", "K")
	r := rand.New(rand.NewPCG(7, 8))
	for range 300_000 {
		var b strings.Builder
		for range 1 + r.IntN(4) {
			b.WriteString(pool[r.IntN(len(pool))])
		}
		if r.IntN(2) == 0 {
			b.WriteString(" plain ascii text ")
		}
		s := b.String()
		if got, want := isNFKC(s), norm.NFKC.IsNormalString(s); got != want {
			t.Fatalf("isNFKC(%q) = %v, want %v", s, got, want)
		}
	}
}
