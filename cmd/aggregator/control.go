package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/sys/unix"

	"aggregator/fetcher"
	"aggregator/pipeline"
)

// The control channel lets the CLI work beside a running daemon, which
// holds the bbolt file exclusively: serve listens on a Unix socket beside
// the database (DB.sock, mode 0600, and the peer's uid checked), and the
// read commands, fetch, feeds enable/delete and reload send it their
// arguments instead of opening the file. The daemon runs the same command
// code on its own store and pipeline and sends back what it printed and
// its exit status, so the output is the one an idle database gives.
// PostgreSQL needs no channel: any number of processes open it.

// forwarded are the commands the daemon runs for the CLI.
var forwarded = []string{"clusters", "feeds", "export", "fetch", "reload"}

// controlPath is the daemon's socket for the bbolt file at db.
func controlPath(db string) string { return db + ".sock" }

// daemonCall is what a command run for the control channel works on.
type daemonCall struct {
	store    store
	pipeline *pipeline.Pipeline
	client   *fetcher.Client
	reload   func() error
	// config and db are the client's config file and database, absolute.
	config, db string
}

// controlRequest is a command line sent to the daemon.
type controlRequest struct {
	Args   []string `json:"args"`
	Config string   `json:"config"`
	DB     string   `json:"db"`
}

// controlReply is what the command printed and its exit status.
type controlReply struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Code   int    `json:"code"`
}

// listenControl makes the socket at path, reachable by this user only:
// it is created in a private directory, set to 0600 and then moved into
// place, so that no other user can connect in between.
func listenControl(path string) (net.Listener, error) {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".ctl")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err == nil {
		err = os.Rename(tmp, path) // replaces a socket a killed daemon left
	}
	if err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// controlServer answers control requests for the daemon d.
func controlServer(d daemonCall, log *slog.Logger) *http.Server {
	uid := os.Getuid()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /run", func(w http.ResponseWriter, r *http.Request) {
		var req controlRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || len(req.Args) == 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if !slices.Contains(forwarded, req.Args[0]) {
			http.Error(w, fmt.Sprintf("%q is not run through the control channel", req.Args[0]), http.StatusBadRequest)
			return
		}
		var out, errb bytes.Buffer
		call := d
		call.config, call.db = req.Config, req.DB
		err := runEnv(r.Context(), &env{stdout: &out, stderr: &errb, daemon: &call}, req.Args)
		code := exitCode(err, &errb)
		log.Debug("control", "args", req.Args, "exit", code)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(controlReply{Stdout: out.String(), Stderr: errb.String(), Code: code})
	})
	return &http.Server{
		Handler:     mux,
		ReadTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			// The socket's mode keeps other users out; the peer's uid is
			// checked too, in case the directory's permissions do not.
			if uc, ok := c.(*net.UnixConn); ok {
				if raw, err := uc.SyscallConn(); err == nil {
					var cred *unix.Ucred
					raw.Control(func(fd uintptr) { cred, _ = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
					if cred == nil || int(cred.Uid) != uid && cred.Uid != 0 {
						c.Close()
					}
				}
			}
			return ctx
		},
	}
}

// errNoDaemon says no daemon answers on the database's socket.
var errNoDaemon = errors.New("no daemon is running on this database")

// forward sends the command line args to the daemon running on the bbolt
// file db, when one answers, and prints its reply. It reports whether a
// daemon took the command; its exit status comes back as the error.
func forward(ctx context.Context, e *env, cf *commonFlags, cfg *Config, args []string) (bool, error) {
	if e.daemon != nil || cf.storeURL(e, cfg) != "" && cf.db == "" {
		return false, nil // already in the daemon, or PostgreSQL: no lock to get around
	}
	db, err := filepath.Abs(cf.dbPath(cfg))
	if err != nil {
		return false, nil
	}
	sock := controlPath(db)
	if _, err := os.Stat(sock); err != nil {
		return false, nil
	}
	conn, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return false, nil // a socket a killed daemon left
	}
	conn.Close()
	config, err := filepath.Abs(cf.config)
	if err != nil {
		return false, nil
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	body, _ := json.Marshal(controlRequest{Args: args, Config: config, DB: db})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://daemon/run", bytes.NewReader(body))
	if err != nil {
		return true, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return true, fmt.Errorf("the daemon on %s did not answer: %w", db, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return true, fmt.Errorf("the daemon on %s refused: %s", db, bytes.TrimSpace(msg))
	}
	var rep controlReply
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return true, fmt.Errorf("the daemon on %s: %w", db, err)
	}
	io.WriteString(e.stdout, rep.Stdout)
	io.WriteString(e.stderr, rep.Stderr)
	if rep.Code != 0 {
		return true, &exitError{code: rep.Code, err: fmt.Errorf("exit status %d", rep.Code), quiet: true}
	}
	return true, nil
}

const reloadHelp = `
Make the running daemon reread its config file, as SIGHUP does: added feeds
are scheduled, removed ones stop (their stored items stay), changed URLs,
intervals, tags and outputs take effect. An invalid file is reported and
the daemon keeps its old config (exit status 2).`

func runReload(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "reload", "[--config feeds.toml] [--db PATH]", reloadHelp)
	var cf commonFlags
	cf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := cf.load(e)
	if err != nil && e.daemon == nil {
		// The daemon reports the problems itself (and logs them): find it
		// from what of the file can be read.
		if where, ok := lenientStorage(&cf); ok {
			if ok, ferr := forward(ctx, e, &cf, where, append([]string{"reload"}, args...)); ok {
				return ferr
			}
		}
		return err
	}
	if e.daemon != nil {
		if err := e.daemon.reload(); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "reloaded", e.daemon.config)
		return nil
	}
	if ok, err := forward(ctx, e, &cf, cfg, append([]string{"reload"}, args...)); ok {
		return err
	}
	if cf.storeURL(e, cfg) != "" && cf.db == "" {
		return fmt.Errorf("reload goes through the socket beside a bbolt file; on PostgreSQL send SIGHUP to each daemon (systemctl reload)")
	}
	return fmt.Errorf("%w (%s): nothing to reload", errNoDaemon, cf.dbPath(cfg))
}

// lenientStorage reads only [storage] of the config file, for reload to
// find the daemon of a file that no longer validates.
func lenientStorage(cf *commonFlags) (*Config, bool) {
	var c struct {
		Storage StorageConfig `toml:"storage"`
	}
	c.Storage.Path = defaultConfig().Storage.Path
	if _, err := toml.DecodeFile(cf.config, &c); err != nil && cf.db == "" {
		return nil, false
	}
	return &Config{Storage: c.Storage, path: cf.config}, true
}
