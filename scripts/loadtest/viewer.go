package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
)

// window is the measurement window of a step, in nanotime; viewers read it
// on every read and record only inside it.
type window struct {
	start atomic.Int64 // 0 until the window opens
	end   atomic.Int64 // math.MaxInt64 until it closes
}

// stallGap is the silence between two tags that counts as a stall.
const stallGap = time.Second

// viewerConfig is what every viewer of a step shares.
type viewerConfig struct {
	URL            *url.URL
	ReadBuffer     int
	ConnectTimeout time.Duration
	Log            *sendLog
	Window         *window
	// LazyInterval paces the viewers that do not sample delay: after the first
	// keyframe they read once per interval, letting the kernel buffer the
	// stream, so the harness wakes up far less often than the server writes.
	// The server's work is the same: its writes land in the socket buffer.
	LazyInterval time.Duration
}

// Viewer phases, read by the step to know when everyone is playing.
const (
	phaseConnecting int32 = iota
	phasePlaying          // first keyframe received
	phaseEnded            // failed or disconnected
)

// viewer is one HTTP-FLV client. Its fields are written by its own goroutine
// and read by the step after that goroutine ends.
type viewer struct {
	phase atomic.Int32
	// precise viewers read as soon as data arrives and record the delay of
	// every video frame; the others read every LazyInterval.
	precise bool

	start      int64 // nanotime of the request start
	firstKey   int64 // nanotime of the first keyframe, 0 before
	lastTag    int64 // nanotime of the last tag
	endedAt    int64 // nanotime the connection ended, 0 if still open at the stop
	err        error // why it ended or failed, nil when stopped by the step
	bytesTotal int64 // bytes read from the socket
	tags       int64

	// inside the window
	bytes     int64 // FLV bytes of complete tags
	stalls    int
	unmatched int64     // video frames whose timestamp the publisher never sent
	delay     histogram // every video frame (precise viewers)
	lag       histogram // the newest video frame of each read (all viewers)
}

// run plays until ctx ends or the connection fails.
func (v *viewer) run(ctx context.Context, cfg *viewerConfig) {
	v.start = nanotime()
	err := v.play(ctx, cfg)
	if ctx.Err() == nil {
		v.endedAt = nanotime()
		if err == nil {
			err = io.EOF
		}
		v.err = err
	}
	v.phase.Store(phaseEnded)
}

func (v *viewer) play(ctx context.Context, cfg *viewerConfig) error {
	d := net.Dialer{Timeout: cfg.ConnectTimeout}
	conn, err := d.DialContext(ctx, "tcp", cfg.URL.Host)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	req := "GET " + cfg.URL.RequestURI() + " HTTP/1.1\r\nHost: " + cfg.URL.Host +
		"\r\nUser-Agent: livestack-loadtest\r\nAccept: */*\r\n\r\n"
	_ = conn.SetDeadline(time.Now().Add(cfg.ConnectTimeout))
	if _, err := io.WriteString(conn, req); err != nil {
		return err
	}
	var (
		sc   scanner
		buf  = make([]byte, cfg.ReadBuffer)
		tags = make([]scannedTag, 0, 64)
		win  = cfg.Window
	)
	for {
		n, rerr := conn.Read(buf)
		if n > 0 {
			now := nanotime()
			v.bytesTotal += int64(n)
			started := sc.Started()
			var perr error
			tags, perr = sc.Feed(buf[:n], tags[:0])
			if !started && sc.Started() {
				_ = conn.SetDeadline(time.Time{})
			}
			v.took(now, tags, cfg.Log, win)
			if perr != nil {
				return perr
			}
			if !v.precise && v.firstKey != 0 && cfg.LazyInterval > 0 && n < len(buf) {
				// Drained the socket: let it fill. (A full read means more is waiting.)
				time.Sleep(cfg.LazyInterval) // a stop closes the connection meanwhile
			}
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return nil
			}
			return rerr
		}
	}
}

// took accounts for the tags completed by one read at nanotime now.
func (v *viewer) took(now int64, tags []scannedTag, log *sendLog, win *window) {
	if len(tags) == 0 {
		return
	}
	ws, we := win.start.Load(), win.end.Load()
	in := ws > 0 && now >= ws && now < we && v.firstKey != 0 && v.firstKey < ws
	if in && v.lastTag != 0 && now-v.lastTag > int64(stallGap) {
		v.stalls++
	}
	v.lastTag = now
	v.tags += int64(len(tags))
	var newest int64 // send time of the newest video frame of this read
	for _, t := range tags {
		if t.Type != flv.TagVideo || t.Header {
			if in {
				v.bytes += int64(t.wireSize())
			}
			continue
		}
		if v.firstKey == 0 {
			if !t.Keyframe {
				continue // before the first keyframe nothing counts
			}
			v.firstKey = now
			v.phase.Store(phasePlaying)
		}
		if !in {
			continue
		}
		v.bytes += int64(t.wireSize())
		sent, ok := log.Get(t.Timestamp)
		if !ok {
			v.unmatched++
			continue
		}
		newest = max(newest, sent)
		if v.precise {
			v.delay.Record(time.Duration(now - sent))
		}
	}
	if newest != 0 {
		v.lag.Record(time.Duration(now - newest))
	}
}

// errorClass names an error for the summary without addresses or ports.
func errorClass(err error) string {
	var st errStatus
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &st):
		return st.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed by server"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "out of local ports"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return fmt.Sprintf("other: %s", s)
}
