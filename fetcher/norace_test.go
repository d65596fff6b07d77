//go:build !race

package fetcher_test

const raceEnabled = false
