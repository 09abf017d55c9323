//go:build unix

package recording

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// iovMax is the most buffers one writev takes (IOV_MAX on Linux and the BSDs).
const iovMax = 1024

// writeVec writes the buffers to f in order with writev(2), without joining
// them first, and returns how many bytes were written. Hand-written because
// the standard library's writev (net.Buffers) serves sockets only: for an
// *os.File it writes one buffer at a time, a system call per sample.
func writeVec(f *os.File, bufs [][]byte) (int64, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var total int64
	for len(bufs) > 0 {
		var n int
		var werr error
		batch := bufs[:min(len(bufs), iovMax)]
		if err := rc.Write(func(fd uintptr) bool {
			n, werr = unix.Writev(int(fd), batch)
			return werr != unix.EAGAIN
		}); err != nil {
			return total, err
		}
		if werr == unix.EINTR {
			continue
		}
		if werr != nil {
			return total, &os.PathError{Op: "writev", Path: f.Name(), Err: werr}
		}
		if n == 0 {
			return total, io.ErrShortWrite
		}
		total += int64(n)
		// skip what was written; a short write leaves part of a buffer
		for n > 0 && len(bufs) > 0 {
			if n >= len(bufs[0]) {
				n -= len(bufs[0])
				bufs = bufs[1:]
				continue
			}
			bufs[0] = bufs[0][n:]
			n = 0
		}
		for len(bufs) > 0 && len(bufs[0]) == 0 {
			bufs = bufs[1:]
		}
	}
	return total, nil
}
