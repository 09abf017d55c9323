package rtmpclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"sync"
	"time"

	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/handshake"
	"github.com/yutopp/go-rtmp/message"

	"github.com/livestack/livestack/shared/media/flv"
)

// Chunk stream ids of what the client sends (RTMP 5.3.1.1: 2 is protocol control).
const (
	csidControl = 2
	csidCommand = 3
	csidData    = 4
	csidAudio   = 6
	csidVideo   = 7
)

// Transaction ids of the publish handshake, in the order ffmpeg and OBS use.
const (
	txnConnect       = 1
	txnReleaseStream = 2
	txnFCPublish     = 3
	txnCreateStream  = 4
)

// ErrRefused is wrapped by errors of a server that answered connect or publish
// with an error (wrong app, bad stream key, stream already live...), or that
// ended an accepted publish with an error status or a close command.
var ErrRefused = errors.New("server refused")

// Options tune a Conn. Zero values take the documented defaults.
type Options struct {
	// Timeout bounds the connection setup: TCP (and TLS) connect, the RTMP
	// handshake, connect, createStream and publish until the server accepts
	// (NetStream.Publish.Start). Default 10 s.
	Timeout time.Duration
	// WriteTimeout fails the connection when the server takes no data for
	// this long. Default 10 s.
	WriteTimeout time.Duration
	// ChunkSize is the RTMP chunk size announced to the server, at most
	// 16777215. Default 4096.
	ChunkSize uint32
	// TLS configures rtmps URLs, as given. Nil means the system roots and
	// TLS 1.2 or later; an empty ServerName is the URL's host either way.
	TLS *tls.Config
}

func (o *Options) setDefaults() error {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = 4096
	}
	if o.ChunkSize > rtmp.MaxChunkSize {
		return fmt.Errorf("chunk size %d above %d", o.ChunkSize, rtmp.MaxChunkSize)
	}
	if o.TLS == nil {
		o.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return nil
}

// Conn is one RTMP publish session. It is built from go-rtmp's handshake,
// chunk streamer and message codec over a net.Conn this package owns, so that
// every step of the setup is bounded by Options.Timeout and ctx, every write
// by Options.WriteTimeout, the server's statuses are read (a refused publish
// is an ErrRefused error naming the status), pings are answered, the server's
// chunk size is applied, and a dead connection ends the session at once. See
// the package comment for why go-rtmp's own client is not used.
//
// Media comes from one goroutine at a time (WriteTag, or AppendTag and
// WriteChunks for pre-chunked media, see chunks.go); a reader goroutine
// answers pings and watches for the server closing the connection or sending
// an error status.
type Conn struct {
	nc       net.Conn
	cs       *rtmp.ChunkStreamer
	t        Target
	opts     Options
	streamID uint32

	wmu sync.Mutex // serializes writes: media, commands and the reader's pongs
	// Guarded by wmu. Once raw is set (the first WriteChunks or Flush), the
	// Conn writes everything itself, synchronously; go-rtmp's writer is idle.
	raw     bool
	pending []byte    // queued after a write's deadline passed (ErrBlocked)
	stalled time.Time // since when the socket took nothing; zero when not blocked

	closeOnce sync.Once

	failOnce   sync.Once
	failed     chan struct{} // closed when the connection failed
	err        error         // why; set before failed is closed
	readerDone chan struct{}
}

// controlConfig bounds what a server can make the chunk streamer hold. Every
// field is set: go-rtmp's NewChunkStreamer does not apply its own defaults.
func controlConfig() *rtmp.StreamControlStateConfig {
	return &rtmp.StreamControlStateConfig{
		DefaultChunkSize: rtmp.DefaultChunkSize,
		MaxChunkSize:     rtmp.MaxChunkSize,
		MaxChunkStreams:  16,
		// A publisher reads only the server's small control and status
		// messages, so it never reaches an acknowledgement window (go-rtmp's
		// standalone chunk streamer cannot send acknowledgements).
		DefaultAckWindowSize:       math.MaxInt32,
		MaxAckWindowSize:           math.MaxInt32,
		DefaultBandwidthWindowSize: math.MaxInt32,
		MaxBandwidthWindowSize:     math.MaxInt32,
		MaxMessageSize:             1 << 20,
		MaxMessageStreams:          4,
	}
}

