package storage

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"reflect"
	"unicode/utf8"

	"aggregator"
)

// A FeedState is stored as JSON, which is easy to read with bbolt's own
// tools, unless one of its strings is not valid UTF-8: JSON would replace
// those bytes with U+FFFD, and validators must go back to the server byte
// for byte (an ETag may hold any byte from 0x80 on, RFC 9110's obs-text).
// Such a state is stored as feedStateGob followed by its gob encoding,
// which keeps strings as bytes. A JSON value starts with '{', so the two
// never mix up; an older program reading a gob value fails loudly.
const feedStateGob = 1

func encodeFeedState(st *aggregator.FeedState) ([]byte, error) {
	if stringsValid(reflect.ValueOf(st).Elem()) {
		return json.Marshal(st)
	}
	var b bytes.Buffer
	b.WriteByte(feedStateGob)
	if err := gob.NewEncoder(&b).Encode(st); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func decodeFeedState(v []byte, st *aggregator.FeedState) error {
	if len(v) > 0 && v[0] == feedStateGob {
		return gob.NewDecoder(bytes.NewReader(v[1:])).Decode(st)
	}
	if err := json.Unmarshal(v, st); err != nil {
		return fmt.Errorf("%w: %v", errCorrupt, err)
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
