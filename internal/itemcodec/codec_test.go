package itemcodec_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"aggregator"
	"aggregator/internal/itemcodec"
)

func sample() aggregator.Item {
	it := aggregator.Item{
		GUID: "urn:x:1", URL: "https://example.com/1", Title: "A title", Summary: "A summary",
		Content: "<p>Content</p>", Author: "Reporter", Image: "https://example.com/1.jpg",
		Categories: []string{"News", "World"},
		Published:  time.Date(2026, 3, 1, 12, 0, 0, 5, time.FixedZone("", 3600)),
		FirstSeen:  time.Date(2026, 3, 1, 12, 1, 0, 0, time.UTC),
	}
	it.Normalize("feed")
	return it
}

// plain is the layout of FormatPlain, written by hand: what schema 2 of
// the bbolt store wrote.
func plain(it *aggregator.Item) []byte {
	b := []byte{itemcodec.FormatPlain}
	for _, s := range []string{it.ID, it.Feed, it.GUID, it.URL, it.CanonicalURL, it.Title, it.Summary, it.Content, it.Author, it.Image} {
		b = itemcodec.AppendString(b, s)
	}
	b = itemcodec.AppendStrings(b, it.Categories)
	b = itemcodec.AppendTime(b, it.Published)
	b = itemcodec.AppendTime(b, it.Updated)
	b = itemcodec.AppendTime(b, it.FirstSeen)
	return itemcodec.AppendString(b, it.Hash)
}

func TestRoundTrip(t *testing.T) {
	it := sample()
	key := []byte("key of the item")
	for name, v := range map[string][]byte{"summed": itemcodec.EncodeItem(key, &it), "plain": plain(&it)} {
		t.Run(name, func(t *testing.T) {
			got, err := itemcodec.DecodeItem(key, v)
			if err != nil {
				t.Fatal(err)
			}
			if !same(got, it) {
				t.Errorf("got %+v, want %+v", got, it)
			}
		})
	}
}

// TestEveryFlipDetected: a CRC-32 catches every single flipped bit, in
// the value (format byte and checksum included) and in the key.
func TestEveryFlipDetected(t *testing.T) {
	it := sample()
	key := []byte("key of the item")
	v := itemcodec.EncodeItem(key, &it)
	for i := range 8 * len(v) {
		w := append([]byte(nil), v...)
		w[i/8] ^= 1 << (i % 8)
		if _, err := itemcodec.DecodeItem(key, w); !errors.Is(err, itemcodec.ErrCorrupt) {
			t.Fatalf("bit %d of the value flipped: got error %v, want ErrCorrupt", i, err)
		}
	}
	for i := range 8 * len(key) {
		k := append([]byte(nil), key...)
		k[i/8] ^= 1 << (i % 8)
		if _, err := itemcodec.DecodeItem(k, v); !errors.Is(err, itemcodec.ErrChecksum) {
			t.Fatalf("bit %d of the key flipped: got error %v, want ErrChecksum", i, err)
		}
	}
	if _, err := itemcodec.DecodeItem(key, v[:len(v)-1]); !errors.Is(err, itemcodec.ErrCorrupt) {
		t.Errorf("value cut short: got error %v, want ErrCorrupt", err)
	}
}

// FuzzDecodeItem: any bytes decode to an item or ErrCorrupt, never a
// panic; what decodes encodes and decodes to the same item.
func FuzzDecodeItem(f *testing.F) {
	it := sample()
	f.Add([]byte("k"), itemcodec.EncodeItem([]byte("k"), &it))
	f.Add([]byte("k"), plain(&it))
	f.Add([]byte{}, []byte{itemcodec.FormatSummed})
	f.Fuzz(func(t *testing.T, key, v []byte) {
		got, err := itemcodec.DecodeItem(key, v)
		if err != nil {
			if !errors.Is(err, itemcodec.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := itemcodec.DecodeItem(key, itemcodec.EncodeItem(key, &got))
		if err != nil || !same(again, got) {
			t.Fatalf("round trip of %+v: %+v, %v", got, again, err)
		}
	})
}

// same compares items by their JSON, in which equal times in equal
// zones look the same (their *time.Location need not be one pointer).
func same(a, b aggregator.Item) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
