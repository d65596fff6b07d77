package storage

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"

	"aggregator"
	"aggregator/internal/itemcodec"
)

// A FeedState is stored in itemcodec's binary layout (feedStateBin),
// which keeps every string byte for byte (an ETag may hold any byte from
// 0x80 on, RFC 9110's obs-text) and costs a fraction of JSON to write and
// read: an unchanged pass reads every feed's state and writes it back,
// and JSON's reflection was a large part of that pass's CPU (README,
// Measured: scripts/peer-miniflux). `aggregator feeds --json` shows
// the states as JSON. The value starts with a format byte and ends
// with a CRC-32C of its key (the feed's name) and the rest, checked on
// every read (see encode.go). Values of earlier versions still decode:
// JSON (feedStateJSON), or gob for a state whose strings were not valid
// UTF-8 (feedStateGob), both checksummed, and before the checksum plain
// JSON (starting with '{') or feedStateGobPlain and gob. The format bytes
// are two bits or more apart from each other's and from '{', so that no
// flipped bit turns a checksummed value into one read unchecked.
const (
	feedStateGobPlain = 1
	feedStateJSON     = 2
	feedStateGob      = 4
	feedStateBin      = 8
)

// appendFeedState appends st's stored value to b.
func appendFeedState(b []byte, st *aggregator.FeedState) []byte {
	start := len(b)
	b = itemcodec.AppendFeedStateBody(append(b, feedStateBin), st)
	return itemcodec.Seal(b, start, []byte(st.Name))
}

// decodeFeedState reads the state stored under key (the feed's name).
func decodeFeedState(key, v []byte, st *aggregator.FeedState) error {
	if len(v) == 0 {
		return fmt.Errorf("feed state: %w: empty value", errCorrupt)
	}
	switch v[0] {
	case feedStateBin, feedStateJSON, feedStateGob:
		body, err := itemcodec.Unseal(key, v)
		if err != nil {
			return fmt.Errorf("feed state: %w", corruptErr(err))
		}
		switch body[0] {
		case feedStateGob:
			return decodeGob(body[1:], st)
		case feedStateJSON:
			return decodeJSON(body[1:], st)
		}
		d := itemcodec.NewDecoder(body[1:])
		*st = aggregator.FeedState{}
		d.FeedStateBody(st)
		if d.Err() == nil && len(d.Rest()) != 0 {
			return fmt.Errorf("feed state: %w: %d bytes after the last field", errCorrupt, len(d.Rest()))
		}
		if err := d.Err(); err != nil {
			return fmt.Errorf("feed state: %w", corruptErr(err))
		}
		return nil
	case feedStateGobPlain:
		return decodeGob(v[1:], st)
	case '{':
		return decodeJSON(v, st)
	}
	return fmt.Errorf("feed state: %w: unknown format %d", errCorrupt, v[0])
}

func decodeJSON(v []byte, st *aggregator.FeedState) error {
	if err := json.Unmarshal(v, st); err != nil {
		return fmt.Errorf("feed state: %w: %v", errCorrupt, err)
	}
	return nil
}

func decodeGob(v []byte, st *aggregator.FeedState) error {
	if err := gob.NewDecoder(bytes.NewReader(v)).Decode(st); err != nil {
		return fmt.Errorf("feed state: %w: %v", errCorrupt, err)
	}
	return nil
}
