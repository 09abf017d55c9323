package rtmpclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/yutopp/go-rtmp/message"

	"github.com/livestack/livestack/shared/media/flv"
)

// Pre-chunked media: AppendTag, WriteChunks, Flush.
//
// WriteTag hands each message to go-rtmp's chunk streamer, whose writer
// goroutine writes and flushes every chunk on its own: per tag a context, a
// goroutine hand-off and a system call per chunk. A load generator driving
// a thousand publishers from a few goroutines cannot afford that. Instead it
// appends the tags it sends at once (a video frame and the audio due by then)
// into one buffer with AppendTag and sends it with WriteChunks: one write
// under the connection's write lock, so nothing the reader goroutine sends (a
// ping response) lands in the middle of a message.
//
// The chunk encoding follows go-rtmp's writer, which is what our server reads
// (go-rtmp behind shared/media/rtmpguard): each message starts with a type 0
// header carrying the absolute timestamp, and every further chunk of it has a
// type 3 header. A timestamp of 0xFFFFFF or more is sent as 0xFFFFFF in the
// header followed by the 4-byte extended timestamp, after the type 0 header
// only: go-rtmp reads the extended timestamp only after type 0, 1 and 2
// headers, never after type 3 (the specification and librtmp/FFmpeg repeat
// it there), and its own writer never repeats it, so this is what every
// go-rtmp server accepts.
//
// The first WriteChunks (or Flush) switches the Conn to writing everything
// itself: it waits for go-rtmp's writer to finish what it was given, and from
// then on WriteTag, ping responses and Close's unpublish commands are encoded
// the same way and written synchronously under the write lock.

// ErrBlocked is wrapped by the errors of WriteChunks, Flush and WriteTag when
// their deadline passed before the socket took everything (the server reads
// slower than the caller writes). Nothing is lost and the connection stays
// usable: the Conn keeps the unsent rest and writes it before anything else,
// with the next WriteChunks or Flush. The connection fails only when the
// server takes no data for Options.WriteTimeout.
var ErrBlocked = errors.New("socket full: the rest is queued")

// RTMP message type IDs of what AppendTag sends.
const (
	typeAudio   = 8
	typeVideo   = 9
	typeDataAMF = 18
)

// extTimestamp is the timestamp field value that announces an extended
// timestamp (RTMP 5.3.1.3).
const extTimestamp = 0xFFFFFF

// maxMessageSize is the largest message length a chunk header can carry.
const maxMessageSize = 1<<24 - 1

// pongWait bounds the synchronous write of a ping response once the Conn
// writes itself; what the socket does not take by then goes out with the
// next media write, so the reader goroutine never holds the write lock long.
const pongWait = 20 * time.Millisecond

// setDataFrame is "@setDataFrame" as an AMF0 string: WriteTag and AppendTag
// send a script body after it, as a data message.
var setDataFrame = append([]byte{0x02, 0, 13}, "@setDataFrame"...)

// appendBasicHeader appends a chunk basic header (RTMP 5.3.1.1) for chunk
// stream ids 2-319; the 3-byte form is not used (rtmpguard refuses it).
func appendBasicHeader(dst []byte, fmtType byte, csid int) []byte {
	if csid < 64 {
		return append(dst, fmtType<<6|byte(csid))
	}
	return append(dst, fmtType<<6, byte(csid-64))
}

