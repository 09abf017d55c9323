package relay

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
	"strings"
	"sync"
	"time"

	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/handshake"
	"github.com/yutopp/go-rtmp/message"

	"github.com/livestack/livestack/shared/media/flv"
)

// Chunk stream ids of what the relay sends (RTMP 5.3.1.1: 2 is protocol control).
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

// ErrRefused is wrapped by errors of a target that answered connect or publish
// with an error (wrong app, bad stream key, stream already live...).
var ErrRefused = errors.New("target refused")

// dialOptions tune one publish connection.
type dialOptions struct {
	timeout      time.Duration // dial through publish confirmation
	writeTimeout time.Duration
	chunkSize    uint32
	tls          *tls.Config // for rtmps
}

// publishConn is one RTMP publish session to a target. It is built from
// go-rtmp's handshake, chunk streamer and message codec over a net.Conn this
// package owns, rather than go-rtmp's ClientConn, because ClientConn takes no
// context or deadline: its handshake has no timeout, its Connect and
// CreateStream wait forever when a target drops the connection instead of
// answering (the goroutine leaks), its writes use a fixed 5 s timeout and, once
// its writer died, can queue silently and then block for good, it discards
// onStatus (a refused publish shows only as a closed connection) and it never
// answers pings. Here every step is bounded by a deadline or ctx, the
// target's statuses are read, and a dead connection ends the session at once.
//
// Writes come from one goroutine (the pusher); a reader goroutine answers pings
// and reports the target closing or sending an error status.
type publishConn struct {
	nc       net.Conn
	cs       *rtmp.ChunkStreamer
	t        target
	opts     dialOptions
	streamID uint32

	wmu       sync.Mutex // serializes writes: the pusher's media and the reader's pongs
	closeOnce sync.Once

	failed     chan struct{} // closed when the reader saw the connection end
	err        error         // why; set before failed is closed
	readerDone chan struct{}
}

// controlConfig bounds what a target can make the chunk streamer hold. Every
// field is set: go-rtmp's NewChunkStreamer does not apply its own defaults.
func controlConfig() *rtmp.StreamControlStateConfig {
	return &rtmp.StreamControlStateConfig{
		DefaultChunkSize: rtmp.DefaultChunkSize,
		MaxChunkSize:     rtmp.MaxChunkSize,
		MaxChunkStreams:  16,
		// The relay reads only the target's small control and status messages,
		// so it never reaches an acknowledgement window (go-rtmp's standalone
		// chunk streamer cannot send acknowledgements).
		DefaultAckWindowSize:       math.MaxInt32,
		MaxAckWindowSize:           math.MaxInt32,
		DefaultBandwidthWindowSize: math.MaxInt32,
		MaxBandwidthWindowSize:     math.MaxInt32,
		MaxMessageSize:             1 << 20,
		MaxMessageStreams:          4,
	}
}

// dialPublish connects to t and publishes: TCP (and TLS for rtmps), the RTMP
// handshake, connect with app and tcUrl, releaseStream, FCPublish,
// createStream and publish, then waits for NetStream.Publish.Start. All of it
// is bounded by opts.timeout and ctx.
func dialPublish(ctx context.Context, t target, opts dialOptions) (_ *publishConn, err error) {
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	nd := &net.Dialer{KeepAlive: 15 * time.Second}
	var nc net.Conn
	if t.Scheme == "rtmps" {
		nc, err = (&tls.Dialer{NetDialer: nd, Config: opts.tls}).DialContext(ctx, "tcp", t.Addr)
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

	c := &publishConn{
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
			err = fmt.Errorf("%w (no answer within %s)", err, opts.timeout)
		}
		c.abort(true)
	}()
	if err := handshake.HandshakeWithServer(nc, nc, &handshake.Config{}); err != nil {
		return nil, fmt.Errorf("rtmp handshake with %s: %w", t.Addr, err)
	}
	c.cs = rtmp.NewChunkStreamer(bufio.NewReaderSize(nc, 4<<10), bufio.NewWriterSize(nc, int(opts.chunkSize)+64), controlConfig())
	// Set before anything is scheduled, so the streamer's writer goroutine sees
	// it; the SetChunkSize message itself fits any chunk size.
	if err := c.cs.SelfState().SetChunkSize(opts.chunkSize); err != nil {
		return nil, fmt.Errorf("chunk size: %w", err)
	}
	if err := c.write(ctx, csidControl, 0, 0, &message.SetChunkSize{ChunkSize: opts.chunkSize}); err != nil {
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
		return nil, fmt.Errorf("connect app %q: %w: %s", t.App, ErrRefused, t.scrub(joinStatus(code, desc)))
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

	// publish, and wait for the target to accept it.
	if err := c.command(ctx, c.streamID, "publish", 0, &message.NetStreamPublish{PublishingName: t.Name, PublishingType: "live"}); err != nil {
		return nil, fmt.Errorf("send publish: %w", err)
	}
	for {
		name, _, args, err := c.readCommand()
		if err != nil {
			return nil, fmt.Errorf("publish: waiting for the target's status: %w", err)
		}
		if name != "onStatus" {
			continue
		}
		code, desc := statusOf(args)
		if code == string(message.NetStreamOnStatusCodePublishStart) {
			break
		}
		if isErrorStatus(args) {
			return nil, fmt.Errorf("publish: %w: %s", ErrRefused, t.scrub(joinStatus(code, desc)))
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
func (c *publishConn) command(ctx context.Context, streamID uint32, name string, txn int64, body message.AMFConvertible) error {
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
// writer goroutine, and the next write reports it.
func (c *publishConn) write(ctx context.Context, csid int, streamID, ts uint32, msg message.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.cs.Done():
		if err := c.cs.Err(); err != nil {
			return fmt.Errorf("write to %s: %w", c.t.Addr, err)
		}
		return fmt.Errorf("write to %s: connection closed", c.t.Addr)
	default:
	}
	if c.opts.writeTimeout > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.opts.writeTimeout))
	}
	if err := c.cs.Write(ctx, csid, ts, &rtmp.ChunkMessage{StreamID: streamID, Message: msg}); err != nil {
		return fmt.Errorf("write to %s: %w", c.t.Addr, err)
	}
	return nil
}

// WriteTag sends one FLV tag body: audio, video, or a script body
// ("onMetaData" and its object) as @setDataFrame.
func (c *publishConn) WriteTag(ctx context.Context, typ flv.TagType, ts uint32, data []byte) error {
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
	return nil
}

// Failed is closed when the target closed the connection or sent an error.
func (c *publishConn) Failed() <-chan struct{} { return c.failed }

// Err is why the connection failed, once Failed is closed.
func (c *publishConn) Err() error {
	select {
	case <-c.failed:
		return c.err
	default:
		return nil
	}
}

// Close ends the session. With graceful set it first tells the target the
// publish ended (FCUnpublish, deleteStream), waiting at most a second;
// otherwise, or when that fails, the connection is reset, so the target drops
// the publish at once instead of draining stale data and keeping the stream
// name taken (which would refuse the reconnect as already live).
func (c *publishConn) Close(graceful bool) {
	sent := false
	if graceful && c.Err() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if c.command(ctx, 0, "FCUnpublish", 0, &message.NetStreamFCUnpublish{StreamName: c.t.Name}) == nil &&
			c.command(ctx, 0, "deleteStream", 0, &message.NetStreamDeleteStream{StreamID: c.streamID}) == nil {
			// Waiting for the command chunk stream's writer means both were sent.
			_, err := c.cs.NewChunkWriter(ctx, csidCommand)
			sent = err == nil
		}
		cancel()
	}
	c.abort(!sent)
	<-c.readerDone
}

