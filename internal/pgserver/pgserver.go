// Package pgserver runs a throwaway PostgreSQL server from the binaries
// of a local installation (Debian's postgresql package), for tests and
// benchmark scripts: a fresh cluster in a temporary directory, reached
// through a Unix socket in that directory (or 127.0.0.1), gone after
// Stop.
//
// It uses the installation's own programs (initdb, postgres, createdb)
// and no client library, so that only storage/postgres imports pgx.
//
// initdb and postgres refuse to run as root. When the process is root,
// both run as the postgres system user (the one Debian's package makes),
// else as nobody, and the temporary directory is given to that user.
package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// EnvBinDir names the environment variable that callers (pgtest,
// scripts) read to choose the directory of the PostgreSQL programs; this
// package reads no environment itself.
const EnvBinDir = "AGGREGATOR_PG_BINDIR"

// installHint ends every error about missing programs.
const installHint = "install PostgreSQL (apt-get install postgresql) or set " + EnvBinDir + " to the directory holding initdb and postgres"

// ErrNotInstalled is returned (wrapped) by Start and FindBinDir when no
// PostgreSQL programs are found.
var ErrNotInstalled = errors.New("postgresql server programs not found")

// superuser is the name of the cluster's superuser, whatever system user
// runs the server.
const superuser = "postgres"

// Options configure Start. The zero value is a server on a Unix socket
// only, without fsync, found under /usr/lib/postgresql.
type Options struct {
	// BinDir is the directory holding initdb, postgres and createdb;
	// empty: the newest /usr/lib/postgresql/*/bin.
	BinDir string
	// Dir is where the temporary directory is made; empty: os.TempDir().
	// Unix socket paths are limited to about 100 bytes, so keep it short.
	Dir string
	// TCP listens on a free port of 127.0.0.1 as well as the socket.
	TCP bool
	// Fsync keeps fsync and synchronous commit on. Off by default: a
	// throwaway server has nothing to lose in a crash, and tests and
	// benchmarks then measure the database rather than the disk.
	Fsync bool
	// Settings are extra server settings (name → value), passed as -c.
	Settings map[string]string
	// StartTimeout bounds the wait for the server to accept connections;
	// default 30s.
	StartTimeout time.Duration
}

// Server is a running throwaway PostgreSQL. Stop it when done.
type Server struct {
	dir, data, bin string
	port           int
	tcp            bool
	cred           *syscall.Credential
	cmd            *exec.Cmd
	exited         chan struct{} // closed when the postgres process has exited
	stopOnce       sync.Once
}

