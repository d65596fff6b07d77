package publish

import (
	"fmt"
	"strings"
	"time"
)

// Format is a feed format that publish can render.
type Format string

// The formats, named as they appear in URLs (/{output}.rss and so on).
const (
	RSS  Format = "rss"
	Atom Format = "atom"
	JSON Format = "json"
)

// Formats lists every format, in the order pages offer them.
var formats = []Format{RSS, Atom, JSON}

// ParseFormat returns the format named s ("rss", "atom" or "json", any case).
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case RSS, Atom, JSON:
		return f, nil
	}
	return "", fmt.Errorf("unknown feed format %q (want rss, atom or json)", s)
}

// ContentType is the media type the format is served with, always with its
// charset so that no reader has to guess the encoding.
func (f Format) ContentType() string {
	switch f {
	case RSS:
		return "application/rss+xml; charset=utf-8"
	case Atom:
		return "application/atom+xml; charset=utf-8"
	case JSON:
		return "application/feed+json; charset=utf-8"
	}
	return "application/octet-stream"
}

// label is the format's human name, for pages and titles.
func (f Format) label() string {
	switch f {
	case RSS:
		return "RSS"
	case Atom:
		return "Atom"
	case JSON:
		return "JSON Feed"
	}
	return string(f)
}

// Meta describes the merged feed as a whole.
type Meta struct {
	Title, Description string
	// Link is the HTML page of this output.
	Link string
	// Self is this feed's own URL.
	Self string
	// Icon is an image URL for the feed, when it has one.
	Icon string
	// Updated is the newest change among the stories; Render uses the newest
	// story update when it is zero.
	Updated time.Time
	// Hubs are WebSub hubs, advertised with rel="hub" (and Self with
	// rel="self") in every format.
	Hubs []string
}
