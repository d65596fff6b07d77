package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"aggregator/internal/synthfeed"
)

// feedName is the name of feed i: its file on the server, its name in
// feeds.toml and its title in the OPML file.
func feedName(i int) string { return fmt.Sprintf("f%05d", i) }

// feedBody is feed i as served: synthfeed's document with the outlet's
// site (the channel link and the items' links) moved onto the loopback
// server, so that neither reader has an outside name to resolve when it
// follows them (Miniflux fetches the site's page for its icon).
func feedBody(fs synthfeed.Feeds, i int, base string) []byte {
	outside := fmt.Sprintf("https://outlet%d.example/", i)
	return bytes.ReplaceAll(fs.Body(i, 0), []byte(outside), []byte(siteURL(base, i)))
}

// siteURL is feed i's site on the loopback server (nginx answers 404).
func siteURL(base string, i int) string { return fmt.Sprintf("%s/outlet%d/", base, i) }

// writeFeeds writes the n feed documents into www, readable by nginx's
// unprivileged workers, and returns their total size.
func writeFeeds(www string, fs synthfeed.Feeds, base string) (int64, error) {
	if err := os.MkdirAll(www, 0o755); err != nil {
		return 0, err
	}
	var total int64
	for i := range fs.N {
		b := feedBody(fs, i, base)
		if err := os.WriteFile(filepath.Join(www, feedName(i)+".xml"), b, 0o644); err != nil {
			return 0, err
		}
		total += int64(len(b))
	}
	return total, nil
}

// opml is the subscription list Miniflux imports: every feed with its
// site, no category (Miniflux puts them in the user's first one).
func opml(base string, n int) []byte {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\"><head><title>peer-miniflux</title></head><body>\n")
	for i := range n {
		b.WriteString(`<outline type="rss" text="`)
		xml.EscapeText(&b, []byte(feedName(i)))
		b.WriteString(`" xmlUrl="`)
		xml.EscapeText(&b, []byte(base+"/"+feedName(i)+".xml"))
		b.WriteString(`" htmlUrl="`)
		xml.EscapeText(&b, []byte(siteURL(base, i)))
		b.WriteString("\"/>\n")
	}
	b.WriteString("</body></opml>\n")
	return b.Bytes()
}

// feedsTOML is our configuration for the same feeds: 16 fetches in
// flight as Miniflux's 16 workers, no per-host limit or delay (Miniflux
// has none by default), and storage in the PostgreSQL database at url
// when url is set.
func feedsTOML(base string, n int, url string) []byte {
	var b bytes.Buffer
	if url != "" {
		fmt.Fprintf(&b, "[storage]\nurl = %q\n", url)
	}
	b.WriteString("[fetch]\nconcurrency = 16\nper_host = 16\nhost_delay = \"0s\"\ntimeout = \"60s\"\n")
	for i := range n {
		fmt.Fprintf(&b, "[[feeds]]\nname = %q\nurl = \"%s/%s.xml\"\n", feedName(i), base, feedName(i))
	}
	return b.Bytes()
}

// nginx is the feed server: static files with nginx's own ETag and
// Last-Modified, so that a conditional GET of an unchanged file is a 304,
// and an access log of status and path that tells what each pass asked.
type nginx struct {
	cmd    *exec.Cmd
	addr   string
	log    string
	exited chan struct{}
}

// startNginx serves www on a free loopback port from a configuration in
// dir. addr is the port to listen on, chosen before the feeds were
// written (they hold the server's address).
func startNginx(ctx context.Context, dir, www, addr string) (*nginx, error) {
	if _, err := exec.LookPath("nginx"); err != nil {
		return nil, errors.New("nginx not found: apt-get install -y nginx-light")
	}
	n := &nginx{addr: addr, log: filepath.Join(dir, "access.log"), exited: make(chan struct{})}
	conf := fmt.Sprintf(`daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
  log_format peer '$status $uri';
  access_log %[4]s peer;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  types { application/rss+xml xml; }
  default_type application/octet-stream;
  charset utf-8;
  charset_types application/rss+xml;
  etag on;
  if_modified_since exact;
  client_body_temp_path %[1]s/tmp; proxy_temp_path %[1]s/tmp; fastcgi_temp_path %[1]s/tmp; uwsgi_temp_path %[1]s/tmp; scgi_temp_path %[1]s/tmp;
  server {
    listen %[2]s;
    root %[3]s;
  }
}
`, dir, addr, www, n.log)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, err
	}
	n.cmd = exec.Command("nginx", "-p", dir, "-c", path)
	n.cmd.Stderr = os.Stderr
	// Its own process group, so that a Ctrl-C reaches it only through
	// stop, and a kill of the group takes its workers too.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	go func() {
		n.cmd.Wait()
		close(n.exited)
	}()
	if err := waitListening(ctx, addr, n.exited); err != nil {
		n.stop()
		return nil, fmt.Errorf("nginx: %w (see %s/error.log)", err, dir)
	}
	return n, nil
}

func (n *nginx) stop() {
	n.cmd.Process.Signal(syscall.SIGQUIT)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-n.exited:
	case <-t.C:
		syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-n.exited
	}
}

// logOffset is the current size of the access log: requests after it
// belong to the pass about to start.
func (n *nginx) logOffset() int64 {
	fi, err := os.Stat(n.log)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// requests counts the access log's lines after offset: feed requests by
// status, and the others (Miniflux's look-ups of a site's icon).
func (n *nginx) requests(offset int64) (requestCount, error) {
	f, err := os.Open(n.log)
	if err != nil {
		return requestCount{}, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return requestCount{}, err
	}
	return countRequests(bufio.NewScanner(f))
}

// requestCount is what one pass asked of the feed server.
type requestCount struct {
	OK, NotModified, OtherFeed int // feed documents: 200, 304, any other status
	Other                      int // anything else (site pages, icons)
}

func (c requestCount) String() string {
	s := fmt.Sprintf("%d×200 %d×304", c.OK, c.NotModified)
	if c.OtherFeed > 0 {
		s += fmt.Sprintf(" %d×other", c.OtherFeed)
	}
	if c.Other > 0 {
		s += fmt.Sprintf(", %d other requests", c.Other)
	}
	return s
}

var feedPath = regexp.MustCompile(`^/f\d+\.xml$`)

// countRequests reads lines of the log format "$status $uri".
func countRequests(sc *bufio.Scanner) (requestCount, error) {
	var c requestCount
	for sc.Scan() {
		status, uri, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch {
		case !feedPath.MatchString(uri):
			c.Other++
		case status == "200":
			c.OK++
		case status == "304":
			c.NotModified++
		default:
			c.OtherFeed++
		}
	}
	return c, sc.Err()
}

// freeAddr returns a loopback address with a free port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitListening waits until addr accepts connections, the process
// behind it exits (exited closes) or ctx ends, for at most a minute.
func waitListening(ctx context.Context, addr string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited before listening")
		case <-ctx.Done():
			return fmt.Errorf("not listening on %s: %w", addr, ctx.Err())
		case <-tick.C:
		}
	}
}
