package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"aggregator/internal/pgserver"
)

// pgCluster is the one throwaway PostgreSQL both systems store in, each
// round in a database of its own, with fsync on as in production.
type pgCluster struct {
	srv *pgserver.Server
	pid int // the postmaster's
}

func startPG(ctx context.Context) (*pgCluster, error) {
	srv, err := pgserver.Start(ctx, pgserver.Options{Fsync: true, Dir: "/tmp"})
	if err != nil {
		return nil, err
	}
	// The first line of postmaster.pid is the postmaster's pid.
	b, err := os.ReadFile(filepath.Join(srv.Dir(), "data", "postmaster.pid"))
	if err != nil {
		srv.Stop()
		return nil, fmt.Errorf("postmaster pid: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		srv.Stop()
		return nil, fmt.Errorf("postmaster pid %q: %w", first, err)
	}
	return &pgCluster{srv: srv, pid: pid}, nil
}

// cpu is the CPU time all of the server's processes have used (the
// postmaster, its helpers and backends live or gone), less the live
// backends in skip.
func (p *pgCluster) cpu(skip ...int) (time.Duration, error) { return treeCPU(p.pid, skip...) }

// drop removes database name, to keep the disk from filling over the
// rounds. Errors are only reported: a leftover database in a throwaway
// cluster harms nothing.
func (p *pgCluster) drop(ctx context.Context, name string) {
	conn, err := pgx.Connect(ctx, p.srv.URL("postgres"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "drop database:", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		fmt.Fprintln(os.Stderr, "drop database:", err)
	}
}
