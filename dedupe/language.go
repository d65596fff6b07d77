package dedupe

import (
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
var wordClasses = func() map[string]uint8 {
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
	return m
}()

// classify sets the classes of words.
func classify(words []word) {
	for i := range words {
		words[i].cls = wordClasses[words[i].text] | clsKnown
	}
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
	for k := range len(title) + len(summary) {
		var w *word
		if k < len(title) {
			w = &title[k]
		} else {
			w = &summary[k-len(title)]
		}
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
		if m := w.cls >> clsLang0; m != 0 {
			for k := langEnglish; k <= langGerman; k++ {
				if m&(1<<(k-1)) != 0 {
					hits[k]++
				}
			}
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
