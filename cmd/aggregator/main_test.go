package main

import (
	"testing"

	"aggregator/internal/pgtest"
)

// TestMain stops the PostgreSQL server the tests may have started.
func TestMain(m *testing.M) { pgtest.Main(m) }