// abort stops the chunk streamer and closes the socket, which ends the
// streamer's writer goroutine and the reader; reset discards unsent data and
// sends a TCP reset.
func (c *publishConn) abort(reset bool) {
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

// readLoop answers pings and watches for the target closing the connection or
// sending an error status, until the connection ends.
func (c *publishConn) readLoop() {
	defer close(c.readerDone)
	err := func() error {
		for {
			name, _, args, err := c.readCommand()
			if err != nil {
				return fmt.Errorf("read from %s: %w", c.t.Addr, err)
			}
			switch {
			case name == "onStatus" && isErrorStatus(args):
				code, desc := statusOf(args)
				return fmt.Errorf("%w: %s", ErrRefused, c.t.scrub(joinStatus(code, desc)))
			case name == "close":
				return fmt.Errorf("%w: target closed the stream", ErrRefused)
			}
		}
	}()
	c.err = err
	close(c.failed)
}

// readCommand reads messages until a command arrives, handling the protocol
// control messages on the way: chunk size changes and pings.
func (c *publishConn) readCommand() (name string, txn int64, args []any, err error) {
	defer func() {
		if r := recover(); r != nil { // go-rtmp's chunk reader panics on some malformed input
			err = fmt.Errorf("malformed message from target: %v", r)
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
				return "", 0, nil, fmt.Errorf("target chunk size: %w", err)
			}
		case *message.UserCtrl:
			if ping, ok := m.Event.(*message.UserCtrlEventPingRequest); ok {
				ctx, cancel := context.WithTimeout(context.Background(), c.opts.writeTimeout)
				err := c.write(ctx, csidControl, 0, 0, &message.UserCtrl{Event: &message.UserCtrlEventPingResponse{Timestamp: ping.Timestamp}})
				cancel()
				if err != nil {
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
// is returned as an ErrRefused error naming the target's status.
func (c *publishConn) awaitResult(txn int64) ([]any, error) {
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
			return nil, fmt.Errorf("%w: %s", ErrRefused, c.t.scrub(joinStatus(code, desc)))
		}
		return args, nil
	}
}

// statusOf finds the code and description of a status object among args (the
// information object of a _result, _error or onStatus).
func statusOf(args []any) (code, desc string) {
	for _, a := range args {
		obj, ok := a.(map[string]any)
		if !ok {
			continue
		}
		if s, ok := obj["code"].(string); ok {
			code = s
			desc, _ = obj["description"].(string)
		}
	}
	return code, desc
}

// isErrorStatus reports whether an onStatus carries level "error".
func isErrorStatus(args []any) bool {
	for _, a := range args {
		if obj, ok := a.(map[string]any); ok {
			if lvl, _ := obj["level"].(string); strings.EqualFold(lvl, "error") {
				return true
			}
		}
	}
	return false
}

// streamIDOf returns the stream id of a createStream _result (the first number
// after the command object).
func streamIDOf(args []any) (uint32, bool) {
	for _, a := range args {
		if f, ok := a.(float64); ok && f >= 1 && f <= math.MaxUint32 && f == math.Trunc(f) {
			return uint32(f), true
		}
	}
	return 0, false
}

func joinStatus(code, desc string) string {
	switch {
	case code == "" && desc == "":
		return "no status given"
	case desc == "":
		return code
	case code == "":
		return desc
	}
	return code + " (" + desc + ")"
}
