package pgtest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"aggregator/internal/pgserver"
	"aggregator/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestNewDatabase: each call gives a database of its own.
func TestNewDatabase(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") != "" {
		pgtest.NewDatabase(t) // the child of TestWithoutPostgres
		return
	}
	a, b := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if a == b {
		t.Fatalf("two calls gave the same database %s", a)
	}
	bin, err := pgserver.FindBinDir(os.Getenv(pgserver.EnvBinDir))
	if err != nil {
		t.Fatal(err)
	}
	psql := func(url, q string) string {
		out, err := exec.Command(filepath.Join(bin, "psql"), "-X", "-A", "-t", "-c", q, url).CombinedOutput()
		if err != nil {
			t.Fatalf("psql %s: %v: %s", q, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	psql(a, "CREATE TABLE t (x int)")
	if got := psql(b, "SELECT count(*) FROM pg_tables WHERE tablename = 't'"); got != "0" {
		t.Errorf("a table made in one database shows in the other (%s)", got)
	}
}

// TestWithoutPostgres: with no PostgreSQL programs a test skips, saying
// how to install them, unless AGGREGATOR_POSTGRES_TESTS=1 makes it fail.
func TestWithoutPostgres(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") != "" {
		t.Skip("the child runs TestNewDatabase only")
	}
	for _, tc := range []struct {
		name, require string
		wantFail      bool
	}{{"skip", "", false}, {"required", "1", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestNewDatabase$", "-test.v")
			cmd.Env = append(os.Environ(), "PGTEST_CHILD=1", pgserver.EnvBinDir+"="+t.TempDir(), pgtest.EnvRequire+"="+tc.require)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tc.wantFail {
				t.Errorf("child failed = %v, want %v:\n%s", failed, tc.wantFail, out)
			}
			if !strings.Contains(string(out), "apt-get install postgresql") {
				t.Errorf("child's output does not say how to install PostgreSQL:\n%s", out)
			}
			if want := "--- SKIP"; !tc.wantFail && !strings.Contains(string(out), want) {
				t.Errorf("child's output has no %q:\n%s", want, out)
			}
		})
	}
}
