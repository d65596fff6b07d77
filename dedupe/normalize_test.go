package dedupe_test

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"aggregator/dedupe"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"html and entities", `<p>Fed <b>raises</b> rates &amp; markets&nbsp;fall</p>`, "fed raises rates markets fall"},
		{"encoded markup", `&lt;b&gt;Bold&lt;/b&gt; claim`, "bold claim"},
		{"script dropped", `Title<script>var x = "junk";</script> here`, "title here"},
		{"case and diacritics", "Café in SÃO PAULO reopens", "cafe in sao paulo reopens"},
		{"nfkc fullwidth", "ＡＢＣ news ①", "abc news 1"},
		{"wire prefix", "UPDATE 2: Oil prices jump", "oil prices jump"},
		{"stacked prefixes", "RPT-UPDATE 1-Stocks slide", "stocks slide"},
		{"breaking prefix", "BREAKING — Quake hits Chile", "quake hits chile"},
		{"agency suffix", "Ukraine talks stall - Reuters", "ukraine talks stall"},
		{"pipe suffix", "Ukraine talks stall | Daily Planet News", "ukraine talks stall"},
		{"host suffix", "Ukraine talks stall - example.com", "ukraine talks stall"},
		{"story dash kept", "Apple - the company that changed phones", "apple the company that changed phones"},
		{"suffix after a long text", "Talks - the first in years - resumed in Geneva on Monday after a long pause in the region - Reuters",
			"talks the first in years resumed in geneva on monday after a long pause in the region"},
		{"separator far from the end kept", "Talks | resumed in Geneva on Monday after a long pause", "talks resumed in geneva on monday after a long pause"},
		{"unicode spaces collapse", "Quake\u00a0 hits\u2003Chile\tagain", "quake hits chile again"},
		{"ellipsis drops cut word", "Obama signs the bill into la...", "obama signs the bill into"},
		{"unicode ellipsis", "Obama signs the bill into law…", "obama signs the bill into"},
		{"ellipsis after space", "Obama signs the bill …", "obama signs the bill"},
		{"thousands separator", "American cancels 14,000 flights", "american cancels 14000 flights"},
		{"decimal kept", "GDP grew 2.5% in Q1", "gdp grew 2.5 in q1"},
		{"possessive", "McDonald's and Macy’s report", "mcdonald and macy report"},
		{"contraction", "Don't panic", "dont panic"},
		{"cyrillic", "Путин ВСТРЕТИЛСЯ с Байденом", "путин встретился с байденом"},
		{"a < b is text", "x < y and 3<4", "x y and 3 4"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dedupe.Normalize(tt.in); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"stop words and plurals", "The companies say recalls are rising", []string{"company", "recall", "rise"}},
		{"verb forms meet", "Pipeline cancelled: cancellation", []string{"pipelin", "cancell", "cancell"}},
		{"inflections", "Stocks rise; rising stocks stopped", []string{"stock", "rise", "rise", "stock", "stop"}},
		{"numbers", "3 dead, 14,000 flights", []string{"dead", "14000", "flight"}},
		{"cjk bigrams", "东京股市上涨", []string{"东京", "京股", "股市", "市上", "上涨"}},
		{"mixed scripts", "Toyota 丰田 recall", []string{"toyota", "丰田", "recall"}},
		{"cyrillic endings stripped", "Путин встретился с Байденом", []string{"путин", "встретилс", "байден"}},
		{"accented latin", "Élection présidentielle", []string{"electio", "preside"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dedupe.Tokens(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("Tokens(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzNormalize checks that normalising never panics, always yields valid
// UTF-8 without markup or doubled spaces, is idempotent, and that the
// tokens of a text are those of its normalised form.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"UPDATE 2: Fed &amp; ECB <b>act</b>…", "Café ＡＢＣ 14,000 1.5", "东京股市上涨 Путин",
		"<script>x</script>", "&lt;&amp;lt;", "a'b' 's", "...", "- Reuters", "\xff\xfe", "ǅemal İstanbul ß",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := dedupe.Normalize(s)
		if !utf8.ValidString(n) {
			t.Fatalf("Normalize(%q) = %q: invalid UTF-8", s, n)
		}
		if strings.Contains(n, "  ") || strings.TrimSpace(n) != n || strings.ContainsAny(n, "<>&") {
			t.Fatalf("Normalize(%q) = %q: not clean", s, n)
		}
		if n2 := dedupe.Normalize(n); n2 != n {
			t.Fatalf("not idempotent: Normalize(%q) = %q, Normalize of that = %q", s, n, n2)
		}
		for _, tok := range dedupe.Tokens(s) {
			if tok == "" || !utf8.ValidString(tok) || strings.ContainsRune(tok, ' ') {
				t.Fatalf("Tokens(%q) holds bad token %q", s, tok)
			}
		}
	})
}
