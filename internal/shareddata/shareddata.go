// Package shareddata finds the project's shared data: the folder shared/
// that sits beside the repository (<x>/<clone>/ and <x>/shared/), holding
// real feed documents and labelled news for tests, benchmarks and scripts.
package shareddata

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// ErrNotFound says shared/data is in no parent of the working directory.
var ErrNotFound = errors.New("shared/data not found in any parent of the working directory: clone the shared folder beside the repository (<x>/<clone>/ and <x>/shared/)")

// Dir returns the path of shared/data, found by walking up from the
// working directory, so that it works from any package's tests and from
// the repository root.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "shared", "data")
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNotFound
		}
		dir = parent
	}
}

// Path returns the path of elem inside shared/data.
func Path(elem ...string) (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(append([]string{dir}, elem...)...), nil
}

// TestDir is Dir for tests and benchmarks: it fails tb when shared/data
// cannot be found.
func TestDir(tb testing.TB) string {
	tb.Helper()
	dir, err := Dir()
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}
