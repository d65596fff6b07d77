package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"aggregator"
	"aggregator/storage"
)

const migrateHelp = `
Copy the whole database into another store: items, stories with their ids,
memberships and why each member joined, fetch state and schedule,
tombstones, the cluster log and the saved dedupe index. The source is the
configured store ([storage] url or DATABASE_URL, else --db or
[storage].path); the target is --to, a postgres:// URL or a file path, and
must be empty. Then point the config at the target:

  aggregator migrate --to postgres://user@host/aggregator
  # feeds.toml: [storage] url = "postgres://user@host/aggregator"

Stop the daemon first: the source must not change while it is copied.`

// dumper is a store that can write its whole content out and read one in
// (storage.DB and postgres.DB).
type dumper interface {
	Export(ctx context.Context, put func(aggregator.DumpRecord) error) error
	Import(ctx context.Context, produce func(put func(aggregator.DumpRecord) error) error) error
}

func runMigrate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "migrate", "--to URL|FILE [--config feeds.toml] [--db PATH]", migrateHelp)
	var cf commonFlags
	cf.register(fs)
	to := fs.String("to", "", "the target store: a postgres:// `URL` or a bbolt file path")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *to == "" {
		return usageErr(errors.New("migrate needs --to URL or FILE"))
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Errorf("migrate takes no arguments, got %q", fs.Args()))
	}
	cfg, err := cf.load(e)
	if err != nil {
		return err
	}
	src, err := cf.open(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer src.Close()
	if !isPostgresURL(*to) {
		if _, err := os.Stat(*to); err == nil {
			return usageErr(fmt.Errorf("--to %s: the file exists; migrate writes a new one (move it aside)", *to))
		}
	}
	dst, err := openStore(ctx, *to, storage.Options{})
	if err != nil {
		return usageErr(fmt.Errorf("--to: %w", err))
	}
	defer dst.Close()
	if src.Where() == dst.Where() {
		return usageErr(fmt.Errorf("--to %s is the source itself", dst.Where()))
	}
	n, err := migrate(ctx, src, dst)
	if err != nil {
		return fmt.Errorf("migrate %s to %s: %w (the target is incomplete: empty it before trying again)", src.Where(), dst.Where(), err)
	}
	st, err := dst.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "copied %s to %s: %d records, %d items, %d stories, %d feeds, %d tombstones\n",
		src.Where(), dst.Where(), n, st.Items, st.Clusters, st.Feeds, st.Tombstones)
	if isPostgresURL(*to) {
		fmt.Fprintf(e.stdout, "to use it, set in %s:\n  [storage]\n  url = %q\n", cfg.path, redactURL(*to))
	} else {
		fmt.Fprintf(e.stdout, "to use it, set [storage] path = %q in %s (and remove [storage] url)\n", *to, cfg.path)
	}
	return nil
}

// migrate copies src into the empty dst and checks the counts agree. It
// returns how many records it copied.
func migrate(ctx context.Context, src, dst store) (int, error) {
	from, ok := src.(dumper)
	into, ok2 := dst.(dumper)
	if !ok || !ok2 {
		return 0, errors.New("this store cannot be migrated")
	}
	n := 0
	err := into.Import(ctx, func(put func(aggregator.DumpRecord) error) error {
		return from.Export(ctx, func(r aggregator.DumpRecord) error {
			n++
			return put(r)
		})
	})
	if err != nil {
		return n, err
	}
	// The saved index stays valid: the target has the source's stamp.
	rc, err := src.OpenSavedIndex(ctx)
	if err != nil {
		return n, fmt.Errorf("saved dedupe index: %w", err)
	}
	if rc != nil {
		err = dst.SaveIndex(ctx, func(w io.Writer) error {
			_, err := io.Copy(w, rc)
			return err
		})
		rc.Close()
		if err != nil {
			return n, fmt.Errorf("saved dedupe index: %w", err)
		}
	}
	a, err := src.Stats(ctx)
	if err != nil {
		return n, err
	}
	b, err := dst.Stats(ctx)
	if err != nil {
		return n, err
	}
	if a.Items != b.Items || a.Clusters != b.Clusters || a.Feeds != b.Feeds || a.Tombstones != b.Tombstones || a.Pending != b.Pending {
		return n, fmt.Errorf("the copy differs: source %+v, target %+v", a, b)
	}
	return n, nil
}
