package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"aggregator/fetcher"
	"aggregator/pipeline"
)

// progress shows a fetch pass: a bar redrawn in place on a terminal, one
// plain line per finished feed otherwise (logs and CI). Calls are
// serialised by the caller.
type progress struct {
	w           io.Writer
	tty         bool
	total, done int
	failed      int
}

func newProgress(w io.Writer, total int) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: w, tty: tty, total: total}
}

func (p *progress) step(o pipeline.Outcome) {
	p.done++
	if o.Status == fetcher.StatusFailed {
		p.failed++
	}
	if !p.tty {
		// Plain lines for logs: one per tenth of a long pass.
		if p.total >= 20 && p.done*10/p.total != (p.done-1)*10/p.total {
			fmt.Fprintf(p.w, "fetched %d/%d feeds, %d failed\n", p.done, p.total, p.failed)
		}
		return
	}
	const width = 30
	filled := 0
	if p.total > 0 {
		filled = width * p.done / p.total
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d feeds, %d failed  %-30.30s",
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), p.done, p.total, p.failed, o.Feed)
}

func (p *progress) finish() {
	if p.tty && p.done > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", 80))
	}
}
