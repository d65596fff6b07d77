package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// newFlagSet makes a subcommand's flag set whose --help prints the synopsis
// and description before the flags.
func newFlagSet(e *env, name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: aggregator %s %s\n\n%s\n", name, synopsis, strings.TrimSpace(description))
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(w, "\nFlags:")
			printDefaults(w, fs)
		}
	}
	return fs
}

// printDefaults lists flags as --name, which is how the README writes them.
func printDefaults(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(w, " %s", name)
		}
		fmt.Fprintf(w, "\n    \t%s", strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// parseFlags parses args; --help yields errHelp, a bad flag a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageErr(err)
	}
	return nil
}

// parseInterleaved parses flags wherever they stand among the positional
// arguments ("opml import FILE --write" as well as "opml --write import
// FILE") and returns the positional ones in order.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// commonFlags are the flags that locate the config and the database.
type commonFlags struct {
	config    string
	db        string
	logFormat string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "feeds.toml", "`path` of the config file")
	fs.StringVar(&c.db, "db", "", "`path` of the database file (overrides [storage].path and [storage].url)")
	fs.Var(logFormatFlag{&c.logFormat}, "log-format", "log lines as `text` (key=value) or json (one object a line, for log shippers)")
}

// load reads the config; problems with it are usage errors (exit 2).
// A command the daemon runs for the control channel reads the client's
// files, named absolutely.
func (c *commonFlags) load(e *env) (*Config, error) {
	if e.daemon != nil {
		c.config, c.db = e.daemon.config, e.daemon.db
	}
	// The config comes back with the error when it was read but does not
	// validate (opml import fills a file that has no feeds yet).
	cfg, err := loadConfig(c.config)
	return cfg, usageErr(err)
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// logFormatFlag accepts text or json.
type logFormatFlag struct{ v *string }

func (f logFormatFlag) String() string {
	if f.v == nil || *f.v == "" {
		return "text"
	}
	return *f.v
}

func (f logFormatFlag) Set(s string) error {
	if s != "text" && s != "json" {
		return fmt.Errorf("want text or json, got %q", s)
	}
	*f.v = s
	return nil
}

// logger writes the command's log lines to stderr in the chosen format.
func (c *commonFlags) logger(e *env, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}
