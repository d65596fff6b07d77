package fetcher

import "sync"

// workers run the HTTP exchanges of one FetchAll or Scheduler.Run on a
// few long-lived goroutines. Each fetch still has a goroutine of its own
// to wait for the limiter in (so that a crowded host holds up only its
// own feeds), but that wait needs little stack; an exchange, through
// net/http, parsing and the result's handler, needs tens of kilobytes,
// and a fresh goroutine grows its stack to that by copying it several
// times. On a pass of 2,000 unchanged feeds that growth was 7% of the
// process's CPU. A worker's stack grows once.
//
// There are as many workers as global limiter slots, and a fetch holds
// one from before it asks for a worker until its exchange (and its
// handler) returned: so a fetch never waits for a worker busy with
// another, except for one finishing its last few instructions.
type workers struct {
	work chan func()
	wg   sync.WaitGroup
}

// startWorkers starts n workers; stop ends them once their work is done.
func startWorkers(n int) *workers {
	w := &workers{work: make(chan func())}
	for range n {
		w.wg.Go(func() {
			for f := range w.work {
				f()
			}
		})
	}
	return w
}

// do runs f on a worker and returns when it has returned; on a nil
// *workers it runs f on the calling goroutine. It is not inlined: inlined
// into fetch, the closures it is given would be too, and their large
// frames (a Result is a few hundred bytes) with them, growing the waiting
// goroutine's stack after all.
//
//go:noinline
func (w *workers) do(f func()) {
	if w == nil {
		f()
		return
	}
	done := make(chan struct{})
	w.work <- func() {
		defer close(done)
		f()
	}
	<-done
}

// stop ends the workers after the work handed to them; no do may follow.
func (w *workers) stop() {
	close(w.work)
	w.wg.Wait()
}