// appendChunks appends one message, the bytes of head followed by body, as
// chunks of at most chunkSize payload bytes on chunk stream csid: a type 0
// header with the absolute timestamp (and the extended timestamp from
// 0xFFFFFF on), then a type 3 header before each further chunk, without an
// extended timestamp, as go-rtmp writes and reads them. The message must not
// be empty or longer than maxMessageSize, and csid must be 2-319.
func appendChunks(dst []byte, csid int, typeID byte, streamID, ts, chunkSize uint32, head, body []byte) []byte {
	n := len(head) + len(body)
	hdr := 1
	if csid >= 64 {
		hdr = 2
	}
	dst = slices.Grow(dst, hdr+11+4+n+(n-1)/int(chunkSize)*hdr)
	dst = appendBasicHeader(dst, 0, csid)
	t := min(ts, extTimestamp)
	dst = append(dst, byte(t>>16), byte(t>>8), byte(t), byte(n>>16), byte(n>>8), byte(n), typeID)
	dst = binary.LittleEndian.AppendUint32(dst, streamID)
	if ts >= extTimestamp {
		dst = binary.BigEndian.AppendUint32(dst, ts)
	}
	left := int(chunkSize)
	for _, p := range [2][]byte{head, body} {
		for len(p) > 0 {
			if left == 0 {
				dst = appendBasicHeader(dst, 3, csid)
				left = int(chunkSize)
			}
			k := min(left, len(p))
			dst = append(dst, p[:k]...)
			p, left = p[k:], left-k
		}
	}
	return dst
}

// AppendTag appends one FLV tag body to dst as the RTMP chunks of one
// message, ready for WriteChunks: audio, video, or a script body
// ("onMetaData" and its object) sent as @setDataFrame, as WriteTag sends
// them, on this connection's stream at its chunk size (Options.ChunkSize).
// Append several tags to send them in one write. It only encodes: it is
// safe from any goroutine and does not look at the connection's state.
func (c *Conn) AppendTag(dst []byte, typ flv.TagType, ts uint32, data []byte) ([]byte, error) {
	var head []byte
	var csid int
	var typeID byte
	switch typ {
	case flv.TagAudio:
		csid, typeID = csidAudio, typeAudio
	case flv.TagVideo:
		csid, typeID = csidVideo, typeVideo
	case flv.TagScript:
		csid, typeID, head = csidData, typeDataAMF, setDataFrame
	default:
		return dst, fmt.Errorf("append tag: type %d is not audio, video or script", typ)
	}
	switch n := len(head) + len(data); {
	case len(data) == 0:
		// go-rtmp's reader panics on an empty message; rtmpguard refuses it.
		return dst, fmt.Errorf("append tag: empty %s tag at %d ms", typ, ts)
	case n > maxMessageSize:
		return dst, fmt.Errorf("append tag: %d bytes at %d ms, above the RTMP message limit %d", n, ts, maxMessageSize)
	}
	return appendChunks(dst, csid, typeID, c.streamID, ts, c.opts.ChunkSize, head, data), nil
}

// appendMessage appends any go-rtmp message as chunks (the Conn's own
// messages once it writes itself: ping responses, commands, WriteTag).
func (c *Conn) appendMessage(dst []byte, csid int, streamID, ts uint32, msg message.Message) ([]byte, error) {
	var body bytes.Buffer
	if err := message.NewEncoder(&body).Encode(msg); err != nil {
		return dst, fmt.Errorf("encode message type %d: %w", msg.TypeID(), err)
	}
	if body.Len() == 0 || body.Len() > maxMessageSize {
		return dst, fmt.Errorf("message type %d of %d bytes", msg.TypeID(), body.Len())
	}
	return appendChunks(dst, csid, byte(msg.TypeID()), streamID, ts, c.opts.ChunkSize, nil, body.Bytes()), nil
}

// WriteChunks writes b, messages appended by AppendTag, in one write under
// the connection's write lock, after any bytes an earlier call left queued.
// It waits for the socket at most until deadline; a zero deadline waits
// until everything is written or the connection fails (the server took no
// data for Options.WriteTimeout). When the deadline passes first, the rest
// is kept (b may be reused at once) and the error wraps ErrBlocked: call
// Flush to push it out, or go on with WriteChunks, which sends it first.
//
// Over rtmps a deadline that passes mid-write fails the connection, since
// crypto/tls cannot resume a timed-out write: give TLS connections a zero
// deadline. Once the Conn failed, WriteChunks returns Err. Like WriteTag,
// media comes from one goroutine at a time.
func (c *Conn) WriteChunks(b []byte, deadline time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.sendLocked(b, deadline)
}

