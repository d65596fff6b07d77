// Command aggregator fetches many news feeds, recognises when several
// outlets report the same story, and republishes one merged, deduplicated
// feed in RSS 2.0, Atom 1.0 and JSON Feed 1.1.
//
// Run "aggregator help" for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"aggregator/fetcher"
)

func main() {
	fetcher.Version = version // the User-Agent names it
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopLimit := limitHeap(ctx, os.Getenv)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stopLimit()
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// Exit statuses: 0 success, 1 failure, 2 bad usage, bad config or a
// database that cannot be opened.
const (
	exitFailure = 1
	exitUsage   = 2
)

// exitError carries the exit status an error should produce.
type exitError struct {
	code int
	err  error
	// quiet: the message was written already (by the daemon that ran
	// the command).
	quiet bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr marks err as a usage, config or database-open problem (exit 2).
func usageErr(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: exitUsage, err: err}
}

// errHelp is returned when --help was asked for: exit 0, nothing more to say.
var errHelp = errors.New("help requested")

func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, errHelp) {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.quiet {
		return ee.code // the message was written already
	}
	fmt.Fprintf(stderr, "aggregator: %v\n", err)
	if ee != nil {
		return ee.code
	}
	return exitFailure
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what a command may touch of the outside world. Tests build their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// ready, when set, receives the server's base URL once serve or demo
	// is listening and has done its first pass (tests wait on it).
	ready func(baseURL string)
	// clustered, when set, is called after each clustering round of serve
	// that stored decisions (tests wait on it instead of polling).
	clustered func()
	// environ reads the environment (DATABASE_URL); nil reads nothing.
	environ func(key string) string
	// daemon is set when serve runs a command for the control channel:
	// the command then works on the daemon's store and pipeline.
	daemon *daemonCall
	// hup, when set, replaces SIGHUP as serve's reload signal (tests).
	hup <-chan os.Signal
}

func (e *env) getenv(key string) string {
	if e.environ == nil {
		return ""
	}
	return e.environ(key)
}

func commands() []command {
	return []command{
		{"fetch", "fetch the feeds that are due, store and cluster their items, print a summary", runFetch},
		{"serve", "run the daemon: fetch on schedule and serve the merged feeds over HTTP", runServe},
		{"export", "write a merged feed to stdout (for static hosting from cron)", runExport},
		{"clusters", "list story clusters with their members, or explain a pair of items", runClusters},
		{"feeds", "show each feed's fetch state; \"feeds enable NAME\" re-enables a stopped feed", runFeeds},
		{"opml", "import subscriptions from OPML or export them", runOPML},
		{"reload", "make the running daemon reread its config file (as SIGHUP does)", runReload},
		{"migrate", "copy the whole database into another store (PostgreSQL or a file)", runMigrate},
		{"demo", "serve built-in sample feeds offline and show the merged, deduplicated result", runDemo},
	}
}

// run executes the command line args (without the program name).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runEnv(ctx, &env{stdin: stdin, stdout: stdout, stderr: stderr, environ: os.Getenv}, args)
}

func runEnv(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		usage(e.stderr)
		return usageErr(errors.New("no command given"))
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		usage(e.stdout)
		return nil
	case "version", "--version":
		printVersion(e.stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, e, args[1:])
		}
	}
	usage(e.stderr)
	return usageErr(fmt.Errorf("unknown command %q", name))
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// printVersion says which build this is: the version, the commit it was
// built from when known, and the Go release.
func printVersion(w io.Writer) {
	line := "aggregator " + version
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = "+modified"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			line += " (" + rev + modified + ")"
		}
		line += " " + bi.GoVersion
	}
	fmt.Fprintln(w, line)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "aggregator merges many news feeds into one deduplicated feed.")
	fmt.Fprintln(w, "\nUsage: aggregator COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"aggregator COMMAND --help\" for a command's flags.")
}
