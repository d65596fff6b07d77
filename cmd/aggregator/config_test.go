package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		file string
		want []string // substrings of the error, in order of importance
	}{
		{"unknown-key.toml", []string{"unknown-key.toml:3:", "fetch.concurency", "unknown key"}},
		{"bad-duration.toml", []string{"bad-duration.toml:2:", "fetch.timeout", `"20 seconds" is not a duration`}},
		{"duplicate-name.toml", []string{"duplicate-name.toml:5:", "feeds[1].name", `duplicate feed name "a" (first used at line 1)`}},
		{"missing-url.toml", []string{"missing-url.toml:1:", "feeds[0].url", "needs a url"}},
		{"bad-url.toml", []string{"bad-url.toml:1:", "not an absolute http(s) URL"}},
		{"syntax.toml", []string{"syntax.toml:2:"}},
		{"wrong-type.toml", []string{"wrong-type.toml:2:", "fetch.concurrency"}},
		{"wrong-types.toml", []string{"wrong-types.toml:3:", "fetch.concurrency", "wrong-types.toml:4:", "fetch.per_host",
			"wrong-types.toml:7:", "feeds.name", "wrong-types.toml:11:", "outputs.max_items", "wrong-types.toml:8:", "feeds.interval", "not a duration"}},
		{"output-unknown-feed.toml", []string{"output-unknown-feed.toml:6:", "outputs[0].feeds", `feed "b", which is not configured`}},
		{"output-bad-name.toml", []string{"outputs[0].name", "used in URLs"}},
		{"negative.toml", []string{"fetch.concurrency", "fetch.per_host", "fetch.host_delay"}},
		{"feed-unknown-key.toml", []string{"feed-unknown-key.toml:8:", "feeds.tag", "unknown key"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := loadConfig(filepath.Join("testdata", "config", tt.file))
			if err == nil {
				t.Fatal("got no error, want one")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *ConfigError", err)
			}
		})
	}
}

func TestConfigDefaultsAndExample(t *testing.T) {
	cfg, err := loadConfig(filepath.Join("..", "..", "feeds.toml"))
	if err != nil {
		t.Fatalf("the example feeds.toml must load: %v", err)
	}
	if len(cfg.Feeds) < 5 {
		t.Errorf("got %d feeds in the example, want a useful set", len(cfg.Feeds))
	}
	if got := cfg.Fetch.Interval.Duration; got != 30*time.Minute {
		t.Errorf("fetch.interval = %s, want 30m", got)
	}
	if cfg.Fetch.MaxBody != 15<<20 {
		t.Errorf("fetch.max_body default = %d, want 15 MiB", cfg.Fetch.MaxBody)
	}

	cfg, err = parseConfig("feeds.toml", nil)
	if err != nil {
		t.Fatalf("an empty config parses to the defaults: %v", err)
	}
	outs := cfg.outputs()
	if len(outs) != 1 || outs[0].Name != "all" {
		t.Errorf("with no [[outputs]] got %+v, want one output named all", outs)
	}
	if cfg.Server.BaseURL != "http://127.0.0.1:8080" {
		t.Errorf("base_url default = %q", cfg.Server.BaseURL)
	}
}

// TestHostDelayScope: the default host delay spares feeds on this machine;
// a host_delay written in the file applies to every host.
func TestHostDelayScope(t *testing.T) {
	for _, tc := range []struct {
		file         string
		delay        time.Duration
		loopbackFree bool
	}{
		{"", time.Second, true},
		{"[fetch]\nhost_delay = \"1s\"\n", time.Second, false},
		{"[fetch]\nhost_delay = \"250ms\"\n", 250 * time.Millisecond, false},
	} {
		cfg, err := parseConfig("feeds.toml", []byte(tc.file))
		if err != nil {
			t.Fatalf("%q: %v", tc.file, err)
		}
		o := fetcherOptions(cfg)
		if o.HostDelay != tc.delay || o.LoopbackNoDelay != tc.loopbackFree {
			t.Errorf("%q: HostDelay %v, LoopbackNoDelay %v; want %v, %v", tc.file, o.HostDelay, o.LoopbackNoDelay, tc.delay, tc.loopbackFree)
		}
	}
}

// TestConfigNoFeeds: an empty file, or one without [[feeds]], is an
// error naming the file and what to do, which opml import tolerates.
func TestConfigNoFeeds(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "is empty"},
		{"comments only", "# my feeds\n\n", "is empty"},
		{"settings only", "[fetch]\ninterval = \"1h\"\n", "has no [[feeds]] tables"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "feeds.toml")
			if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := loadConfig(path)
			if err == nil || !strings.Contains(err.Error(), path+": "+tc.want) || !strings.Contains(err.Error(), "opml import") {
				t.Fatalf("got %v, want an error naming %s that says it %s", err, path, tc.want)
			}
			if !errors.Is(err, errNoFeeds) {
				t.Errorf("error %v is not errNoFeeds", err)
			}
		})
	}
}

func TestConfigMissingFile(t *testing.T) {
	_, err := loadConfig(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("got %v, want an error that says how to point at the config", err)
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"15MiB", 15 << 20, true}, {"1024", 1024, true}, {"2 KB", 2000, true}, {"1GiB", 1 << 30, true},
		{"lots", 0, false}, {"-5MiB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseByteSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
