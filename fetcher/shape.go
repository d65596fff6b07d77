package fetcher

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mmcdole/gofeed"
)

// What a document may look like before it is parsed. The XML parser
// costs a multiple of its input in memory, worst on a document of
// nothing but nested elements (some 40 times its size) or one giant text;
// a cheap scan rejects the first and cuts the second before parsing.
const (
	// maxDepth is the deepest nesting of elements (or JSON arrays and
	// objects) accepted. Real feeds nest a dozen deep, XHTML content a
	// few dozen more.
	maxDepth = 512
	// maxRun is the longest text (character data or CDATA section)
	// kept whole; a longer one is cut to it. It matches the cap on an
	// item's content, which a longer text would exceed anyway.
	maxRun = maxContent
)

// bound returns doc ready for the parser, and its format: an error when
// it nests deeper than maxDepth, a copy with every text longer than
// maxRun cut when there is one, else doc itself. The format is what
// gofeed.DetectFeedType would say, found in the same scan, without its
// copy and parse of the document: JSON is a valid document starting
// with '{'; XML is told by the name of its root element (rss, RDF or
// feed) and must start with '<'.
func bound(doc []byte) ([]byte, gofeed.FeedType, error) {
	start := bytes.TrimLeft(doc, " \t\r\n\xef\xbb\xbf")
	if len(start) > 0 && (start[0] == '{' || start[0] == '[') {
		if at := jsonTooDeep(doc); at >= 0 {
			return nil, 0, fmt.Errorf("arrays and objects nested more than %d deep (at byte %d)", maxDepth, at)
		}
		if start[0] == '{' && json.Valid(start) {
			return doc, gofeed.FeedTypeJSON, nil
		}
		return doc, gofeed.FeedTypeUnknown, nil
	}
	at, long, root := scanXML(doc)
	if at >= 0 {
		return nil, 0, fmt.Errorf("elements nested more than %d deep (at byte %d)", maxDepth, at)
	}
	if long {
		doc = cutRuns(doc)
	}
	kind := gofeed.FeedTypeUnknown
	if len(start) > 0 && start[0] == '<' {
		switch strings.ToLower(root) {
		case "rss", "rdf":
			kind = gofeed.FeedTypeRSS
		case "feed":
			kind = gofeed.FeedTypeAtom
		}
	}
	return doc, kind, nil
}

// rootName is the local name of the element whose start tag begins tag
// ("<rdf:RDF xmlns..." gives "RDF").
func rootName(tag []byte) string {
	end := bytes.IndexAny(tag, " \t\r\n/>")
	if end < 0 {
		end = len(tag)
	}
	name := tag[:end]
	if i := bytes.LastIndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	return string(name)
}

// markup is where the next piece of markup (or text) starts in an XML
// document, and what it is.
type markup int

const (
	mText markup = iota
	mSkip        // comment, CDATA section, processing instruction, declaration
	mCDATA
	mEnd   // end tag
	mStart // start tag (or an empty-element tag)
)

// skipEnd is where a comment, CDATA section, processing instruction or
// declaration at the start of rest ends, and how long its opening is.
func skipEnd(rest []byte) (kind markup, open int, close string) {
	switch {
	case bytes.HasPrefix(rest, []byte("<!--")):
		return mSkip, 4, "-->"
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		return mCDATA, 9, "]]>"
	case bytes.HasPrefix(rest, []byte("<?")):
		return mSkip, 2, "?>"
	case bytes.HasPrefix(rest, []byte("<!")):
		return mSkip, 2, ">"
	case bytes.HasPrefix(rest, []byte("</")):
		return mEnd, 2, ">"
	}
	return mStart, 1, ""
}

// tagEnd is the index of the '>' that ends the start tag at the start
// of rest, outside quoted attribute values, or -1.
func tagEnd(rest []byte) int {
	var quote byte
	for j := 1; j < len(rest); j++ {
		c := rest[j]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return j
		}
	}
	return -1
}

