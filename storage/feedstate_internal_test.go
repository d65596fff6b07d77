package storage

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"aggregator"
	"aggregator/internal/itemcodec"
)

// fullState has every field of FeedState set to something other than its
// zero value, by reflection, so that a field added to the type and left
// out of the encoding fails TestFeedStateFormats.
func fullState(t *testing.T) aggregator.FeedState {
	t.Helper()
	var st aggregator.FeedState
	v := reflect.ValueOf(&st).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(v.Type().Field(i).Name + " \xff\x80 ü")
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(-3 - i))
		case reflect.Uint8, reflect.Uint32:
			f.SetUint(uint64(200 + i))
		case reflect.Float64:
			f.SetFloat(1.5 + float64(i))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Struct:
			if f.Type() != reflect.TypeOf(time.Time{}) {
				t.Fatalf("field %s: type %s not covered", v.Type().Field(i).Name, f.Type())
			}
			f.Set(reflect.ValueOf(time.Date(2026, 12, 3, 12, i, 7, 123456789, time.FixedZone("", 3600))))
		default:
			t.Fatalf("field %s: kind %s not covered", v.Type().Field(i).Name, f.Kind())
		}
	}
	st.Name = "feed name"
	return st
}

// TestFeedStateFormats: the binary layout gives every field back byte
// for byte, and the states of earlier versions (checksummed JSON and gob,
// plain JSON and gob) still decode.
func TestFeedStateFormats(t *testing.T) {
	full := fullState(t)
	valid := full // JSON replaces invalid UTF-8, so its earlier versions only held valid strings
	v := reflect.ValueOf(&valid).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.String {
			f.SetString(v.Type().Field(i).Name + " ü")
		}
	}
	valid.Name = full.Name
	key := []byte(full.Name)
	js, err := json.Marshal(&valid)
	if err != nil {
		t.Fatal(err)
	}
	var gb bytes.Buffer
	if err := gob.NewEncoder(&gb).Encode(&full); err != nil {
		t.Fatal(err)
	}
	sealed := func(format byte, body []byte) []byte {
		return itemcodec.Seal(append([]byte{format}, body...), 0, key)
	}
	cases := []struct {
		name string
		v    []byte
		want aggregator.FeedState
	}{
		{"binary", appendFeedState(nil, &full), full},
		{"binary, zero", appendFeedState(nil, &aggregator.FeedState{Name: full.Name}), aggregator.FeedState{Name: full.Name}},
		{"JSON, checksummed", sealed(feedStateJSON, js), valid},
		{"gob, checksummed", sealed(feedStateGob, gb.Bytes()), full},
		{"JSON, plain", js, valid},
		{"gob, plain", append([]byte{feedStateGobPlain}, gb.Bytes()...), full},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got aggregator.FeedState
			if err := decodeFeedState(key, c.v, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// TestFeedStateCorrupt: every flipped bit of a binary state, and every
// truncation, is an error wrapping ErrCorrupt, never a changed state.
func TestFeedStateCorrupt(t *testing.T) {
	st := fullState(t)
	key := []byte(st.Name)
	v := appendFeedState(nil, &st)
	for i := range len(v) * 8 {
		w := bytes.Clone(v)
		w[i/8] ^= 1 << (i % 8)
		var got aggregator.FeedState
		if err := decodeFeedState(key, w, &got); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bit %d flipped: error %v, want one wrapping ErrCorrupt", i, err)
		}
	}
	for n := range len(v) {
		var got aggregator.FeedState
		if err := decodeFeedState(key, v[:n], &got); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut to %d bytes: error %v, want one wrapping ErrCorrupt", n, err)
		}
	}
	// A body whose checksum is right but whose fields are not.
	bad := itemcodec.Seal([]byte{feedStateBin, 0xff}, 0, key)
	var got aggregator.FeedState
	if err := decodeFeedState(key, bad, &got); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad fields: error %v, want one wrapping ErrCorrupt", err)
	}
}

// FuzzDecodeFeedState: any bytes decode to a state or an error wrapping
// ErrCorrupt, never a panic; a binary state that decodes encodes and
// decodes to the same state.
func FuzzDecodeFeedState(f *testing.F) {
	st := aggregator.FeedState{Name: "k", ETag: "\"\xff\"", LastFetch: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), Items: 40}
	f.Add([]byte("k"), appendFeedState(nil, &st))
	f.Add([]byte("k"), []byte(`{"name":"k","etag":"x"}`))
	f.Add([]byte{}, []byte{feedStateBin})
	f.Fuzz(func(t *testing.T, key, v []byte) {
		var got aggregator.FeedState
		if err := decodeFeedState(key, v, &got); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if len(v) == 0 || v[0] != feedStateBin {
			return
		}
		var again aggregator.FeedState
		w := appendFeedState(nil, &got)
		if err := decodeFeedState([]byte(got.Name), w, &again); err != nil || !again.LastFetch.Equal(got.LastFetch) || again.ETag != got.ETag || again.Items != got.Items {
			t.Fatalf("round trip of %+v: %+v, %v", got, again, err)
		}
	})
}
