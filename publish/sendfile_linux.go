package publish

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// anonymousFile puts b in a memfd sealed against any change, which exists
// only in memory and disappears with its last descriptor: nothing is
// written to disk and nothing is left behind, even after a crash.
// Independent descriptors (each with its own offset) are opened through
// /proc/self/fd.
func anonymousFile(b []byte) (open func() (*os.File, error), release func(), err error) {
	fd, err := unix.MemfdCreate("aggregator-feed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, nil, fmt.Errorf("memfd_create: %w", err)
	}
	mf := os.NewFile(uintptr(fd), "memfd:aggregator-feed")
	if _, err := mf.Write(b); err != nil {
		mf.Close()
		return nil, nil, fmt.Errorf("write memfd: %w", err)
	}
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		mf.Close()
		return nil, nil, fmt.Errorf("seal memfd: %w", err)
	}
	path := "/proc/self/fd/" + strconv.Itoa(fd)
	open = func() (*os.File, error) { return os.Open(path) }
	// Fail now, not on every request, where /proc is not mounted.
	f, err := open()
	if err != nil {
		mf.Close()
		return nil, nil, err
	}
	f.Close()
	return open, func() { mf.Close() }, nil
}

// setCork sets or clears TCP_CORK on c and reports whether it could.
func setCork(c *net.TCPConn, on bool) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	v := 0
	if on {
		v = 1
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK, v)
	}); err != nil {
		return false
	}
	return serr == nil
}
