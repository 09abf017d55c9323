package rtmpguard_test

import (
	"io"
	"net"

	"github.com/yutopp/go-rtmp"

	"github.com/livestack/livestack/shared/media/rtmpguard"
)

// guardedConn is the connection go-rtmp serves: reads go through the guard.
type guardedConn struct {
	net.Conn
	guard *rtmpguard.Reader
}

func (c guardedConn) Read(p []byte) (int, error) { return c.guard.Read(p) }

// Put the guard in front of a go-rtmp server, with limits that match the
// server's own configuration.
func Example() {
	lim := rtmpguard.Limits{MaxChunkSize: 1 << 20, MaxChunkStreams: 64}
	srv := rtmp.NewServer(&rtmp.ServerConfig{
		OnConnect: func(conn net.Conn) (io.ReadWriteCloser, *rtmp.ConnConfig) {
			return guardedConn{Conn: conn, guard: rtmpguard.NewReader(conn, lim)}, &rtmp.ConnConfig{
				ControlState: rtmp.StreamControlStateConfig{
					MaxChunkSize:    uint32(lim.MaxChunkSize),
					MaxChunkStreams: lim.MaxChunkStreams,
				},
			}
		},
	})
	_ = srv // srv.Serve(listener); a violation ends the connection with an error wrapping rtmpguard.ErrViolation
}
