//go:build !linux

package publish

import (
	"errors"
	"net"
	"os"
)

// anonymousFile is only implemented on Linux; elsewhere bodies are served
// from memory.
func anonymousFile([]byte) (func() (*os.File, error), func(), error) {
	return nil, nil, errors.New("no anonymous files on this system")
}

// setCork is only implemented on Linux.
func setCork(*net.TCPConn, bool) bool { return false }