// Dial connects to rawURL (rtmp[s]://host[:port]/app/name[?query], see
// ParseURL) and publishes: TCP (and TLS for rtmps), the RTMP handshake,
// connect with app and tcUrl, releaseStream, FCPublish, createStream and
// publish, then waits for NetStream.Publish.Start. All of it is bounded by
// opts.Timeout and ctx; ctx does not outlive Dial (the Conn lives until
// Close). A server that answers with an error gives an ErrRefused error.
// Errors never show the stream name.
func Dial(ctx context.Context, rawURL string, opts Options) (*Conn, error) {
	t, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if err := opts.setDefaults(); err != nil {
		return nil, fmt.Errorf("dial %s: %w", t.Redacted, err)
	}
	return dial(ctx, t, opts)
}

func dial(ctx context.Context, t Target, opts Options) (_ *Conn, err error) {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	nd := &net.Dialer{KeepAlive: 15 * time.Second}
	var nc net.Conn
	if t.Scheme == "rtmps" {
		nc, err = (&tls.Dialer{NetDialer: nd, Config: opts.TLS}).DialContext(ctx, "tcp", t.Addr)
	} else {
		nc, err = nd.DialContext(ctx, "tcp", t.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", t.Addr, err)
	}
	// A cancelled ctx unblocks whatever step is running by expiring the deadline.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	_ = nc.SetDeadline(deadline)

	c := &Conn{
		nc:         nc,
		t:          t,
		opts:       opts,
		failed:     make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	defer func() {
		if err == nil {
			return
		}
		switch {
		case errors.Is(err, ErrRefused):
		case errors.Is(ctx.Err(), context.Canceled):
			if !errors.Is(err, context.Canceled) {
				err = fmt.Errorf("%w: %w", err, ctx.Err())
			}
		case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
			// The socket deadline and ctx expire together; either may be seen first.
			err = fmt.Errorf("%w (no answer within %s)", err, opts.Timeout)
		}
		c.abort(true)
	}()
	if err := handshake.HandshakeWithServer(nc, nc, &handshake.Config{}); err != nil {
		return nil, fmt.Errorf("rtmp handshake with %s: %w", t.Addr, err)
	}
	c.cs = rtmp.NewChunkStreamer(bufio.NewReaderSize(nc, 4<<10), bufio.NewWriterSize(nc, int(min(opts.ChunkSize, 64<<10))+64), controlConfig())
	// Set before anything is scheduled, so the streamer's writer goroutine sees
	// it; the SetChunkSize message itself fits any chunk size.
	if err := c.cs.SelfState().SetChunkSize(opts.ChunkSize); err != nil {
		return nil, fmt.Errorf("chunk size: %w", err)
	}
	if err := c.write(ctx, csidControl, 0, 0, &message.SetChunkSize{ChunkSize: opts.ChunkSize}); err != nil {
		return nil, fmt.Errorf("set chunk size: %w", err)
	}

	// connect
	if err := c.command(ctx, 0, "connect", txnConnect, &message.NetConnectionConnect{Command: message.NetConnectionConnectCommand{
		App: t.App, Type: "nonprivate", FlashVer: "FMLE/3.0 (compatible; livestack)", TCURL: t.TCURL,
	}}); err != nil {
		return nil, fmt.Errorf("send connect: %w", err)
	}
	args, err := c.awaitResult(txnConnect)
	if err != nil {
		return nil, fmt.Errorf("connect app %q: %w", t.App, err)
	}
	if code, desc := statusOf(args); code != "" && code != string(message.NetConnectionConnectCodeSuccess) {
		return nil, fmt.Errorf("connect app %q: %w: %s", t.App, ErrRefused, t.Scrub(joinStatus(code, desc)))
	}

	// releaseStream and FCPublish (answered by some servers, ignored by others),
	// then createStream.
	if err := c.command(ctx, 0, "releaseStream", txnReleaseStream, &message.NetConnectionReleaseStream{StreamName: t.Name}); err != nil {
		return nil, fmt.Errorf("send releaseStream: %w", err)
	}
	if err := c.command(ctx, 0, "FCPublish", txnFCPublish, &message.NetStreamFCPublish{StreamName: t.Name}); err != nil {
		return nil, fmt.Errorf("send FCPublish: %w", err)
	}
	if err := c.command(ctx, 0, "createStream", txnCreateStream, &message.NetConnectionCreateStream{}); err != nil {
		return nil, fmt.Errorf("send createStream: %w", err)
	}
	args, err = c.awaitResult(txnCreateStream)
	if err != nil {
		return nil, fmt.Errorf("createStream: %w", err)
	}
	id, ok := streamIDOf(args)
	if !ok {
		return nil, fmt.Errorf("createStream: %w: no stream id in the answer", ErrRefused)
	}
	c.streamID = id

	// publish, and wait for the server to accept it.
	if err := c.command(ctx, c.streamID, "publish", 0, &message.NetStreamPublish{PublishingName: t.Name, PublishingType: "live"}); err != nil {
		return nil, fmt.Errorf("send publish: %w", err)
	}
	for {
		name, _, args, err := c.readCommand()
		if err != nil {
			return nil, fmt.Errorf("publish: waiting for the server's status: %w", err)
		}
		if name != "onStatus" {
			continue
		}
		code, desc := statusOf(args)
		if code == string(message.NetStreamOnStatusCodePublishStart) {
			break
		}
		if isErrorStatus(args) {
			return nil, fmt.Errorf("publish: %w: %s", ErrRefused, t.Scrub(joinStatus(code, desc)))
		}
	}
	if !stop() { // ctx ended just now: the deadline is being expired
		return nil, fmt.Errorf("publish: %w", ctx.Err())
	}
	_ = nc.SetDeadline(time.Time{})
	go c.readLoop()
	return c, nil
}

// command sends an AMF0 command message.
func (c *Conn) command(ctx context.Context, streamID uint32, name string, txn int64, body message.AMFConvertible) error {
	buf := new(bytes.Buffer)
	if err := message.EncodeBodyAnyValues(message.NewAMFEncoder(buf, message.EncodingTypeAMF0), body); err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return c.write(ctx, csidCommand, streamID, 0, &message.CommandMessage{
		CommandName: name, TransactionID: txn, Encoding: message.EncodingTypeAMF0, Body: buf,
	})
}

// write queues one message on go-rtmp's chunk streamer. The streamer writes
// asynchronously; a stalled socket fails at the write deadline, which ends its
// writer goroutine, and the next write reports it and fails the Conn. ctx
// bounds the wait for the previous message of the same chunk stream.
//
// Once the Conn writes itself (raw), the message is chunked here and written
// synchronously after anything queued, waiting at most until ctx's deadline
// (none: until written or the connection failed); a deadline that passes
// first gives an ErrBlocked error with the rest queued.
func (c *Conn) write(ctx context.Context, csid int, streamID, ts uint32, msg message.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.raw {
		deadline, _ := ctx.Deadline()
		return c.writeRawLocked(csid, streamID, ts, msg, deadline)
	}
	select {
	case <-c.cs.Done():
		err := fmt.Errorf("write to %s: connection closed", c.t.Addr)
		if cerr := c.cs.Err(); cerr != nil {
			err = fmt.Errorf("write to %s: %w", c.t.Addr, cerr)
		}
		c.fail(err)
		return err
	default:
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	if err := c.cs.Write(ctx, csid, ts, &rtmp.ChunkMessage{StreamID: streamID, Message: msg}); err != nil {
		return fmt.Errorf("write to %s: %w", c.t.Addr, err)
	}
	return nil
}

// writeRawLocked chunks msg and writes it after anything queued (see
// sendLocked). Called with wmu held, once raw.
func (c *Conn) writeRawLocked(csid int, streamID, ts uint32, msg message.Message, deadline time.Time) error {
	if err := c.Err(); err != nil {
		return err
	}
	b, err := c.appendMessage(nil, csid, streamID, ts, msg)
	if err != nil {
		return fmt.Errorf("write to %s: %w", c.t.Addr, err)
	}
	return c.sendLocked(b, deadline)
}

// pong answers a ping. Once the Conn writes itself, it waits at most
// pongWait for the socket, and what is left goes out with the next write, so
// a full socket never keeps the write lock from the media writer.
func (c *Conn) pong(ts uint32) error {
	msg := &message.UserCtrl{Event: &message.UserCtrlEventPingResponse{Timestamp: ts}}
	c.wmu.Lock()
	if c.raw {
		err := c.writeRawLocked(csidControl, 0, 0, msg, time.Now().Add(pongWait))
		c.wmu.Unlock()
		if errors.Is(err, ErrBlocked) {
			return nil
		}
		return err
	}
	c.wmu.Unlock()
	// Not raw yet: a WriteChunks switching in between is handled by write.
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.WriteTimeout)
	defer cancel()
	return c.write(ctx, csidControl, 0, 0, msg)
}

// WriteTag sends one FLV tag body: audio, video, or a script body
// ("onMetaData" and its object) as @setDataFrame. ctx bounds the wait for the
// previous tag of the same kind to be written out; the socket write itself is
// bounded by Options.WriteTimeout. Once the Conn failed, WriteTag returns Err.
// After WriteChunks was used, WriteTag writes synchronously like it, bounded
// by ctx's deadline (ErrBlocked when it passes first, with the rest queued).
func (c *Conn) WriteTag(ctx context.Context, typ flv.TagType, ts uint32, data []byte) error {
	select {
	case <-c.failed:
		return c.err
	default:
	}
	switch typ {
	case flv.TagAudio:
		return c.write(ctx, csidAudio, c.streamID, ts, &message.AudioMessage{Payload: bytes.NewReader(data)})
	case flv.TagVideo:
		return c.write(ctx, csidVideo, c.streamID, ts, &message.VideoMessage{Payload: bytes.NewReader(data)})
	case flv.TagScript:
		return c.write(ctx, csidData, c.streamID, ts, &message.DataMessage{
			Name: "@setDataFrame", Encoding: message.EncodingTypeAMF0, Body: bytes.NewReader(data),
		})
	}
	return fmt.Errorf("write tag: type %d is not audio, video or script", typ)
}

// Failed is closed when the connection failed: the server closed it, sent an
// error status or a close command, or a write found it dead.
func (c *Conn) Failed() <-chan struct{} { return c.failed }

// Err is why the connection failed, once Failed is closed; nil before.
func (c *Conn) Err() error {
	select {
	case <-c.failed:
		return c.err
	default:
		return nil
	}
}

// fail records the first reason the connection failed.
func (c *Conn) fail(err error) {
	c.failOnce.Do(func() {
		c.err = err
		close(c.failed)
	})
}

// Close ends the session and waits for its reader. With graceful set it first
// tells the server the publish ended (FCUnpublish, deleteStream), waiting at
// most a second; otherwise, or when that fails, the connection is reset, so
// the server drops the publish at once instead of draining stale data and
// keeping the stream name taken (which would refuse a reconnect as already
// live). Close may be called more than once.
func (c *Conn) Close(graceful bool) {
	sent := false
	if graceful && c.Err() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if c.command(ctx, 0, "FCUnpublish", 0, &message.NetStreamFCUnpublish{StreamName: c.t.Name}) == nil &&
			c.command(ctx, 0, "deleteStream", 0, &message.NetStreamDeleteStream{StreamID: c.streamID}) == nil {
			c.wmu.Lock()
			raw := c.raw
			c.wmu.Unlock()
			if raw {
				sent = true // written synchronously
			} else {
				// Waiting for the command chunk stream's writer means both were sent.
				_, err := c.cs.NewChunkWriter(ctx, csidCommand)
				sent = err == nil
			}
		}
		cancel()
	}
	c.abort(!sent)
	<-c.readerDone
}

// abort stops the chunk streamer and closes the socket, which ends the
// streamer's writer goroutine and the reader; reset discards unsent data and
// sends a TCP reset.
func (c *Conn) abort(reset bool) {
	c.closeOnce.Do(func() {
		if c.cs != nil {
			_ = c.cs.Close()
		}
		nc := c.nc
		if reset {
			if tc, ok := nc.(*tls.Conn); ok {
				nc = tc.NetConn() // no close_notify: it could wait on a stalled socket
			}
			if tc, ok := nc.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
		}
		_ = nc.Close()
	})
}

// readLoop answers pings and watches for the server closing the connection or
// sending an error status, until the connection ends.
func (c *Conn) readLoop() {
	defer close(c.readerDone)
	for {
		name, _, args, err := c.readCommand()
		if err != nil {
			c.fail(fmt.Errorf("read from %s: %w", c.t.Addr, err))
			return
		}
		switch {
		case name == "onStatus" && isErrorStatus(args):
			code, desc := statusOf(args)
			c.fail(fmt.Errorf("%w: %s", ErrRefused, c.t.Scrub(joinStatus(code, desc))))
			return
		case name == "close":
			c.fail(fmt.Errorf("%w: server closed the stream", ErrRefused))
			return
		}
	}
}

// readCommand reads messages until a command arrives, handling the protocol
// control messages on the way: chunk size changes and pings.
func (c *Conn) readCommand() (name string, txn int64, args []any, err error) {
	defer func() {
		if r := recover(); r != nil { // go-rtmp's chunk reader panics on some malformed input
			err = fmt.Errorf("malformed message from server: %v", r)
		}
	}()
	var cmsg rtmp.ChunkMessage
	for {
		if _, _, err := c.cs.Read(&cmsg); err != nil {
			return "", 0, nil, err
		}
		switch m := cmsg.Message.(type) {
		case *message.SetChunkSize:
			if err := c.cs.PeerState().SetChunkSize(m.ChunkSize); err != nil {
				return "", 0, nil, fmt.Errorf("server chunk size: %w", err)
			}
		case *message.UserCtrl:
			if ping, ok := m.Event.(*message.UserCtrlEventPingRequest); ok {
				if err := c.pong(ping.Timestamp); err != nil {
					return "", 0, nil, fmt.Errorf("answer ping: %w", err)
				}
			}
		case *message.CommandMessage:
			if m.Encoding != message.EncodingTypeAMF0 {
				continue // AMF3 commands are not used by servers talking to publishers
			}
			dec := message.NewAMFDecoder(m.Body, message.EncodingTypeAMF0)
			for {
				var v any
				if dec.Decode(&v) != nil {
					break
				}
				args = append(args, v)
			}
			return m.CommandName, m.TransactionID, args, nil
		}
	}
}

// awaitResult reads until the _result or _error of transaction txn; an _error
// is returned as an ErrRefused error naming the server's status.
func (c *Conn) awaitResult(txn int64) ([]any, error) {
	for {
		name, id, args, err := c.readCommand()
		if err != nil {
			return nil, err
		}
		if id != txn || (name != "_result" && name != "_error") {
			continue
		}
		if name == "_error" {
			code, desc := statusOf(args)
			return nil, fmt.Errorf("%w: %s", ErrRefused, c.t.Scrub(joinStatus(code, desc)))
		}
		return args, nil
	}
}
