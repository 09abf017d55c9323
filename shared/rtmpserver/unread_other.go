//go:build !linux

package rtmpserver

import "net"

// unreadBytes cannot tell elsewhere: a quiet publisher is taken as quiet.
func unreadBytes(net.Conn) (int, bool) { return 0, false }
