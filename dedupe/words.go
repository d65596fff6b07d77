package dedupe

import (
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// splitWords cuts a cleaned text into folded words. Apostrophes inside a
// word are dropped ("don't" is "dont"), a possessive "'s" with its "s"
// ("McDonald's" is "mcdonald"), thousands separators inside numbers are
// dropped ("14,000" is "14000") and decimal points kept ("1.5"). A run of
// Chinese, Japanese or Korean script is one word of its own, flagged so
// that [appendTerms] cuts it into bigrams. Only the first limit words are
// returned (all when limit <= 0); total counts them all.
func splitWords(s string, limit int) (out []word, total int) {
	return splitWordsInto(nil, nil, s, limit)
}

// wordBuf is scratch space for splitWordsInto.
type wordBuf struct {
	cur []rune // the current word, once it holds a rune outside ASCII
	// ascii holds the plain ASCII words of the text one after the other,
	// made into one string at the end rather than one per word; spans
	// says which word of out takes which bytes.
	ascii []byte
	spans []wordSpan
}

type wordSpan struct{ i, lo, hi int }

// splitWordsInto is splitWords appending to dst, with buf as scratch
// space (nil: none).
//
// It reads the text a byte at a time while the bytes are ASCII, decoding
// runes only past it, and writes a plain ASCII word's folded bytes
// straight into buf.ascii: a word moves to buf.cur (runes, folded at its
// end) only when a rune outside ASCII joins it. The words past limit are
// scanned the same way, so that total counts exactly what the words
// kept would have been, but never folded.
func splitWordsInto(dst []word, buf *wordBuf, s string, limit int) (out []word, total int) {
	if buf == nil {
		buf = new(wordBuf)
	}
	buf.ascii, buf.spans = buf.ascii[:0], buf.spans[:0]
	out, total = buf.scan(dst, s, limit)
	buf.setTexts(out)
	return out, total
}

// scan is splitWordsInto but for the texts of the plain ASCII words it
// appends, which setTexts gives them: the words of several texts scanned
// one after the other into one slice then share one string, one
// allocation, instead of one per text.
func (buf *wordBuf) scan(dst []word, s string, limit int) (out []word, total int) {
	out = dst
	bs, spans, cur := buf.ascii, buf.spans, buf.cur[:0]
	keep := math.MaxInt // out keeps words up to this length
	if limit > 0 {
		keep = len(dst) + limit
	}
	for i := 0; i < len(s); {
		// Find the start of a word: a letter, a number or a mark, or a
		// rune of Chinese, Japanese or Korean script. Anything else
		// separates words.
		c := s[i]
		if c < utf8.RuneSelf {
			if !isASCIIAlnum(c) {
				i++
				continue
			}
		} else {
			r, n := utf8.DecodeRuneInString(s[i:])
			if isCJK(r) {
				// A CJK run is a word of its own; it ends at the first
				// rune of any other script.
				cur = cur[:0]
				for i < len(s) {
					r, n := utf8.DecodeRuneInString(s[i:])
					if !isCJK(r) {
						break
					}
					cur = append(cur, r)
					i += n
				}
				full := limit > 0 && len(out)-len(dst) >= limit
				if full {
					total++
				} else if t := fold(string(cur)); t != "" {
					total++
					out = append(out, word{text: t, cjk: true})
				}
				continue
			}
			if !isWordRune(r) {
				i += n
				continue
			}
		}
		// Most words are ASCII letters and digits up to a plain
		// separator: plainRun takes them, and the ASCII separators
		// between them, in a loop of its own.
		if c < utf8.RuneSelf {
			buf.ascii, buf.spans = bs, spans
			j, o, t := buf.plainRun(s, i, out, keep, total)
			bs, spans = buf.ascii, buf.spans
			if j > i {
				i, out, total = j, o, t
				continue
			}
		}
		// Scan the word from s[i]. Its folded runes go to bs[lo:] while
		// they are ASCII, to cur (runes bool) once one is not.
		var (
			lo        = len(bs)
			runes     bool
			capital   bool
			lastDigit bool // the word's last rune is a digit
		)
		if c < utf8.RuneSelf {
			capital = c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		} else {
			r, _ := utf8.DecodeRuneInString(s[i:])
			capital = unicode.IsUpper(r) || unicode.IsNumber(r)
		}
	word:
		for i < len(s) {
			// Most of a word is a run of lower-case letters: copy it at
			// once.
			if j := lowerRun(s, i); j > i {
				if runes {
					for _, c := range []byte(s[i:j]) {
						cur = append(cur, rune(c))
					}
				} else {
					bs = append(bs, s[i:j]...)
				}
				lastDigit = false
				if i = j; i == len(s) {
					break
				}
			}
			c := s[i]
			if c < utf8.RuneSelf {
				switch {
				case c >= '0' && c <= '9':
					lastDigit = true
				case c >= 'A' && c <= 'Z':
					c += 'a' - 'A'
					lastDigit = false
				case c == '\'':
					if !wordGoesOn(s, &i, 1) {
						break word
					}
					continue
				case (c == ',' || c == '.') && lastDigit:
					// "14,000" is one number, "1.5" keeps its point; any
					// other comma or point ends the word.
					if r1, _ := utf8.DecodeRuneInString(s[i+1:]); !unicode.IsDigit(r1) {
						i++
						break word
					}
					if c == ',' {
						i++
						continue
					}
					lastDigit = false
				default:
					i++
					break word
				}
				if runes {
					cur = append(cur, rune(c))
				} else {
					bs = append(bs, c)
				}
				i++
				continue
			}
			r, n := utf8.DecodeRuneInString(s[i:])
			switch {
			case isCJK(r):
				break word // the start of a CJK word
			case isWordRune(r):
				// The modifier letter apostrophe "ʼ" (U+02BC) is a
				// letter, so it stays in the word.
			case r == '’':
				if !wordGoesOn(s, &i, n) {
					break word
				}
				continue
			default:
				i += n
				break word
			}
			if !runes {
				runes = true
				cur = cur[:0]
				for _, b := range bs[lo:] {
					cur = append(cur, rune(b))
				}
				bs = bs[:lo]
			}
			cur = append(cur, r)
			lastDigit = unicode.IsDigit(r)
			i += n
		}
		full := limit > 0 && len(out)-len(dst) >= limit
		switch {
		case full:
			total++
			bs = bs[:lo]
		case !runes:
			hi := len(bs)
			for lo < hi && bs[lo] == '.' {
				lo++
			}
			for hi > lo && bs[hi-1] == '.' {
				hi--
			}
			if lo < hi {
				total++
				spans = append(spans, wordSpan{len(out), lo, hi})
				out = append(out, word{cap: capital})
			}
		default:
			if t := fold(string(cur)); t != "" {
				total++
				out = append(out, word{text: t, cap: capital})
			}
		}
	}
	buf.cur, buf.ascii, buf.spans = cur, bs, spans
	return out, total
}

// setTexts gives the plain ASCII words that scan appended to out since
// the last call their texts, and empties buf for the next.
func (buf *wordBuf) setTexts(out []word) {
	if len(buf.spans) > 0 {
		text := string(buf.ascii)
		for _, sp := range buf.spans {
			out[sp.i].text = text[sp.lo:sp.hi]
		}
	}
	buf.ascii, buf.spans = buf.ascii[:0], buf.spans[:0]
}

// wordGoesOn handles an apostrophe of n bytes at s[*i] inside a word and
// moves *i past what it consumed. Between letters it is dropped and the
// word goes on ("don't" is "dont"); a possessive "'s" ends the word and
// is dropped with its "s" ("McDonald's" is "mcdonald"); otherwise it
// ends the word.
func wordGoesOn(s string, i *int, n int) bool {
	j := *i + n
	r1, n1 := utf8.DecodeRuneInString(s[j:])
	if !unicode.IsLetter(r1) {
		*i = j
		return false
	}
	if r2, _ := utf8.DecodeRuneInString(s[j+n1:]); (r1 == 's' || r1 == 'S') && !unicode.IsLetter(r2) {
		*i = j + n1
		return false
	}
	*i = j
	return true
}

// plainRun scans from s[i] the plain words (ASCII letters and digits
// up to a plain separator) and the ASCII separators between them, as scan would, appending to out the
// words up to its length keep and counting all in total, until the end
// of s or a byte that needs scan: one outside ASCII, or a word that is
// not plain. A word already in lower case gets a part of s as its
// text; another is lower-cased into buf.ascii.
func (buf *wordBuf) plainRun(s string, i int, out []word, keep, total int) (int, []word, int) {
	for i < len(s) {
		c := s[i]
		if c >= utf8.RuneSelf {
			break
		}
		if !isASCIIAlnum(c) {
			i++
			continue
		}
		// The word is a run of ASCII letters and digits...
		j, upper := i, false
		for ; j < len(s); j++ {
			d := s[j]
			if d-'a' < 26 || d-'0' < 10 {
				continue
			}
			if d-'A' < 26 {
				upper = true
				continue
			}
			break
		}
		// ...that ends the way scan would end it without looking
		// further: at the end of s or at an ASCII byte that is not an
		// apostrophe, nor a comma or point after a digit.
		if j < len(s) {
			if d := s[j]; d >= utf8.RuneSelf || d == '\'' || (d == ',' || d == '.') && s[j-1]-'0' < 10 {
				break
			}
		}
		total++
		switch {
		case len(out) >= keep:
		case upper:
			lo := len(buf.ascii)
			for _, b := range []byte(s[i:j]) {
				if b-'A' < 26 {
					b += 'a' - 'A'
				}
				buf.ascii = append(buf.ascii, b)
			}
			buf.spans = append(buf.spans, wordSpan{len(out), lo, len(buf.ascii)})
			out = append(out, word{cap: c-'A' < 26 || c-'0' < 10})
		default:
			out = append(out, word{text: s[i:j], cap: c-'0' < 10})
		}
		i = j
	}
	return i, out, total
}

// lowerRun returns the end of the run of ASCII lower-case letters at
// s[i].
func lowerRun(s string, i int) int {
	for i < len(s) && s[i]-'a' < 26 {
		i++
	}
	return i
}

func isASCIIAlnum(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '0' && c <= '9' }

// isWordRune reports whether a rune outside ASCII (and outside CJK
// script) belongs to a word: a letter, a number or a combining mark.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.In(r, unicode.Mn, unicode.Mc)
}

