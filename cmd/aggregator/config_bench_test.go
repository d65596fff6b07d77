package main

import (
	"bytes"
	"fmt"
	"testing"
)

// BenchmarkParseConfig parses a feeds.toml of 2,000 feeds, the size of
// the peer-miniflux pass: every "aggregator fetch" begins with it.
func BenchmarkParseConfig(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("[fetch]\nconcurrency = 16\nper_host = 16\nhost_delay = \"0s\"\ntimeout = \"60s\"\n")
	for i := range 2000 {
		fmt.Fprintf(&buf, "[[feeds]]\nname = \"f%05d\"\nurl = \"http://127.0.0.1:8080/f%05d.xml\"\n", i, i)
	}
	data := buf.Bytes()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseConfig("feeds.toml", data); err != nil {
			b.Fatal(err)
		}
	}
}
