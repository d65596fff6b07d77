package fetcher

import (
	"testing"
	"time"
)

func TestIsLoopbackHost(t *testing.T) {
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"feeds.localhost", true},
		{"127.0.0.1", true},
		{"127.8.9.10", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"localhost.example.com", false},
		{"example.com", false},
		{"10.0.0.1", false},
		{"192.168.1.20", false},
		{"::", false},
		{"", false},
	} {
		if got := isLoopbackHost(tc.host); got != tc.want {
			t.Errorf("isLoopbackHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

// TestLoopbackNoDelayOnlyLoopback: the exemption leaves every other host,
// private ones included, with the configured delay.
func TestLoopbackNoDelayOnlyLoopback(t *testing.T) {
	l := newLimiter(4, 2, time.Second, time.Now)
	l.loopbackNoDelay = true
	for host, want := range map[string]time.Duration{
		"127.0.0.1": 0, "LOCALHOST": 0, "example.com": time.Second, "192.168.1.20": time.Second,
	} {
		if got := l.host(host).delay; got != want {
			t.Errorf("%s: delay %v, want %v", host, got, want)
		}
	}
	l = newLimiter(4, 2, time.Second, time.Now)
	if got := l.host("127.0.0.1").delay; got != time.Second {
		t.Errorf("without the exemption, 127.0.0.1 has delay %v, want 1s", got)
	}
}
