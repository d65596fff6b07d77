// Package pgtest gives tests a fresh PostgreSQL database each, from one
// throwaway server (package pgserver) per test binary:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		url := pgtest.NewDatabase(t)
//		...
//	}
//
// Without the PostgreSQL programs NewDatabase skips the test, saying how
// to install them, unless the environment sets AGGREGATOR_POSTGRES_TESTS=1
// (as CI does): then it fails, so that a machine without PostgreSQL can
// not pass by skipping.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"aggregator/internal/pgserver"
)

// EnvRequire names the variable that turns a missing installation from a
// skip into a failure.
const EnvRequire = "AGGREGATOR_POSTGRES_TESTS"

var (
	// mu guards srv and startErr, set by the first NewDatabase.
	mu       sync.Mutex
	srv      *pgserver.Server
	startErr error
	started  bool
	mainRan  bool
	dbSeq    atomic.Uint64
)

// Main runs the tests and then stops the server, if any test started
// one; call it from TestMain.
func Main(m *testing.M) {
	mu.Lock()
	mainRan = true
	mu.Unlock()
	code := m.Run()
	mu.Lock()
	if srv != nil {
		srv.Stop()
	}
	mu.Unlock()
	os.Exit(code)
}

// server starts the shared server on first use.
func server() (*pgserver.Server, error) {
	mu.Lock()
	defer mu.Unlock()
	if !mainRan {
		return nil, errors.New("pgtest: the package's TestMain must call pgtest.Main(m), which stops the server")
	}
	if !started {
		started = true
		srv, startErr = pgserver.Start(context.Background(), pgserver.Options{BinDir: os.Getenv(pgserver.EnvBinDir)})
	}
	return srv, startErr
}

// NewDatabase creates an empty database on the test binary's server and
// returns its URL. The database is left for the server's removal at the
// end of the run.
func NewDatabase(t testing.TB) string {
	t.Helper()
	s, err := server()
	if errors.Is(err, pgserver.ErrNotInstalled) && os.Getenv(EnvRequire) != "1" {
		t.Skipf("no PostgreSQL for this test: %v (set %s=1 to make this a failure)", err, EnvRequire)
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name := fmt.Sprintf("test%d", dbSeq.Add(1))
	if err := s.CreateDatabase(context.Background(), name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s.URL(name)
}
