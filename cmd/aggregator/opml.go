package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"aggregator"
	"aggregator/publish"
)

const opmlHelp = `
Move subscriptions in and out as OPML.

  aggregator opml import FILE [--write]   print the [[feeds]] tables to add
                                          for FILE's subscriptions (feeds
                                          already configured by URL are
                                          skipped); --write appends them to
                                          the config file, keeping its comments
  aggregator opml export                  write the subscriptions as OPML`

func runOPML(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "opml", "import FILE [--write] | export", opmlHelp)
	var cf commonFlags
	fs.StringVar(&cf.config, "config", "feeds.toml", "`path` of the config file")
	write := fs.Bool("write", false, "import: append the new feeds to the config file")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return usageErr(fmt.Errorf("opml needs a subcommand: import or export"))
	}
	sub, params := pos[0], pos[1:]
	cfg, err := cf.load(e)
	if err != nil && (sub != "import" || !errors.Is(err, errNoFeeds)) {
		// Importing is how a config without feeds gets its first ones.
		return err
	}
	switch sub {
	case "export":
		return publish.WriteOPML(e.stdout, "aggregator subscriptions", cfg.feeds())
	case "import":
		if len(params) != 1 {
			return usageErr(fmt.Errorf("opml import takes one OPML file"))
		}
		return importOPML(e.stdout, e.stderr, cfg, params[0], *write)
	}
	return usageErr(fmt.Errorf("unknown opml subcommand %q (import or export)", sub))
}

// importOPML prints (or, with write, appends to the config) the [[feeds]]
// tables for the subscriptions of file that are not configured yet.
// Warnings go to warn.
func importOPML(w, warn io.Writer, cfg *Config, file string, write bool) error {
	f, err := os.Open(file)
	if err != nil {
		return usageErr(err)
	}
	defer f.Close()
	feeds, err := publish.ReadOPML(f)
	if err != nil {
		return usageErr(fmt.Errorf("%s: %w", file, err))
	}
	tables, added, skipped, refused := opmlTables(warn, cfg, feeds, file)
	if !write {
		fmt.Fprintf(w, "# %d feeds to add from %s (%d already configured%s)\n", added, file, skipped, refusedNote(refused))
		_, err := w.Write(tables)
		return err
	}
	if added == 0 {
		fmt.Fprintf(w, "nothing to add: all %d feeds of %s are already in %s%s\n", skipped, file, cfg.path, refusedNote(refused))
		return nil
	}
	old, err := os.ReadFile(cfg.path)
	if err != nil {
		return err
	}
	next := append(bytes.TrimRight(old, "\n"), '\n')
	next = append(next, fmt.Sprintf("\n# Imported from %s\n", file)...)
	next = append(next, bytes.TrimLeft(tables, "\n")...)
	// Refuse to write a config that would not load.
	if _, err := parseConfig(cfg.path, next); err != nil {
		return fmt.Errorf("the merged config would be invalid, not written: %w", err)
	}
	if err := writeFileAtomic(cfg.path, next); err != nil {
		return err
	}
	fmt.Fprintf(w, "added %d feeds to %s (%d already configured%s)\n", added, cfg.path, skipped, refusedNote(refused))
	return nil
}

// opmlTables returns the [[feeds]] tables for those of feeds that cfg
// does not have yet (by canonical URL), with names unique in cfg, and
// counts them: added, already configured, and refused. An outline whose
// URL is not absolute http(s) (javascript:, ftp:, a relative path) is
// refused with a warning on warn naming it and file.
func opmlTables(warn io.Writer, cfg *Config, feeds []aggregator.Feed, file string) (tables []byte, added, skipped, refused int) {
	have := map[string]bool{}
	names := map[string]bool{}
	for _, fc := range cfg.Feeds {
		have[aggregator.CanonicalURL(fc.URL)] = true
		names[fc.Name] = true
	}
	var b bytes.Buffer
	for _, fd := range feeds {
		if !isHTTPURL(fd.URL) {
			refused++
			title := fd.Title
			if title == "" {
				title = fd.Name
			}
			fmt.Fprintf(warn, "warning: %s: skipping outline %q: %q is not an absolute http(s) URL\n", file, title, fd.URL)
			continue
		}
		if have[aggregator.CanonicalURL(fd.URL)] {
			skipped++
			continue
		}
		have[aggregator.CanonicalURL(fd.URL)] = true
		name := fd.Name
		for i := 2; names[name]; i++ {
			name = fmt.Sprintf("%s-%d", fd.Name, i)
		}
		names[name] = true
		added++
		fmt.Fprintf(&b, "\n[[feeds]]\nname = %s\nurl = %s\n", strconv.Quote(name), strconv.Quote(fd.URL))
		if fd.Title != "" && fd.Title != name {
			fmt.Fprintf(&b, "title = %s\n", strconv.Quote(fd.Title))
		}
		if len(fd.Tags) > 0 {
			q := make([]string, len(fd.Tags))
			for i, t := range fd.Tags {
				q[i] = strconv.Quote(t)
			}
			fmt.Fprintf(&b, "tags = [%s]\n", strings.Join(q, ", "))
		}
	}
	return b.Bytes(), added, skipped, refused
}

func refusedNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d skipped: not http(s)", n)
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new file, never half of one.
func writeFileAtomic(path string, data []byte) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".feeds-*.toml")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(info.Mode()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
