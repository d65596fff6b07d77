package dedupe

import (
	"math/bits"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Languages. A report is only compared by similarity with stories in its
// own language, when both languages are known: two reports of one event
// in Spanish and in French share little more than a name, and a reader
// of a merged feed wants them apart; more often a shared name or a word
// spelled alike in two languages ("budget", "volcan") would merge
// unrelated reports (TestMultilingual).
const (
	langUnknown = iota
	langEnglish
	langSpanish
	langFrench
	langGerman
	langCyrillic
	langJapanese // kana present
	langKorean   // Hangul
	langChinese  // Han without kana
)

var langNames = [...]string{"unknown", "English", "Spanish", "French", "German", "Cyrillic script", "Japanese", "Korean", "Chinese"}

// Word classes (word.cls): one map look-up per word tells a stop word, a
// date word and the languages whose function word it is.
const (
	clsKnown = 1 << 0 // classified (so that 0 means not yet)
	clsStop  = 1 << 1
	clsDate  = 1 << 2
	clsLang0 = 3 // bit clsLang0+k-1: a function word of language k (English..German)
)

// wordClasses merges stopWords, dateWords and langWords.
var wordClasses = func() *classTable {
	m := map[string]uint8{}
	for w := range stopWords {
		m[w] |= clsStop
	}
	for w := range dateWords {
		m[w] |= clsDate
	}
	for w, langs := range langWords {
		for k := langEnglish; k <= langGerman; k++ {
			if langs&(1<<k) != 0 {
				m[w] |= 1 << (clsLang0 + k - 1)
			}
		}
	}
	return newClassTable(m)
}()

// classify sets the classes of words.
func classify(words []word) {
	for i := range words {
		words[i].cls = wordClasses.get(words[i].text) | clsKnown
	}
}

// classTable is a read-only open-addressing hash table from the words
// of the lists to their classes. Every word of a title and of the lead
// used is looked up, and most are in none of the lists; a map look-up
// costs some 150 instructions there, this table's about half. No listed
// word is longer than 16 bytes, and up to 16 bytes a word is told
// exactly by its length and two loads of its first and last bytes
// (overlapping), so a slot compares those instead of strings.
type classTable struct {
	slots []classSlot
	shift uint // 64 - log2(len(slots))
}

type classSlot struct {
	a, b uint64 // classPrint of the word
	n    uint8  // its length; 0 in an empty slot
	cls  uint8
}

// classMaxLen is the longest word classTable can hold.
const classMaxLen = 16

func newClassTable(m map[string]uint8) *classTable {
	size := 64
	for size < 4*len(m) {
		size *= 2
	}
	t := &classTable{slots: make([]classSlot, size), shift: uint(64 - bits.TrailingZeros(uint(size)))}
	for w, c := range m {
		if w == "" || len(w) > classMaxLen {
			panic("dedupe: listed word " + strconv.Quote(w) + " is empty or too long for classTable")
		}
		a, b := classPrint(w)
		i := int(classHash(a, b, len(w)) >> t.shift)
		for t.slots[i].n != 0 {
			i = (i + 1) & (size - 1)
		}
		t.slots[i] = classSlot{a: a, b: b, n: uint8(len(w)), cls: c}
	}
	return t
}

// get returns the classes of w, 0 when it is in no list.
func (t *classTable) get(w string) uint8 {
	n := len(w)
	if n == 0 || n > classMaxLen {
		return 0
	}
	a, b := classPrint(w)
	for i := int(classHash(a, b, n) >> t.shift); ; i = (i + 1) & (len(t.slots) - 1) {
		s := &t.slots[i]
		if s.a == a && s.b == b && int(s.n) == n {
			return s.cls
		}
		if s.n == 0 {
			return 0
		}
	}
}

// classPrint is a word of 1 to 16 bytes as two words that, with its
// length, tell it exactly: its first and last bytes, overlapping in a
// short word.
func classPrint(w string) (a, b uint64) {
	switch n := len(w); {
	case n >= 8:
		return load64(w), load64(w[n-8:])
	case n >= 4:
		return uint64(load32(w)), uint64(load32(w[n-4:]))
	default:
		return uint64(w[0]) | uint64(w[n/2])<<8 | uint64(w[n-1])<<16, 0
	}
}

// classHash hashes a classPrint and length.
func classHash(a, b uint64, n int) uint64 {
	return mix64(a + b*0x9e3779b97f4a7c15 + uint64(n))
}

// load32 reads the first four bytes of s, little-endian.
func load32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// langWords maps the commonest function words of the Latin-script
// languages told apart (folded, as Normalize folds them) to a bit set of
// those languages (bit k: language k).
var langWords = func() map[string]uint8 {
	m := map[string]uint8{}
	for lang, list := range map[int]string{
		langEnglish: `the and of to in on for with from by at is are was were has have will be it its
		this that after over as but not`,
		langSpanish: `el la los las un una unos unas del al de y en con por para que se su sus es
		fue tras sobre entre como pero mas`,
		langFrench: `le la les un une des du de et en dans sur pour par avec que qui se sa ses est
		sont au aux apres selon pas`,
		langGerman: `der die das den dem des ein eine einer eines einem einen und im ins vom zum zur
		mit fur auf aus bei nach vor ist sind wird nicht auch sich`,
	} {
		for _, w := range strings.Fields(list) {
			m[w] |= 1 << lang
		}
	}
	return m
}()

// language guesses the language of a text from its words: by script for
// Cyrillic, Japanese, Korean and Chinese, else by the function words of
// each Latin-script language, when one language has at least two of them
// and at least twice as many as any other, else English when no word of
// the others appears. Otherwise unknown, which is compatible with every
// language. (Other Latin-script languages count as English or unknown:
// they are kept apart from Spanish, French and German only.)
// The words must be classified.
func language(title, summary []word) uint8 {
	var hits [langGerman + 1]int
	var cyr, kana, hangul, han, latin int
	for _, ws := range [2][]word{title, summary} {
		for i := range ws {
			w := &ws[i]
			if w.cjk {
				for _, r := range w.text {
					switch {
					case unicode.In(r, unicode.Hiragana, unicode.Katakana):
						kana++
					case unicode.Is(unicode.Hangul, r):
						hangul++
					default:
						han++
					}
				}
				continue
			}
			if w.text != "" && w.text[0] >= utf8.RuneSelf && isCyrillicStart(w.text) {
				cyr++
				continue
			}
			latin++
			// Bit k-1 of m: a function word of language k.
			m := int(w.cls >> clsLang0)
			hits[langEnglish] += m & 1
			hits[langSpanish] += m >> 1 & 1
			hits[langFrench] += m >> 2 & 1
			hits[langGerman] += m >> 3 & 1
		}
	}
	switch {
	case kana > 0:
		return langJapanese
	case hangul > han && hangul > 0:
		return langKorean
	case han > 0 && han >= latin:
		return langChinese
	case cyr > latin:
		return langCyrillic
	}
	best, second := langUnknown, 0
	for k := langEnglish; k <= langGerman; k++ {
		switch {
		case best == langUnknown || hits[k] > hits[best]:
			if best != langUnknown {
				second = max(second, hits[best])
			}
			best = k
		default:
			second = max(second, hits[k])
		}
	}
	if hits[best] >= 2 && hits[best] >= 2*second {
		return uint8(best)
	}
	// Latin script with no word of the other languages: English, whose
	// headlines often carry no function word at all ("China's bigger
	// defense budget"), while Spanish, French and German ones rarely do.
	if latin > 0 && hits[langSpanish]+hits[langFrench]+hits[langGerman] == 0 {
		return langEnglish
	}
	return langUnknown
}

// isCyrillicStart reports whether w starts with a Cyrillic letter.
func isCyrillicStart(w string) bool {
	r, _ := utf8.DecodeRuneInString(w)
	return unicode.Is(unicode.Cyrillic, r)
}

// sameLanguage reports whether two languages may be compared: equal, or
// one unknown.
func sameLanguage(a, b uint8) bool { return a == langUnknown || b == langUnknown || a == b }
