package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"aggregator"
	"aggregator/storage"
)

func errorsIsNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }

// child is a run of the aggregator binary whose stderr is watched.
type child struct {
	cmd   *exec.Cmd
	start time.Time
	done  chan struct{} // closed when the process has exited and its output is read
	err   error         // Wait's, once done is closed

	mu       sync.Mutex
	stderr   bytes.Buffer
	ingested time.Duration // when "fetched N/N feeds" appeared (fetch), 0 before
	url      string        // the daemon's base URL (serve)
	urlSeen  chan struct{}
	ingestCh chan struct{} // closed when ingested is set
}

func startChild(ctx context.Context, bin string, args ...string) (*child, error) {
	c := &child{cmd: exec.CommandContext(ctx, bin, args...), done: make(chan struct{}), urlSeen: make(chan struct{}), ingestCh: make(chan struct{})}
	var stdout bytes.Buffer
	c.cmd.Stdout = &stdout
	pr, err := c.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	c.start = time.Now()
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(pr)
		urlOnce := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.stderr.WriteString(line + "\n")
			if strings.HasPrefix(line, "fetched ") {
				var done, total int
				if n, _ := fmt.Sscanf(line, "fetched %d/%d", &done, &total); n == 2 && done == total && c.ingested == 0 {
					c.ingested = time.Since(c.start)
					close(c.ingestCh)
				}
			}
			if i := strings.Index(line, "msg=serving url="); i >= 0 {
				u := strings.Fields(line[i+len("msg=serving url="):])[0]
				c.url = strings.TrimSuffix(u, "/")
				urlOnce.Do(func() { close(c.urlSeen) })
			}
			c.mu.Unlock()
		}
		io.Copy(io.Discard, pr)
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// killWhen sends SIGKILL d after trigger fires unless the process ended
// before; it reports whether the kill came first, and when it was sent.
func (c *child) killWhen(trigger <-chan struct{}, d time.Duration) (bool, time.Duration) {
	select {
	case <-c.done:
		return false, 0
	case <-trigger:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.done:
		return false, 0
	case <-t.C:
	}
	at := time.Since(c.start)
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
	return true, at
}

func (c *child) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// runToEnd runs the binary to its end and returns its stdout.
func runToEnd(ctx context.Context, bin string, args ...string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes(), errb.String(), err
}

// stories is the clustering that "aggregator clusters --json" printed.
type stories struct {
	cluster map[string]string // "feed/guid" -> story ID
	members map[string]string // story ID -> its sorted members, one string
	dups    []string          // items printed more than once
}

func readStories(out []byte) (*stories, error) {
	s := &stories{cluster: map[string]string{}, members: map[string]string{}}
	byStory := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var c struct {
			ID    string `json:"id"`
			Items []struct {
				Feed string `json:"feed"`
				ID   string `json:"id"`
			} `json:"items"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, err
		}
		for _, it := range c.Items {
			k := it.Feed + "/" + it.ID
			if _, dup := s.cluster[k]; dup {
				s.dups = append(s.dups, k)
			}
			s.cluster[k] = c.ID
			byStory[c.ID] = append(byStory[c.ID], k)
		}
	}
	for id, ms := range byStory {
		slices.Sort(ms)
		s.members[id] = strings.Join(ms, " ")
	}
	return s, sc.Err()
}

// comparison is how a clustering agrees with the reference's.
type comparison struct {
	items, sameGroup, sameID int
	missing, extra           []string
	dups                     []string
}

func compare(ref, got *stories, want map[string]bool) comparison {
	var c comparison
	c.dups = got.dups
	for k := range want {
		c.items++
		gid, ok := got.cluster[k]
		if !ok {
			c.missing = append(c.missing, k)
			continue
		}
		rid := ref.cluster[k]
		if got.members[gid] == ref.members[rid] {
			c.sameGroup++
			if gid == rid {
				c.sameID++
			}
		}
	}
	for k := range got.cluster {
		if !want[k] {
			c.extra = append(c.extra, k)
		}
	}
	slices.Sort(c.missing)
	slices.Sort(c.extra)
	return c
}

func (c comparison) exact() bool {
	return len(c.missing) == 0 && len(c.extra) == 0 && len(c.dups) == 0 && c.sameID == c.items
}

// boltCheck runs bbolt's own consistency check (tx.Check) on the file,
// opened read-only.
func boltCheck(path string) []error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return []error{err}
	}
	defer db.Close()
	var errs []error
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return errs
}

// state is what a database holds after a kill, read through the storage
// API, to tell what the killed process was doing.
type state struct {
	fed       int // configured feeds fetched since the trial began
	pending   int
	items     int
	archive   int // archived items not pruned yet
	tmpIndex  bool
	indexSeq  uint64 // stamp sequence of the saved index (0: none or unreadable)
	stampSeq  uint64
	clustered int
}

func readState(path string, names []string, since time.Time) (state, error) {
	var s state
	db, err := storage.Open(path, storage.Options{ReadOnly: true})
	if err != nil {
		return s, err
	}
	defer db.Close()
	ctx := context.Background()
	states, err := db.FeedStates(ctx)
	if err != nil {
		return s, err
	}
	for _, n := range names {
		if st, ok := states[n]; ok && !st.LastFetch.Before(since) {
			s.fed++
		}
	}
	for n, st := range states {
		if strings.HasPrefix(n, archivePrefix) {
			s.archive += st.TotalItems
		}
	}
	st, err := db.Stats(ctx)
	if err != nil {
		return s, err
	}
	s.pending, s.items = st.Pending, st.Items
	s.clustered = st.Items - st.Pending
	stamp, err := db.ClusterStamp(ctx)
	if err != nil {
		return s, err
	}
	s.stampSeq = stamp.Seq
	s.indexSeq = savedSeq(path + ".index")
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), filepath.Base(path)+".index.tmp") {
			s.tmpIndex = true
		}
	}
	return s, nil
}

// savedSeq reads the stamp sequence from a saved index's header (the
// pipeline's format 2: magic, instance, sequence, checksum).
func savedSeq(path string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	const magic = "aggregator-index\x002\n"
	head := make([]byte, len(magic)+16+8)
	if _, err := io.ReadFull(f, head); err != nil || string(head[:len(magic)]) != magic {
		return 0
	}
	return binary.BigEndian.Uint64(head[len(magic)+16:])
}

// healthz polls a daemon's /healthz until its stats say every feed is
// stored and nothing is pending, or ctx ends.
func waitIdle(ctx context.Context, url string, feeds, items int) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			continue
		}
		var h struct {
			Stats aggregator.StoreStats `json:"stats"`
		}
		err = json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		if err == nil && h.Stats.Feeds >= feeds && h.Stats.Items >= items && h.Stats.Pending == 0 {
			return nil
		}
	}
}
