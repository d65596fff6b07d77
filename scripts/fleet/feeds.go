package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"net"
	"net/http"
	"sync"
	"time"

	"aggregator/internal/synthfeed"
)

// request is one request as the feed server saw it.
type request struct {
	feed, host int
	start, end time.Time
	status     int
	gen        int
}

// feedServer serves n synthetic feeds from one listener per host, feed i
// from host i%hosts. The hosts are addresses of their own, 127.0.0.2,
// 127.0.0.3 and so on (all loopback on Linux), since politeness counts
// per host name, not per port. Each feed grows by
// `grow` items a generation: generation g lists items 0..items+g*grow-1,
// the new ones newest, so the final generation holds every item any
// generation held and one pass over it sees what the fleet saw. It logs
// every request.
type feedServer struct {
	feeds synthfeed.Feeds
	grow  int
	lns   []net.Listener
	srvs  []*http.Server
	// gen is the generation served now; the driver advances it.
	mu   sync.Mutex
	gen  int
	log  []request
	hold time.Duration
}

func startFeeds(texts []synthfeed.Text, n, items, hosts int) (*feedServer, error) {
	fs := &feedServer{feeds: synthfeed.Feeds{Texts: texts, N: n, Items: items}, grow: max(items/4, 1), hold: 2 * time.Millisecond}
	for h := range hosts {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.%d.%d:0", (h+2)/256, (h+2)%256))
		if err != nil {
			fs.close()
			return nil, err
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fs.serve(h, w, r) }),
			ReadHeaderTimeout: 10 * time.Second}
		fs.lns, fs.srvs = append(fs.lns, ln), append(fs.srvs, srv)
		go srv.Serve(ln)
	}
	return fs, nil
}

func (fs *feedServer) close() {
	for _, s := range fs.srvs {
		s.Close()
	}
}

func (fs *feedServer) url(i int) string {
	return fmt.Sprintf("http://%s/f%05d.xml", fs.lns[i%len(fs.lns)].Addr(), i)
}

func (fs *feedServer) setGen(g int) {
	fs.mu.Lock()
	fs.gen = g
	fs.mu.Unlock()
}

// requests returns a copy of the request log.
func (fs *feedServer) requests() []request {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]request(nil), fs.log...)
}

// count is how many items feed i lists in generation g.
func (fs *feedServer) count(g int) int { return fs.feeds.Items + g*fs.grow }

// body is feed i's document in generation g.
func (fs *feedServer) body(i, g int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Outlet %d</title><link>http://%s/</link><description>synthetic</description>\n", i, fs.lns[i%len(fs.lns)].Addr())
	n := fs.feeds.N
	for j := fs.count(g) - 1; j >= 0; j-- {
		t := fs.feeds.Texts[(j*n+i)%len(fs.feeds.Texts)]
		pub := synthfeed.Start.Add(time.Duration(j*n+i) * time.Minute / time.Duration(max(n/100, 1)))
		fmt.Fprintf(&b, "<item><title>%s</title><link>http://outlet%d.test/%d</link><guid>http://outlet%d.test/%d</guid><description>%s</description><pubDate>%s</pubDate></item>\n",
			html.EscapeString(t.Title), i, j, i, j, html.EscapeString(t.Summary), pub.Format(time.RFC1123Z))
	}
	b.WriteString("</channel></rss>\n")
	return b.Bytes()
}

func (fs *feedServer) serve(host int, w http.ResponseWriter, r *http.Request) {
	rec := request{host: host, start: time.Now(), feed: -1}
	fs.mu.Lock()
	rec.gen = fs.gen
	fs.mu.Unlock()
	defer func() {
		rec.end = time.Now()
		fs.mu.Lock()
		fs.log = append(fs.log, rec)
		fs.mu.Unlock()
	}()
	var i int
	if _, err := fmt.Sscanf(r.URL.Path, "/f%d.xml", &i); err != nil || i < 0 || i >= fs.feeds.N || i%len(fs.lns) != host {
		rec.status = http.StatusNotFound
		http.NotFound(w, r)
		return
	}
	rec.feed = i
	time.Sleep(fs.hold) // a server that takes a moment, so overlaps show
	body := fs.body(i, rec.gen)
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		rec.status = http.StatusNotModified
		w.WriteHeader(http.StatusNotModified)
		return
	}
	rec.status = http.StatusOK
	w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
	w.Write(body)
}