// FindBinDir returns dir when it holds the server programs, or with dir
// empty the newest /usr/lib/postgresql/*/bin that does.
func FindBinDir(dir string) (string, error) {
	if dir != "" {
		if err := hasPrograms(dir); err != nil {
			return "", err
		}
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first: compare the version numerically.
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if hasPrograms(d) == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w in /usr/lib/postgresql/*/bin: %s", ErrNotInstalled, installHint)
}

func hasPrograms(dir string) error {
	for _, p := range []string{"initdb", "postgres", "createdb"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return fmt.Errorf("%w: no %s in %s: %s", ErrNotInstalled, p, dir, installHint)
		}
	}
	return nil
}

// Start makes a new cluster in a temporary directory and starts a server
// on it, returning once it accepts connections. On error nothing is left
// behind.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	bin, err := FindBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 30 * time.Second
	}
	dir, err := os.MkdirTemp(opts.Dir, "pg")
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &Server{dir: dir, data: filepath.Join(dir, "data"), bin: bin, port: 5432, tcp: opts.TCP,
		exited: make(chan struct{})}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if os.Geteuid() == 0 {
		cred, err := unprivileged()
		if err != nil {
			return nil, fmt.Errorf("start postgres as root: %w", err)
		}
		s.cred = cred
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("start postgres: give %s to uid %d: %w", dir, cred.Uid, err)
		}
	}
	if opts.TCP {
		if s.port, err = freePort(); err != nil {
			return nil, fmt.Errorf("start postgres: %w", err)
		}
	}
	initdb := s.command(ctx, "initdb", "-D", s.data, "-U", superuser, "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb in %s: %w\n%s", s.data, err, bytes.TrimSpace(out))
	}
	if err := s.start(opts); err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx, opts.StartTimeout); err != nil {
		return nil, err
	}
	return s, nil
}

// unprivileged returns the credential of the postgres system user, else
// nobody's.
func unprivileged() (*syscall.Credential, error) {
	var errs []error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, fmt.Errorf("user %s: %w", name, err))
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, fmt.Errorf("initdb refuses root and no unprivileged user to run it as: %w", errors.Join(errs...))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// command runs one of the installation's programs as the server's user.
func (s *Server) command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, prog), args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"LC_ALL=C", "PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd
}

func (s *Server) start(opts Options) error {
	listen := ""
	if opts.TCP {
		listen = "127.0.0.1"
	}
	settings := map[string]string{
		"listen_addresses":        listen,
		"unix_socket_directories": s.dir,
		"port":                    strconv.Itoa(s.port),
		"max_connections":         "200",
		"logging_collector":       "off",
	}
	if !opts.Fsync {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	args := []string{"-D", s.data}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		args = append(args, "-c", k+"="+settings[k])
	}
	log, err := os.Create(s.logPath())
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	defer log.Close() // the child has its own descriptor
	// Not CommandContext: the server outlives Start's context; Stop ends it.
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"LC_ALL=C", "PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so Stop can kill the backends with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd = cmd
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	return nil
}

func (s *Server) logPath() string { return filepath.Join(s.dir, "postgres.log") }

// waitReady waits until postmaster.pid says the server is ready (its
// eighth line, PM_STATUS_READY), the process exits, or the timeout.
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if raw, err := os.ReadFile(filepath.Join(s.data, "postmaster.pid")); err == nil {
			lines := strings.Split(string(raw), "\n")
			if len(lines) > 7 && strings.TrimSpace(lines[7]) == "ready" {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited while starting: %s", s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready after %v: %w: %s", timeout, ctx.Err(), s.logTail())
		case <-tick.C:
		}
	}
}

func (s *Server) logTail() string {
	raw, _ := os.ReadFile(s.logPath())
	raw = bytes.TrimSpace(raw)
	if len(raw) > 2000 {
		raw = raw[len(raw)-2000:]
	}
	return string(raw)
}

// URL is the connection URL of database dbname, as the superuser.
func (s *Server) URL(dbname string) string {
	u := url.URL{Scheme: "postgres", User: url.User(superuser), Path: "/" + dbname}
	q := url.Values{"sslmode": {"disable"}}
	if s.tcp {
		u.Host = "127.0.0.1:" + strconv.Itoa(s.port)
	} else {
		u.Host = "localhost" // ignored: host below names the socket directory
		q.Set("host", s.dir)
		q.Set("port", strconv.Itoa(s.port))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// CreateDatabase creates an empty database.
func (s *Server) CreateDatabase(ctx context.Context, name string) error {
	host := s.dir
	if s.tcp {
		host = "127.0.0.1"
	}
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "createdb"),
		"-h", host, "-p", strconv.Itoa(s.port), "-U", superuser, "--", name)
	cmd.Env = []string{"LC_ALL=C", "PATH=" + os.Getenv("PATH"), "PGSSLMODE=disable"}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("create database %s: %w: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}

// Dir is the server's temporary directory (data directory, socket, log).
func (s *Server) Dir() string { return s.dir }

// Stop ends the server (immediate shutdown; a kill of its process group
// if it lingers) and removes its directory. It is safe to call more than
// once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			// SIGQUIT: immediate shutdown, the postmaster stops its
			// backends and exits without a checkpoint.
			s.cmd.Process.Signal(syscall.SIGQUIT)
			t := time.NewTimer(5 * time.Second)
			select {
			case <-s.exited:
			case <-t.C:
			}
			t.Stop()
			// Whatever is left of the group (backends, or the postmaster
			// itself when it did not exit).
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
		os.RemoveAll(s.dir)
	})
}
