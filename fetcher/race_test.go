//go:build race

package fetcher_test

// raceEnabled: the race detector slows parsing some tenfold, so tests
// that parse huge documents shrink them under it.
const raceEnabled = true
