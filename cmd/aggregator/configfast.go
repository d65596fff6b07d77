package main

import (
	"bytes"
	"unicode/utf8"
)

// The [[feeds]] fast path. A feeds.toml is mostly [[feeds]] tables, and
// BurntSushi/toml takes about 6 µs for each (its lexer, then reflection):
// 13 ms of a file of 2,000 feeds, read by every "aggregator fetch", a
// tenth of an unchanged pass's CPU. Most such tables are a header and a
// few lines of `key = "string"`, which need no general parser. So
// parseConfig first tries fastFeeds: when every [[feeds]] table of the
// file has that plain shape, those tables are read here, blanked out of
// the document (lines stay where they were) and the rest goes to the
// decoder. Anything else about them — another key, an escape in a
// string, a table the rest of the file also defines, a line that may be
// inside a multi-line value — makes fastFeeds decline and the whole file
// goes to the decoder, as before; so does any error the rest has, so
// that every message still comes from one place. What the fast path
// accepts decodes to the same Config as the decoder would make of the
// whole file (FuzzFastFeeds checks).

// fastFeeds returns data with the lines of its [[feeds]] tables left
// empty (the other lines keep their numbers) and the feeds they hold, or
// ok false when it cannot be sure of either.
func fastFeeds(data []byte) (rest []byte, feeds []FeedConfig, ok bool) {
	// Multi-line strings could hold lines that look like tables; a
	// carriage return needs the decoder's rules.
	if bytes.Contains(data, []byte(`"""`)) || bytes.Contains(data, []byte(`'''`)) || bytes.IndexByte(data, '\r') >= 0 {
		return nil, nil, false
	}
	rest = make([]byte, 0, len(data)/4)
	var (
		depth int         // open brackets and braces before this line, outside the tables read here
		cur   *FeedConfig // the table being read, nil outside one
		seen  feedKeys    // the keys cur has had
	)
	for start := 0; start < len(data); {
		end := bytes.IndexByte(data[start:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += start
		}
		line := data[start:end]
		next := end + 1
		t := bytes.Trim(line, " \t")
		switch {
		case depth == 0 && isFeedsHeader(t):
			feeds = append(feeds, FeedConfig{})
			cur = &feeds[len(feeds)-1]
			seen = 0
		case cur != nil && (len(t) == 0 || t[0] == '#'):
			if !plainComment(t) {
				return nil, nil, false
			}
		case cur != nil && t[0] != '[':
			if !cur.setPlain(t, &seen) {
				return nil, nil, false
			}
		default:
			// A line of the rest: a table header ends the one read here.
			cur = nil
			if depth = bracketDepth(line, depth); depth < 0 {
				return nil, nil, false
			}
			rest = append(rest, line...)
		}
		if end < len(data) {
			rest = append(rest, '\n') // a line read here is left empty
		}
		start = next
	}
	if depth != 0 {
		return nil, nil, false
	}
	return rest, feeds, true
}

// isFeedsHeader reports whether a trimmed line is exactly [[feeds]],
// perhaps followed by a comment.
func isFeedsHeader(t []byte) bool {
	after, ok := bytes.CutPrefix(t, []byte("[[feeds]]"))
	if !ok {
		return false
	}
	after = bytes.TrimLeft(after, " \t")
	return len(after) == 0 || (after[0] == '#' && plainComment(after))
}

// plainComment reports whether a trimmed line is empty or a comment that
// TOML accepts (no control characters but tab, valid UTF-8).
func plainComment(t []byte) bool {
	return plainText(t)
}

// plainText reports whether b is valid UTF-8 without control characters
// other than tab.
func plainText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return utf8.Valid(b)
}

// feedKeys is a set of the keys setPlain knows.
type feedKeys uint8

const (
	keyName feedKeys = 1 << iota
	keyURL
	keyTitle
	keyInterval
)

// setPlain sets the field a trimmed line `key = "value"` (a comment may
// follow) names, and reports whether the line had that shape: a key of
// FeedConfig's string or duration fields not in seen (it is added), and
// a basic string without escapes.
func (f *FeedConfig) setPlain(t []byte, seen *feedKeys) bool {
	eq := bytes.IndexByte(t, '=')
	if eq < 0 {
		return false
	}
	key := bytes.TrimRight(t[:eq], " \t")
	v := bytes.TrimLeft(t[eq+1:], " \t")
	if len(v) < 2 || v[0] != '"' {
		return false
	}
	closing := bytes.IndexByte(v[1:], '"')
	if closing < 0 {
		return false
	}
	val, after := v[1:1+closing], bytes.TrimLeft(v[2+closing:], " \t")
	if bytes.IndexByte(val, '\\') >= 0 || !plainText(val) {
		return false
	}
	if len(after) > 0 && (after[0] != '#' || !plainComment(after)) {
		return false
	}
	var k feedKeys
	switch string(key) {
	case "name":
		k, f.Name = keyName, string(val)
	case "url":
		k, f.URL = keyURL, string(val)
	case "title":
		k, f.Title = keyTitle, string(val)
	case "interval":
		if f.Interval.UnmarshalText(val) != nil {
			return false
		}
		k = keyInterval
	default:
		return false
	}
	if *seen&k != 0 {
		return false // a key twice: the decoder's error
	}
	*seen |= k
	return true
}

// bracketDepth is depth after line, counting the brackets and braces
// outside strings and comments: above 0 the next line continues a value
// (a multi-line array or inline table), where a [[feeds]] line would not
// be a table. It returns -1 for what it cannot follow (more closed than
// opened, a string left open).
func bracketDepth(line []byte, depth int) int {
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case '#':
			return depth
		case '"', '\'':
			j := i + 1
			for ; j < len(line) && line[j] != c; j++ {
				if c == '"' && line[j] == '\\' {
					j++
				}
			}
			if j >= len(line) {
				return -1
			}
			i = j
		case '[', '{':
			depth++
		case ']', '}':
			if depth--; depth < 0 {
				return -1
			}
		}
	}
	return depth
}
