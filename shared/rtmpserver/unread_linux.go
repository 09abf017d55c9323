package rtmpserver

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// unreadBytes returns how many received bytes c's socket holds that the
// server has not read yet (SIOCINQ); ok is false when that cannot be known.
func unreadBytes(c net.Conn) (n int, ok bool) {
	if tc, isTLS := c.(interface{ NetConn() net.Conn }); isTLS { // RTMPS: the TCP socket under it
		c = tc.NetConn()
	}
	sc, isSys := c.(syscall.Conn)
	if !isSys {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil || ierr != nil {
		return 0, false
	}
	return n, true
}
