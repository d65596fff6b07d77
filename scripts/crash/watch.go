package main

import (
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// saveWatch tells when a process starts saving the dedupe index: the
// creation of the temporary file beside the database (inotify, so Linux
// only), so that a kill can land inside a save that lasts milliseconds,
// which timing from the start, varying by hundreds of milliseconds from
// run to run on a busy machine, would rarely hit.
type saveWatch struct {
	fd     int
	prefix string
	stop   chan struct{}
	done   chan struct{}

	mu     sync.Mutex
	n      int           // saves started so far
	want   int           // the save to report, 0 for none
	signal chan struct{} // closed when save number want starts
}

func watchSaves(dir, dbBase string) (*saveWatch, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE); err != nil {
		unix.Close(fd)
		return nil, err
	}
	w := &saveWatch{fd: fd, prefix: dbBase + ".index.tmp", stop: make(chan struct{}), done: make(chan struct{}), signal: make(chan struct{})}
	go w.run()
	return w, nil
}

// on arranges for the returned channel to be closed when save number n
// (1-based) starts.
func (w *saveWatch) on(n int) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.want = n
	if n > 0 && w.n >= n {
		close(w.signal)
	}
	return w.signal
}

func (w *saveWatch) saves() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// run reads events until close; it polls with a timeout so that close
// does not wait on a blocked read.
func (w *saveWatch) run() {
	defer close(w.done)
	buf := make([]byte, 64*1024)
	fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		if n, err := unix.Poll(fds, 50); err != nil || n == 0 {
			continue
		}
		n, err := unix.Read(w.fd, buf)
		if err != nil {
			continue
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if strings.HasPrefix(name, w.prefix) {
				w.mu.Lock()
				w.n++
				if w.want > 0 && w.n == w.want {
					close(w.signal)
				}
				w.mu.Unlock()
			}
		}
	}
}

func (w *saveWatch) close() {
	close(w.stop)
	<-w.done
	unix.Close(w.fd)
}
