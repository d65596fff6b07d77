// Command score-e2e scores deduplication end to end, through the whole
// program as a user runs it: it writes one RSS feed per outlet of a
// labelled data set, serves them on 127.0.0.1, runs "aggregator fetch" on a
// fresh database, reads "aggregator clusters --json" and scores the
// clusters against the labels (pairwise and B-cubed, plain and date-split,
// as ../shared/data/dedupe/README.md defines them).
//
//	go run ./scripts/score-e2e                       # both dev sets
//	go run ./scripts/score-e2e -data path/to/x.jsonl # one file
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"aggregator/dedupe/score"
	"aggregator/internal/shareddata"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "score-e2e:", err)
		os.Exit(1)
	}
}

func run() error {
	data := flag.String("data", "", "labelled JSONL file (default: dev.jsonl and dev-rich.jsonl from ../shared/data/dedupe)")
	flag.Parse()
	var files []string
	if *data != "" {
		files = []string{*data}
	} else {
		for _, name := range []string{"dev.jsonl", "dev-rich.jsonl"} {
			p, err := shareddata.Path("dedupe", name)
			if err != nil {
				return err
			}
			files = append(files, p)
		}
	}
	dir, err := os.MkdirTemp("", "score-e2e-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "aggregator")
	build := exec.Command("go", "build", "-o", bin, "./cmd/aggregator")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w (run from the repository root)", err)
	}
	for _, f := range files {
		if err := scoreFile(bin, dir, f); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return nil
}

func scoreFile(bin, dir, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	items, err := score.Load(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	// One feed per outlet, items in file order.
	byOutlet := map[string][]score.Item{}
	var outlets []string
	for _, it := range items {
		if _, ok := byOutlet[it.Source]; !ok {
			outlets = append(outlets, it.Source)
		}
		byOutlet[it.Source] = append(byOutlet[it.Source], it)
	}
	bodies := map[string][]byte{}
	names := map[string]string{}
	for i, o := range outlets {
		name := fmt.Sprintf("outlet-%04d", i)
		names[o] = name
		bodies["/"+name+".xml"] = score.RSS(o, byOutlet[o])
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		w.Write(b)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	base := strings.TrimSuffix(filepath.Base(path), ".jsonl")
	cfg := filepath.Join(dir, base+".toml")
	db := filepath.Join(dir, base+".db")
	var b bytes.Buffer
	// Only feeds: the defaults, as a user with a minimal config has them
	// (feeds on this machine are spared the host delay).
	for _, o := range outlets {
		fmt.Fprintf(&b, "[[feeds]]\nname = %q\ntitle = %q\nurl = \"http://%s/%s.xml\"\n", names[o], o, ln.Addr(), names[o])
	}
	if err := os.WriteFile(cfg, b.Bytes(), 0o644); err != nil {
		return err
	}
	start := time.Now()
	if out, err := exec.Command(bin, "fetch", "--quiet", "--config", cfg, "--db", db).CombinedOutput(); err != nil {
		return fmt.Errorf("fetch: %w\n%s", err, out)
	}
	fetchTime := time.Since(start)
	out, err := exec.Command(bin, "clusters", "--json", "--config", cfg, "--db", db).Output()
	if err != nil {
		return fmt.Errorf("clusters: %w", err)
	}
	pred, err := readPrediction(out)
	if err != nil {
		return err
	}
	gold := map[string]string{}
	published := map[string]time.Time{}
	missing := 0
	for _, it := range items {
		gold[it.ID] = it.Story
		published[it.ID] = it.Published
		if _, ok := pred[it.ID]; !ok {
			missing++
		}
	}
	fmt.Printf("\n%s: %d items from %d outlets, fetched and clustered in %s; %d items missing from clusters --json\n",
		filepath.Base(path), len(items), len(outlets), fetchTime.Round(time.Millisecond), missing)
	plain := score.Score(gold, pred)
	split := score.Score(score.SplitByDate(gold, published), score.SplitByDate(pred, published))
	fmt.Printf("  plain:      %s\n  date-split: %s\n", plain, split)
	return nil
}

// readPrediction maps each item's GUID (the data set's id) to its cluster.
func readPrediction(out []byte) (map[string]string, error) {
	pred := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var c struct {
			ID    string `json:"id"`
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, err
		}
		for _, it := range c.Items {
			pred[it.ID] = c.ID
		}
	}
	return pred, sc.Err()
}
