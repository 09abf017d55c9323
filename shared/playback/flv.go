package playback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
)

// handleFLV streams HTTP-FLV. On HTTP/1.x it takes the connection over and
// writes each batch of shared FLV tags with one writev (chunk header, tags,
// chunk trailer): no per-viewer copy of media and one syscall per batch. The
// net/http ResponseWriter would copy through its buffer and issue two or three
// writes per batch, which is most of the cost at thousands of viewers.
func (s *Server) handleFLV(w http.ResponseWriter, r *http.Request) {
	sub, key, ok := s.subscribe(w, r, true)
	if !ok {
		return
	}
	s.wg.Add(1)
	s.Counters.FLVViewers.Add(1)
	s.Counters.FLVSessions.Add(1)
	audio, video := sub.Stream().Tracks()
	header := flv.Header(audio, video)
	remote := remoteIP(r)
	start := time.Now()
	if hj, ok := w.(http.Hijacker); ok && r.ProtoMajor == 1 {
		conn, _, err := hj.Hijack()
		if err != nil {
			s.finish(sub, key, remote, start, 0, fmt.Errorf("hijack: %w", err))
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok && s.cfg.SendBuffer > 0 {
			_ = tc.SetWriteBuffer(s.cfg.SendBuffer)
		}
		chunked := r.ProtoAtLeast(1, 1)
		// The handler returns at once: the viewer is served by a goroutine that
		// holds only the connection and its hub cursor, not net/http's
		// per-connection state and deeper stack (about 10 KB per viewer).
		go func() {
			defer conn.Close()
			sent, err := s.streamRaw(conn, sub, chunked, header)
			s.finish(sub, key, remote, start, sent, err)
		}()
		return
	}
	sent, err := s.streamWriter(w, sub, header)
	s.finish(sub, key, remote, start, sent, err)
}

// finish releases a viewer and records how its session ended.
func (s *Server) finish(sub *hub.Subscriber, key, remote string, start time.Time, sent int64, err error) {
	defer s.wg.Done()
	sub.Close()
	s.Counters.FLVViewers.Add(-1)
	s.Counters.FLVBytes.Add(sent)
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case errors.Is(err, hub.ErrTooSlow):
		s.Counters.FLVTooSlow.Add(1)
		s.log.Warn("flv viewer dropped: kept falling behind", "stream", key, "remote", remote, "bytes", sent, "duration", took)
	case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errShutdown):
		s.Counters.FLVWriteErrors.Add(1)
		s.log.Debug("flv viewer left", "stream", key, "remote", remote, "reason", err, "bytes", sent, "duration", took)
	default:
		s.log.Debug("flv viewer done", "stream", key, "remote", remote, "reason", err, "bytes", sent, "duration", took)
	}
}

var errShutdown = errors.New("server shutting down")

const flvResponseHeader = "Content-Type: video/x-flv\r\n" +
	"Cache-Control: no-cache, no-store\r\n" +
	"Access-Control-Allow-Origin: *\r\n" +
	"Access-Control-Expose-Headers: Content-Length\r\n" +
	"X-Content-Type-Options: nosniff\r\n" +
	"Connection: close\r\n"

// streamRaw writes the response on a hijacked connection.
func (s *Server) streamRaw(conn net.Conn, sub *hub.Subscriber, chunked bool, header []byte) (int64, error) {
	head := "HTTP/1.1 200 OK\r\n" + flvResponseHeader
	if chunked {
		head += "Transfer-Encoding: chunked\r\n"
	} else {
		head = "HTTP/1.0 200 OK\r\n" + flvResponseHeader
	}
	head += "\r\n"

	var (
		pkts     []*hub.Packet
		iov      = make(net.Buffers, 0, 64)
		chunkHdr = make([]byte, 0, 16)
		first    = true
		total    int64
		deadline time.Time
	)
	for {
		var err error
		select {
		case <-s.ctx.Done():
			err = errShutdown
			pkts = pkts[:0] // the previous batch was sent: do not send it again
		default:
			pkts, err = sub.Read(s.ctx, pkts)
			if err == context.Canceled {
				err = errShutdown
			}
		}
		iov = iov[:0]
		var n int
		if first {
			iov = append(iov, []byte(head))
		}
		if chunked && (len(pkts) > 0 || first) {
			iov = append(iov, nil) // chunk header, filled below
		}
		if first {
			iov = append(iov, header)
			n += len(header)
			first = false
		}
		for _, p := range pkts {
			b := p.FLVTag()
			iov = append(iov, b)
			n += len(b)
		}
		if n > 0 {
			if chunked {
				for i := range iov {
					if iov[i] == nil {
						chunkHdr = strconv.AppendInt(chunkHdr[:0], int64(n), 16)
						chunkHdr = append(chunkHdr, '\r', '\n')
						iov[i] = chunkHdr
						break
					}
				}
				iov = append(iov, crlf)
			}
			if now := time.Now(); now.Sub(deadline) > -s.cfg.WriteTimeout+time.Second {
				deadline = now.Add(s.cfg.WriteTimeout)
				_ = conn.SetWriteDeadline(deadline)
			}
			bufs := iov // WriteTo consumes its receiver
			if _, werr := bufs.WriteTo(conn); werr != nil {
				return total, werr
			}
			total += int64(n)
			sub.AddBytesOut(n)
		}
		if err != nil {
			if chunked && (errors.Is(err, io.EOF) || errors.Is(err, errShutdown)) {
				_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = conn.Write(lastChunk)
			}
			return total, err
		}
	}
}

var (
	crlf      = []byte("\r\n")
	lastChunk = []byte("0\r\n\r\n")
)

// streamWriter is the fallback for HTTP/2 (no hijacking): the ResponseWriter.
func (s *Server) streamWriter(w http.ResponseWriter, sub *hub.Subscriber, header []byte) (int64, error) {
	h := w.Header()
	h.Set("Content-Type", "video/x-flv")
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	setCORS(h)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if _, err := w.Write(header); err != nil {
		return 0, err
	}
	total := int64(len(header))
	sub.AddBytesOut(len(header))
	var pkts []*hub.Packet
	for {
		var err error
		pkts, err = sub.Read(s.ctx, pkts)
		if err == context.Canceled {
			err = errShutdown
		}
		for _, p := range pkts {
			if _, werr := w.Write(p.FLVTag()); werr != nil {
				return total, werr
			}
			total += int64(len(p.FLVTag()))
			sub.AddBytesOut(len(p.FLVTag()))
		}
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if ferr := rc.Flush(); ferr != nil {
			return total, ferr
		}
		if err != nil {
			return total, err
		}
	}
}
