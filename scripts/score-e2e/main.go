// Command score-e2e scores deduplication end to end, through the whole
// program as a user runs it: it writes one RSS feed per outlet of a
// labelled data set, serves them on 127.0.0.1, runs "aggregator fetch" on a
// fresh database, reads "aggregator clusters --json" and scores the
// clusters against the labels (pairwise and B-cubed, plain and date-split,
// as ../shared/data/dedupe/README.md defines them).
//
//	go run ./scripts/score-e2e                       # both dev sets
//	go run ./scripts/score-e2e -data path/to/x.jsonl # one file
//	go run ./scripts/score-e2e -via both             # also through serve
//	go run ./scripts/score-e2e -merge=false          # with [dedupe] merge_clusters = false
//
// With -via serve the stories come from "aggregator serve" instead: the
// daemon on a fresh database fetches every feed on its own schedule, and
// the script reads "clusters --json" through its control socket once
// every feed is fetched and every stored item clustered; -via both runs
// fetch and serve on the same feeds and says on how many items their
// stories agree.
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
	"slices"
	"strings"
	"syscall"
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
	flag.StringVar(&via, "via", "fetch", "how the stories are made: fetch, serve or both")
	flag.BoolVar(&mergeClusters, "merge", true, "[dedupe] merge_clusters (the default: true); -merge=false writes merge_clusters = false")
	flag.Parse()
	if via != "fetch" && via != "serve" && via != "both" {
		return fmt.Errorf("-via %q: want fetch, serve or both", via)
	}
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

// via is the -via flag, mergeClusters the -merge flag.
var (
	via           string
	mergeClusters bool
)

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
	outlets, byOutlet := score.ByOutlet(items)
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
	var b bytes.Buffer
	// Only feeds: the defaults, as a user with a minimal config has them
	// (feeds on this machine are spared the host delay).
	if !mergeClusters {
		b.WriteString("[dedupe]\nmerge_clusters = false\n\n")
	}
	for _, o := range outlets {
		fmt.Fprintf(&b, "[[feeds]]\nname = %q\ntitle = %q\nurl = \"http://%s/%s.xml\"\n", names[o], o, ln.Addr(), names[o])
	}
	if err := os.WriteFile(cfg, b.Bytes(), 0o644); err != nil {
		return err
	}
	gold := map[string]string{}
	published := map[string]time.Time{}
	for _, it := range items {
		gold[it.ID] = it.Story
		published[it.ID] = it.Published
	}
	fmt.Printf("\n%s: %d items from %d outlets\n", filepath.Base(path), len(items), len(outlets))
	preds := map[string]map[string]string{}
	for _, how := range []string{"fetch", "serve"} {
		if via != how && via != "both" {
			continue
		}
		db := filepath.Join(dir, base+"-"+how+".db")
		start := time.Now()
		var out []byte
		var err error
		if how == "fetch" {
			out, err = viaFetch(bin, cfg, db)
		} else {
			out, err = viaServe(bin, cfg, db)
		}
		if err != nil {
			return err
		}
		took := time.Since(start)
		pred, err := readPrediction(out)
		if err != nil {
			return err
		}
		preds[how] = pred
		missing := 0
		for _, it := range items {
			if _, ok := pred[it.ID]; !ok {
				missing++
			}
		}
		fmt.Printf("  through %s: fetched and clustered in %s; %d items missing from clusters --json\n", how, took.Round(time.Millisecond), missing)
		plain := score.Score(gold, pred)
		split := score.Score(score.SplitByDate(gold, published), score.SplitByDate(pred, published))
		fmt.Printf("    plain:      %s\n    date-split: %s\n", plain, split)
	}
	if len(preds) == 2 {
		fmt.Printf("  fetch and serve put %.1f%% of items in identical stories\n", 100*agreement(preds["fetch"], preds["serve"]))
	}
	return nil
}

func viaFetch(bin, cfg, db string) ([]byte, error) {
	if out, err := exec.Command(bin, "fetch", "--quiet", "--config", cfg, "--db", db).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("fetch: %w\n%s", err, out)
	}
	out, err := exec.Command(bin, "clusters", "--json", "--config", cfg, "--db", db).Output()
	if err != nil {
		return nil, fmt.Errorf("clusters: %w", err)
	}
	return out, nil
}

// viaServe runs the daemon on a fresh database until every feed is
// fetched and every stored item clustered, and returns its clusters.
func viaServe(bin, cfg, db string) ([]byte, error) {
	srv := exec.Command(bin, "serve", "--config", cfg, "--db", db, "--listen", "127.0.0.1:0")
	var logs bytes.Buffer
	srv.Stderr = &logs
	if err := srv.Start(); err != nil {
		return nil, err
	}
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		feeds, err := exec.Command(bin, "feeds", "--json", "--config", cfg, "--db", db).Output()
		if err != nil {
			continue // not listening yet
		}
		stored, fetched, all := 0, 0, 0
		sc := bufio.NewScanner(bytes.NewReader(feeds))
		for sc.Scan() {
			var row struct {
				LastFetch   time.Time `json:"last_fetch"`
				StoredItems int       `json:"stored_items"`
			}
			if json.Unmarshal(sc.Bytes(), &row) == nil {
				all++
				stored += row.StoredItems
				if !row.LastFetch.IsZero() {
					fetched++
				}
			}
		}
		if fetched < all || stored == 0 {
			continue
		}
		out, err := exec.Command(bin, "clusters", "--json", "--config", cfg, "--db", db).Output()
		if err != nil {
			continue
		}
		if n := bytes.Count(out, []byte(`"feed":`)); n == stored {
			return out, nil
		}
	}
	return nil, fmt.Errorf("serve did not fetch and cluster everything in 5 minutes:\n%s", logs.String())
}

// agreement is the share of items whose story holds the same items in
// both predictions.
func agreement(a, b map[string]string) float64 {
	members := func(p map[string]string) map[string]string {
		by := map[string][]string{}
		for it, c := range p {
			by[c] = append(by[c], it)
		}
		key := map[string]string{}
		for _, its := range by {
			slices.Sort(its)
			k := strings.Join(its, " ")
			for _, it := range its {
				key[it] = k
			}
		}
		return key
	}
	ka, kb := members(a), members(b)
	same := 0
	for it, k := range ka {
		if kb[it] == k {
			same++
		}
	}
	return float64(same) / float64(max(len(ka), 1))
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