// scanXML is a cheap scan of an XML document, not a parser: it counts
// start and end tags (skipping comments, CDATA sections, processing
// instructions, declarations and quoted attribute values) and measures
// texts. It returns the offset where the nesting first exceeds maxDepth
// (-1 if it never does), whether a text is longer than maxRun and the
// local name of the first element. Malformed input gives some answer;
// the parser judges it.
func scanXML(doc []byte) (deepAt int, long bool, root string) {
	depth := 0
	for i := 0; i < len(doc); {
		n := bytes.IndexByte(doc[i:], '<')
		if n < 0 {
			return -1, long || len(doc)-i > maxRun, root
		}
		long = long || n > maxRun
		i += n
		rest := doc[i:]
		kind, open, closing := skipEnd(rest)
		if kind == mStart {
			e := tagEnd(rest)
			if e < 0 {
				return -1, long, root
			}
			if depth == 0 && root == "" {
				root = rootName(rest[1:e])
			}
			if rest[e-1] != '/' {
				depth++
				if depth > maxDepth {
					return i, long, root
				}
			}
			i += e + 1
			continue
		}
		e := bytes.Index(rest[open:], []byte(closing))
		if e < 0 {
			return -1, long, root
		}
		if kind == mEnd {
			depth--
		}
		long = long || (kind == mCDATA && e > maxRun)
		i += open + e + len(closing)
	}
	return -1, long, root
}

// cutRuns returns a copy of doc with each text longer than maxRun cut to
// at most maxRun bytes, on a character boundary and never inside an
// entity or character reference.
func cutRuns(doc []byte) []byte {
	out := make([]byte, 0, len(doc))
	for i := 0; i < len(doc); {
		n := bytes.IndexByte(doc[i:], '<')
		if n < 0 {
			n = len(doc) - i
		}
		out = append(out, cutText(doc[i:i+n], true)...)
		i += n
		if i == len(doc) {
			break
		}
		rest := doc[i:]
		kind, open, closing := skipEnd(rest)
		end := -1
		if kind == mStart {
			if e := tagEnd(rest); e >= 0 {
				end = e + 1
			}
		} else if e := bytes.Index(rest[open:], []byte(closing)); e >= 0 {
			end = open + e + len(closing)
		}
		if end < 0 {
			return append(out, rest...)
		}
		if kind == mCDATA {
			out = append(out, rest[:open]...)
			out = append(out, cutText(rest[open:end-len(closing)], false)...)
			out = append(out, closing...)
		} else {
			out = append(out, rest[:end]...)
		}
		i += end
	}
	return out
}

// cutText cuts a text to at most maxRun bytes on a character boundary;
// with refs, never inside a reference ("&amp;", "&#233;").
func cutText(t []byte, refs bool) []byte {
	if len(t) <= maxRun {
		return t
	}
	cut := maxRun
	for cut > 0 && !utf8.RuneStart(t[cut]) {
		cut--
	}
	if refs {
		if amp := bytes.LastIndexByte(t[max(0, cut-32):cut], '&'); amp >= 0 {
			amp += max(0, cut-32)
			if bytes.IndexByte(t[amp:cut], ';') < 0 {
				cut = amp
			}
		}
	}
	return t[:cut]
}

// jsonTooDeep is the offset where a JSON document first nests deeper
// than maxDepth, or -1: brackets are counted outside strings.
func jsonTooDeep(doc []byte) int {
	depth := 0
	inString, escaped := false, false
	for i, c := range doc {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > maxDepth {
				return i
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return -1
}

// unwrapAttrs returns a copy of an XML document with tabs and newlines
// removed from the quoted attribute values of its tags. Comments, CDATA
// sections, processing instructions and text are copied as they are.
func unwrapAttrs(doc []byte) []byte {
	out := make([]byte, 0, len(doc))
	for i := 0; i < len(doc); {
		n := bytes.IndexByte(doc[i:], '<')
		if n < 0 {
			return append(out, doc[i:]...)
		}
		out = append(out, doc[i:i+n]...)
		i += n
		rest := doc[i:]
		kind, open, closing := skipEnd(rest)
		if kind != mStart {
			e := bytes.Index(rest[open:], []byte(closing))
			if e < 0 {
				return append(out, rest...)
			}
			out = append(out, rest[:open+e+len(closing)]...)
			i += open + e + len(closing)
			continue
		}
		e := tagEnd(rest)
		if e < 0 {
			return append(out, rest...)
		}
		var quote byte
		for _, c := range rest[:e+1] {
			switch {
			case quote != 0 && c == quote:
				quote = 0
			case quote != 0 && (c == '\n' || c == '\r' || c == '\t'):
				continue
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
			}
			out = append(out, c)
		}
		i += e + 1
	}
	return out
}
