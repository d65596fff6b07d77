// Command score scores the output of `aggregator clusters --json` against
// a labelled development file of shared/data/dedupe, with the metrics of
// that data's README (pairwise and B-cubed precision, recall and F1), so
// that the end-to-end run reports the same numbers as the dedupe tests.
//
//	go run ./scripts/score -gold ../shared/data/dedupe/dev.jsonl -clusters clusters.jsonl [-date-split]
//
// Items are matched by (feed, GUID): the end-to-end script serves one feed
// per outlet, named after the item's source, with the item's id as GUID.
// Gold items missing from the clusters count as singletons.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"aggregator/dedupe/score"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "score:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	goldPath := fs.String("gold", "", "labelled JSON Lines file (shared/data/dedupe/*.jsonl)")
	clPath := fs.String("clusters", "-", "output of `aggregator clusters --json` (- for stdin)")
	split := fs.Bool("date-split", false, "also cut clusters at date boundaries (the headline set's variant)")
	feedKey := fs.Bool("match-by-guid-only", false, "match items by GUID alone, ignoring the feed name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *goldPath == "" {
		return errors.New("-gold is required")
	}
	gf, err := os.Open(*goldPath)
	if err != nil {
		return err
	}
	defer gf.Close()
	items, err := score.Load(gf)
	if err != nil {
		return fmt.Errorf("%s: %w", *goldPath, err)
	}
	var cr io.Reader = os.Stdin
	if *clPath != "-" {
		f, err := os.Open(*clPath)
		if err != nil {
			return err
		}
		defer f.Close()
		cr = f
	}
	key := func(feed, guid string) string {
		if *feedKey {
			return guid
		}
		return feed + "\x00" + guid
	}
	pred, err := readClusters(cr, key)
	if err != nil {
		return fmt.Errorf("%s: %w", *clPath, err)
	}
	gold := map[string]string{}
	got := map[string]string{}
	dates := map[string]time.Time{}
	missing := 0
	for _, it := range items {
		gold[it.ID], dates[it.ID] = it.Story, it.Published
		if c, ok := pred[key(it.Source, it.ID)]; ok {
			got[it.ID] = c
		} else {
			missing++
		}
	}
	fmt.Fprintf(stdout, "%-12s %v\n", "plain", score.Score(gold, got))
	if *split {
		fmt.Fprintf(stdout, "%-12s %v\n", "date-split", score.Score(score.SplitByDate(gold, dates), score.SplitByDate(got, dates)))
	}
	if missing > 0 {
		fmt.Fprintf(stdout, "%d of %d labelled items not found in the clusters (scored as singletons)\n", missing, len(items))
	}
	return nil
}

// readClusters reads `clusters --json` lines into item key → cluster id.
func readClusters(r io.Reader, key func(feed, guid string) string) (map[string]string, error) {
	type member struct {
		Feed string `json:"feed"`
		ID   string `json:"id"`
	}
	type cluster struct {
		ID    string   `json:"id"`
		Items []member `json:"items"`
	}
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var c cluster
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		for _, m := range c.Items {
			out[key(m.Feed, m.ID)] = c.ID
		}
	}
	return out, sc.Err()
}