// fold returns w compatibility-decomposed, without diacritics, lower-cased
// and recomposed: "Café", "CAFE" and "café" all fold to "cafe".
func fold(w string) string {
	if isASCII(w) {
		return strings.ToLower(strings.Trim(w, "."))
	}
	var b strings.Builder
	latin := false
	for _, r := range norm.NFKD.String(w) {
		if unicode.Is(unicode.Mn, r) {
			// Accents on Latin letters are dropped; marks in other
			// scripts can make a different letter (Cyrillic "й").
			if latin {
				continue
			}
		} else {
			latin = unicode.Is(unicode.Latin, r)
		}
		b.WriteRune(unicode.ToLower(r))
	}
	s := norm.NFKC.String(b.String())
	// Keep only letters, digits and inner decimal points: NFKC can
	// expand a letter into punctuation ("⑴" → "(1)").
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsNumber(r) || r == '.' || unicode.Is(unicode.Mc, r) {
			return r
		}
		return -1
	}, strings.Trim(s, "."))
}

func isCJK(r rune) bool {
	if r < 0x1100 {
		return false
	}
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// appendTerms appends the terms of one word: nothing for a stop word or a
// one-character Latin word, character bigrams for a CJK run, else the
// lightly stemmed word.
func appendTerms(out []string, w word) []string {
	stop := w.cls&clsStop != 0
	if w.cls == 0 {
		stop = stopWords[w.text]
	}
	if w.cjk {
		r := []rune(w.text)
		if len(r) == 1 {
			return append(out, w.text)
		}
		for i := 0; i+1 < len(r); i++ {
			out = append(out, string(r[i:i+2]))
		}
		return out
	}
	if stop {
		return out
	}
	if len(w.text) < 2 {
		return out
	}
	return append(out, stem(w.text))
}

// stem conflates English word forms: inflections are removed and the rest
// cut to stemLen letters, so that "recall", "recalls" and "recalled" or
// "company" and "companies" meet. Only plain ASCII words are stemmed.
func stem(w string) string {
	if len(w) < 4 {
		return w
	}
	if !isASCIIWord(w) {
		return stemCyrillic(w)
	}
	w = stripInflection(w)
	if len(w) > stemLen {
		w = w[:stemLen]
	}
	return w
}

// stemLen is where stem cuts English words: "cancellation", "cancelled"
// and "cancel" meet at "cancell"/"cancel"... and "government" and
// "governor" stay apart. Measured on the development sets, cutting at 7
// after removing inflections gained about 0.5 point of F1 on both.
const stemLen = 7

func isASCIIWord(w string) bool {
	for i := 0; i < len(w); i++ {
		if c := w[i]; !(c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// cyrillicEndings are the commonest case and number endings of Russian
// nouns and adjectives, longest first.
var cyrillicEndings = strings.Fields("ого его ому ему ыми ими ых их ой ей ий ый ая яя ое ее ые ие ом ем ам ям ах ях ов ев ую юю ью а я о е ы и у ю ь")

// stemCyrillic removes one inflectional ending from a Cyrillic word that
// keeps at least four letters, so that "Восточный" and "Восточного",
// "метеоспутник" and "метеоспутником" meet. Other words are unchanged.
func stemCyrillic(w string) string {
	r, _ := utf8.DecodeRuneInString(w)
	if !unicode.Is(unicode.Cyrillic, r) {
		return w
	}
	n := utf8.RuneCountInString(w)
	for _, e := range cyrillicEndings {
		if strings.HasSuffix(w, e) && n-utf8.RuneCountInString(e) >= 4 {
			return w[:len(w)-len(e)]
		}
	}
	return w
}

// stopWords are English function words and the verbs of attribution that
// every headline uses, and the commonest function words of Spanish,
// French, German and Russian (folded as Normalize folds them). The IDF
// alone cannot be trusted with those: in a stream that is mostly
// English, "de", "la" or "в" are rare, so they weigh like names and
// merge unrelated reports in those languages (TestMultilingual). Words
// that are also informative English words ("war", "son", "hat") are left
// out; German "die" is in.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
	el la los las lo un una unos unas del al de y e o u en con por para sobre entre hasta desde
	que se su sus es han fue era ser mas muy ya tras ante como pero tambien este esta estos
	le les des du et ou au aux une dans sur pour par avec sans sous chez est sont ont qui ne pas plus
	ce cette ces il elle ils elles leur leurs sa ses apres avant selon
	der die das den dem ein eine einer eines einem einen und oder im ins vom zum zur mit fur auf
	aus bei nach vor uber unter ist sind wird werden wurde haben nicht auch sich als wie bis
	и в во на с со к ко по за из от до о об у для не что это как а но или при после над под`) {
		m[w] = true
	}
	for _, w := range strings.Fields(`a an the and or but nor so yet for of to in on at by from with
	without into onto over under about after before as than then that this these those there here
	is are was were be been being am do does did done has have had having will would shall should
	can could may might must it its it's he him his she her hers they them their theirs we us our
	you your i me my mine who whom whose which what when where why how not no all any both each
	few more most other some such only own same too very just also up down out off again further
	once if while because until against between through during above below s t says said say
	vs via amid per upon onto new`) {
		m[w] = true
	}
	return m
}()

// stripInflection removes a plural "-s"/"-es"/"-ies" and a verb ending
// "-ing"/"-ed" (undoubling a final consonant: "stopped" → "stop"), in the
// manner of the first step of Porter's stemmer. Every word that is not a
// stop word passes here, so it compares bytes rather than calling the
// strings functions, and builds a new string only for "-ies" words short
// enough to keep their "y" under stemLen and for "rising" → "rise".
func stripInflection(w string) string {
	n := len(w)
	switch {
	case n == 0 || w[n-1] != 's':
	case strings.HasSuffix(w, "sses"):
		w = w[:n-2]
	case strings.HasSuffix(w, "ies") && n >= 5:
		if n-3 >= stemLen {
			return w[:n-3] // the "y" would be cut at stemLen anyway
		}
		return w[:n-3] + "y" // ends in "y": no "-ing" or "-ed" to remove
	case n >= 2 && (w[n-2] == 's' || w[n-2] == 'u' || w[n-2] == 'i'): // "-ss", "-us", "-is"
	default:
		w = w[:n-1]
	}
	n = len(w)
	var cut int
	switch {
	case n >= 3 && w[n-3:] == "ing":
		cut = 3
	case n >= 2 && w[n-2:] == "ed":
		cut = 2
	default:
		return w
	}
	if n-cut < 3 || !hasVowelY(w[:n-cut]) {
		return w
	}
	w = w[:n-cut]
	n = len(w)
	switch {
	case n >= 2 && w[n-1] == w[n-2] && w[n-1] != 'l' && w[n-1] != 's' && w[n-1] != 'z':
		w = w[:n-1] // "stopped" → "stop"
	case n == 3 && isCVC(w):
		w += "e" // "rising" → "rise"
	}
	return w
}

// hasVowelY reports whether w holds one of "aeiouy".
func hasVowelY(w string) bool {
	for i := 0; i < len(w); i++ {
		switch w[i] {
		case 'a', 'e', 'i', 'o', 'u', 'y':
			return true
		}
	}
	return false
}

// isCVC reports whether w ends consonant, vowel, consonant (not w, x or y).
func isCVC(w string) bool {
	n := len(w)
	v := func(c byte) bool { return strings.IndexByte("aeiou", c) >= 0 }
	return n >= 3 && !v(w[n-3]) && v(w[n-2]) && !v(w[n-1]) && strings.IndexByte("wxy", w[n-1]) < 0
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
