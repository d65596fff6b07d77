package storage

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"reflect"
	"unicode/utf8"

	"aggregator"
	"aggregator/internal/itemcodec"
)

// A FeedState is stored as JSON, which is easy to read with bbolt's own
// tools, unless one of its strings is not valid UTF-8: JSON would replace
// those bytes with U+FFFD, and validators must go back to the server byte
// for byte (an ETag may hold any byte from 0x80 on, RFC 9110's obs-text).
// Such a state is stored in its gob encoding, which keeps strings as
// bytes. Either way the value starts with a format byte, feedStateJSON or
// feedStateGob, and ends with a CRC-32C of its key (the feed's name) and
// the rest, checked on every read (see encode.go). Values written before the checksum are plain JSON
// (starting with '{') or feedStateGobPlain and gob; they still decode.
// The format bytes are two bits or more apart from each other's and from
// '{', so that no flipped bit turns a checksummed value into one read
// unchecked.
const (
	feedStateGobPlain = 1
	feedStateJSON     = 2
	feedStateGob      = 4
)

func encodeFeedState(st *aggregator.FeedState) ([]byte, error) {
	var b bytes.Buffer
	if stringsValid(reflect.ValueOf(st).Elem()) {
		b.WriteByte(feedStateJSON)
		if err := json.NewEncoder(&b).Encode(st); err != nil {
			return nil, err
		}
		b.Truncate(b.Len() - 1) // Encode's newline
	} else {
		b.WriteByte(feedStateGob)
		if err := gob.NewEncoder(&b).Encode(st); err != nil {
			return nil, err
		}
	}
	return itemcodec.Seal(b.Bytes(), 0, []byte(st.Name)), nil
}

// decodeFeedState reads the state stored under key (the feed's name).
func decodeFeedState(key, v []byte, st *aggregator.FeedState) error {
	if len(v) == 0 {
		return fmt.Errorf("feed state: %w: empty value", errCorrupt)
	}
	switch v[0] {
	case feedStateJSON, feedStateGob:
		body, err := itemcodec.Unseal(key, v)
		if err != nil {
			return fmt.Errorf("feed state: %w", corruptErr(err))
		}
		if body[0] == feedStateGob {
			return decodeGob(body[1:], st)
		}
		return decodeJSON(body[1:], st)
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

// stringsValid reports whether every string field of the struct v is
// valid UTF-8.
func stringsValid(v reflect.Value) bool {
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.String && !utf8.ValidString(f.String()) {
			return false
		}
	}
	return true
}