// Flush writes what WriteChunks (or WriteTag) left queued, waiting for the
// socket at most until deadline as WriteChunks does (zero: until written or
// failed). With nothing queued it returns at once.
func (c *Conn) Flush(deadline time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(c.pending) == 0 {
		return c.Err()
	}
	return c.sendLocked(nil, deadline)
}

// Queued is the number of bytes waiting for Flush after an ErrBlocked.
func (c *Conn) Queued() int {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return len(c.pending)
}

// enterRawLocked switches the Conn to writing itself: it waits until go-rtmp's
// writer goroutine has written every message it was given (setup commands, a
// ping response), so the two never write at once. go-rtmp's writer is not
// used afterwards. Called with wmu held.
func (c *Conn) enterRawLocked() error {
	if c.raw {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.WriteTimeout)
	defer cancel()
	for _, csid := range []int{csidControl, csidCommand, csidData, csidAudio, csidVideo} {
		// Waits for the chunk stream's last message to be written; it leaves
		// the stream's writer marked busy, which is fine as it is not used again.
		if _, err := c.cs.NewChunkWriter(ctx, csid); err != nil {
			err = fmt.Errorf("write to %s: waiting for earlier messages: %w", c.t.Addr, err)
			c.fail(err)
			return err
		}
	}
	select {
	case <-c.cs.Done():
		if err := c.cs.Err(); err != nil {
			err = fmt.Errorf("write to %s: %w", c.t.Addr, err)
			c.fail(err)
			return err
		}
	default:
	}
	c.raw = true
	return nil
}

// sendLocked writes the queued bytes and then b, waiting for the socket at
// most until deadline (zero: until written, failing the connection after
// WriteTimeout without progress). What is left at the deadline is queued and
// the error wraps ErrBlocked. Called with wmu held.
func (c *Conn) sendLocked(b []byte, deadline time.Time) error {
	if err := c.Err(); err != nil {
		return err
	}
	if err := c.enterRawLocked(); err != nil {
		return err
	}
	buf := b
	if len(c.pending) > 0 {
		c.pending = append(c.pending, b...)
		buf = c.pending
	}
	for len(buf) > 0 {
		start := time.Now()
		dl := deadline
		if dl.IsZero() {
			dl = start.Add(c.opts.WriteTimeout)
		}
		_ = c.nc.SetWriteDeadline(dl)
		n, err := c.nc.Write(buf)
		buf = buf[n:]
		if err == nil {
			break
		}
		now := time.Now()
		if c.stalled.IsZero() {
			c.stalled = start
		}
		if n > 0 {
			c.stalled = now
		}
		_, isTLS := c.nc.(*tls.Conn)
		switch {
		case !errors.Is(err, os.ErrDeadlineExceeded):
			err = fmt.Errorf("write to %s: %w", c.t.Addr, err)
		case isTLS:
			err = fmt.Errorf("write to %s: %w (a timed-out TLS write cannot be resumed)", c.t.Addr, err)
		case now.Sub(c.stalled) >= c.opts.WriteTimeout:
			err = fmt.Errorf("write to %s: the server took no data for %s: %w", c.t.Addr, c.opts.WriteTimeout, err)
		case deadline.IsZero():
			continue
		default:
			if len(c.pending) > 0 { // buf is the tail of pending
				c.pending = c.pending[:copy(c.pending, buf)]
			} else {
				c.pending = append(c.pending[:0], buf...)
			}
			return fmt.Errorf("write to %s: %w (%d bytes)", c.t.Addr, ErrBlocked, len(c.pending))
		}
		c.pending = nil // a message may be cut: the connection is unusable
		c.fail(err)
		return err
	}
	c.pending = c.pending[:0]
	c.stalled = time.Time{}
	return nil
}
