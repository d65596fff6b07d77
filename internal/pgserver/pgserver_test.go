package pgserver_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"aggregator/internal/pgserver"
)

// psql runs a query through the installation's psql, so that this test
// needs no client library.
func psql(t *testing.T, url, query string) string {
	t.Helper()
	bin, err := pgserver.FindBinDir(os.Getenv(pgserver.EnvBinDir))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(bin, "psql"), "-X", "-A", "-t", "-c", query, url).CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v: %s", query, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestStartStop(t *testing.T) {
	if _, err := pgserver.FindBinDir(os.Getenv(pgserver.EnvBinDir)); errors.Is(err, pgserver.ErrNotInstalled) {
		if os.Getenv("AGGREGATOR_POSTGRES_TESTS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	for _, tc := range []struct {
		name string
		opts pgserver.Options
		// fsync is the server's fsync setting as SHOW prints it.
		fsync string
	}{
		{"socket", pgserver.Options{}, "off"},
		{"tcp-fsync", pgserver.Options{TCP: true, Fsync: true}, "on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			srv, err := pgserver.Start(ctx, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Stop()
			if err := srv.CreateDatabase(ctx, "app"); err != nil {
				t.Fatal(err)
			}
			if err := srv.CreateDatabase(ctx, "app"); err == nil {
				t.Error("creating a database twice: got no error")
			}
			url := srv.URL("app")
			if got := psql(t, url, "SELECT current_database()"); got != "app" {
				t.Errorf("current_database() = %q, want app", got)
			}
			if got := psql(t, url, "SHOW fsync"); got != tc.fsync {
				t.Errorf("fsync = %q, want %q", got, tc.fsync)
			}
			if got := strings.Contains(url, "127.0.0.1"); got != tc.opts.TCP {
				t.Errorf("URL %s: over TCP %v, want %v", url, got, tc.opts.TCP)
			}
			dir := srv.Dir()
			srv.Stop()
			srv.Stop() // twice is fine
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after Stop, %s: %v, want it removed", dir, err)
			}
		})
	}
}

func TestMissingBinaries(t *testing.T) {
	_, err := pgserver.Start(context.Background(), pgserver.Options{BinDir: t.TempDir()})
	if !errors.Is(err, pgserver.ErrNotInstalled) {
		t.Fatalf("got %v, want ErrNotInstalled", err)
	}
	if !strings.Contains(err.Error(), "apt-get install postgresql") {
		t.Errorf("error %q does not say how to install", err)
	}
}
