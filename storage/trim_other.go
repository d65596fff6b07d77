//go:build !linux

package storage

// trimMapped does nothing here: the mapped pages stay resident until the
// kernel needs them (see trim_linux.go).
func (db *DB) trimMapped() {}

// startTrimmer starts nothing here.
func (db *DB) startTrimmer() (stop func()) { return func() {} }
