package main

import (
	"reflect"
	"testing"
)

// fastFeedsCases are files the [[feeds]] fast path must read, or leave
// to the decoder; they seed FuzzFastFeeds too.
var fastFeedsCases = []struct {
	name string
	doc  string
	fast bool
}{
	{"plain", "[[feeds]]\nname = \"a\"\nurl = \"https://a.example/feed\"\n[[feeds]]\nname = \"b\"\nurl = \"https://b.example/\"\n", true},
	{"comments, title, interval and settings around", "# mine\n[fetch]\nconcurrency = 4\nhost_delay = \"2s\"\n\n[[feeds]] # first\nname = \"a\" # the A\n\turl=\"https://a.example/#x\"\ntitle = \"A – news\"\ninterval = \"1h\"\n\n[[outputs]]\nname = \"all\"\nfeeds = [\"a\"]\n", true},
	{"a table after the feeds", "[[feeds]]\nname = \"a\"\nurl = \"https://a.example/\"\n[dedupe]\nthreshold = 0.5\n", true},
	{"tags", "[[feeds]]\nname = \"a\"\nurl = \"https://a.example/\"\ntags = [\"x\"]\n", false},
	{"spaced header", "[[ feeds ]]\nname = \"a\"\nurl = \"https://a.example/\"\n", false},
	{"escape", "[[feeds]]\nname = \"a\\u0041\"\nurl = \"https://a.example/\"\n", false},
	{"literal string", "[[feeds]]\nname = 'a'\nurl = \"https://a.example/\"\n", false},
	{"duplicate key", "[[feeds]]\nname = \"a\"\nname = \"b\"\nurl = \"https://a.example/\"\n", false},
	{"bad interval", "[[feeds]]\nname = \"a\"\nurl = \"https://a.example/\"\ninterval = \"soon\"\n", false},
	{"unknown key", "[[feeds]]\nname = \"a\"\nurl = \"https://a.example/\"\nurll = \"x\"\n", false},
	{"feeds defined at the root too", "feeds = []\n[[feeds]]\nname = \"a\"\nurl = \"https://a.example/\"\n", false},
	{"a subtable of the last feed", "[[feeds]]\nname = \"a\"\nurl = \"https://a.example/\"\n[feeds.x]\ny = 1\n", false},
	{"in a multi-line string", "[publish]\nnote = \"\"\"\n[[feeds]]\nname = \"a\"\n\"\"\"\n", false},
	{"in a multi-line array", "[publish]\nhubs = [\n[[feeds]]\nname = \"a\"\nurl = \"https://a.example/\"\n]\n", false},
	{"carriage returns", "[[feeds]]\r\nname = \"a\"\r\nurl = \"https://a.example/\"\r\n", false},
	{"an error in the rest", "[fetch]\nconcurrency = \"many\"\n[[feeds]]\nname = \"a\"\nurl = \"https://a.example/\"\n", false},
	{"a control character", "[[feeds]]\nname = \"a\x01\"\nurl = \"https://a.example/\"\n", false},
}

func TestFastFeeds(t *testing.T) {
	for _, tc := range fastFeedsCases {
		t.Run(tc.name, func(t *testing.T) {
			fast, _, _, ok := decodeFast("feeds.toml", []byte(tc.doc))
			if ok != tc.fast {
				t.Fatalf("fast path taken: %v, want %v", ok, tc.fast)
			}
			if !ok {
				return
			}
			slow, _, errs, err := decodeConfig("feeds.toml", []byte(tc.doc))
			if err != nil || len(errs) > 0 {
				t.Fatalf("the decoder refuses it: %v %v", err, errs)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Errorf("fast path:\n%+v\ndecoder:\n%+v", fast, slow)
			}
		})
	}
}
