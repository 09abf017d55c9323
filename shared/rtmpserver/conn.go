package rtmpserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/media/rtmpguard"
)

// serverConn wraps the accepted connection: it releases the connection slot once
// and lets the handler close the socket.
type serverConn struct {
	net.Conn
	srv      *Server
	h        *connHandler
	guard    *rtmpguard.Reader
	closed   atomic.Bool
	violated atomic.Bool
	read     atomic.Int64
}

// Read hands go-rtmp only bytes the guard has checked: chunk and message sizes
// and AMF0 commands are validated before go-rtmp parses them (see rtmpguard).
func (c *serverConn) Read(b []byte) (int, error) {
	// go-rtmp calls Read from the goroutine that runs OnPlay, and only once it
	// has finished with everything already read, including the onStatus it
	// writes after OnPlay returns: from here on media writes cannot race it.
	if g := c.h.playGate.Swap(nil); g != nil {
		close(*g)
	}
	n, err := c.guard.Read(b)
	c.read.Add(int64(n))
	if err != nil && errors.Is(err, rtmpguard.ErrViolation) && !c.violated.Swap(true) {
		c.srv.Counters.Violations.Add(1)
		c.h.log.Warn("connection dropped: protocol violation", "error", err)
	}
	return n, err
}

// sockReader reads the socket for the guard, from go-rtmp's goroutine (the
// one that runs the handler's callbacks, so it may use h.pub). go-rtmp reads
// through a 64 KB buffer and calls Read only once it has handled everything
// the previous read brought. While the connection publishes, Read therefore
// first wakes the stream's subscribers for that batch (hub DeferWake), and,
// when nobody watches the stream at low latency, waits until ReadBatch after
// the previous read so the next read brings a whole interval of media. A read
// that filled at least half the buffer is followed at once (the publisher
// sends faster than that), so batching never holds a publisher back. The
// wake-ups are rounded up to a batchGrid boundary shared by all connections:
// a thousand batching publishers wake in a few bursts per interval, and the
// runtime sleeps between them instead of waking for every connection.
type sockReader struct {
	net.Conn
	h     *connHandler
	last  time.Time
	full  bool
	timer *time.Timer
}

// sleep waits d, or less when a viewer arrives on s meanwhile.
func (r *sockReader) sleep(d time.Duration, s *hub.Stream) {
	viewer := s.LowLatencyWait()
	if s.LowLatency() { // arrived before the wait was set up
		return
	}
	if r.timer == nil {
		r.timer = time.NewTimer(d)
	} else {
		r.timer.Reset(d)
	}
	select {
	case <-r.timer.C:
	case <-viewer:
		r.timer.Stop()
	}
}

// slowReadLimit bounds, in idle timeouts, how long a publisher whose data
// waits unread in its socket is kept (watchPublisher): past it the connection
// is taken as stuck on the server's side and dropped all the same.
const slowReadLimit = 4

// batchGrid aligns batched reads (see sockReader).
const batchGrid = 20 * time.Millisecond

// slowStep is when a publish authorization, or a stream's start
// (StreamHooks), is logged as slow.
const slowStep = time.Second

func (r *sockReader) Read(b []byte) (int, error) {
	if pub := r.h.pub; pub != nil {
		pub.Flush()
		if d := r.h.srv.cfg.ReadBatch; d > 0 && !r.full && !pub.Stream().LowLatency() {
			if wait := time.Until(r.last.Add(d).Truncate(batchGrid).Add(batchGrid)); wait > 0 {
				r.sleep(wait, pub.Stream())
			}
		}
	}
	n, err := r.Conn.Read(b)
	r.last, r.full = time.Now(), n >= len(b)/2
	// What this read brought arrived now: the handlers (r.last) and the hub
	// stamp its messages with this time instead of reading the clock for each.
	if pub := r.h.pub; pub != nil {
		pub.SetArrival(r.last)
	}
	return n, err
}

func (c *serverConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if connState(c.h.state.Load()) == stateHandshake {
		c.srv.Counters.ProtocolErrors.Add(1)
		c.h.log.Warn("connection closed before publish or play", "bytes_in", c.read.Load())
	}
	err := c.Conn.Close()
	<-c.srv.slots
	c.srv.Counters.Active.Add(-1)
	c.srv.wg.Done()
	return err
}

// connHandler is go-rtmp's per-connection handler: one publisher or one player.
type connHandler struct {
	rtmp.DefaultHandler
	srv     *Server
	conn    *serverConn
	rc      *rtmp.Conn
	remote  string
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	session string

	app   string
	state atomic.Int32 // connState
	// step is how far a connection in stateHandshake got (handshakeStep),
	// for the log when it is dropped there.
	step atomic.Int32
	// playGate is closed once go-rtmp is done writing its reply to play
	// (ChunkStreamer.Write is not safe for concurrent use).
	playGate atomic.Pointer[chan struct{}]

	// publish
	pub       *hub.Publisher
	req       ingest.PublishRequest
	lastMedia atomic.Int64
	// sock reads the socket, on the goroutine that runs the callbacks: its
	// last read's time stamps the media messages (lastMedia).
	sock      *sockReader
	buf       bytes.Buffer
	badLogged time.Time

	closeOnce sync.Once
}

type connState int32

// handshakeStep is how far a connection got before publishing or playing.
type handshakeStep int32

const (
	stepHandshake   handshakeStep = iota // RTMP handshake, before connect
	stepConnected                        // connect accepted, no publish or play yet
	stepAuthorizing                      // publish received, waiting for its authorization
	stepStarting                         // authorized, the stream is starting
)

func (s handshakeStep) String() string {
	switch s {
	case stepConnected:
		return "connected"
	case stepAuthorizing:
		return "authorizing publish"
	case stepStarting:
		return "starting stream"
	}
	return "handshake"
}

const (
	stateHandshake connState = iota
	statePublishing
	statePlaying
)

func newConnHandler(s *Server, c net.Conn) *connHandler {
	s.wg.Add(1)
	s.Counters.Active.Add(1)
	var id [8]byte
	_, _ = rand.Read(id[:])
	ctx, cancel := context.WithCancel(s.ctx)
	h := &connHandler{
		srv:     s,
		conn:    &serverConn{Conn: c, srv: s},
		remote:  c.RemoteAddr().String(),
		ctx:     ctx,
		cancel:  cancel,
		session: hex.EncodeToString(id[:]),
	}
	h.conn.h = h
	h.sock = &sockReader{Conn: c, h: h}
	h.conn.guard = rtmpguard.NewReader(h.sock, rtmpguard.Limits{
		MaxMessageSize:  int(s.cfg.MaxMessageSize),
		MaxChunkSize:    maxChunkSize,
		MaxChunkStreams: maxChunkStreams,
	})
	h.log = s.log.With("remote", h.remote, "conn", h.session)
	_ = c.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	s.track(h, true)
	// The handshake deadline also covers connect and publish/play; a peer that
	// stalls before either is dropped.
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(s.cfg.HandshakeTimeout):
			if connState(h.state.Load()) == stateHandshake {
				h.srv.Counters.HandshakeClosed.Add(1)
				h.log.Warn("connection dropped: no publish or play in time", "timeout", s.cfg.HandshakeTimeout,
					"step", handshakeStep(h.step.Load()).String())
				h.conn.Close()
			}
		}
	}()
	return h
}

func (h *connHandler) OnServe(conn *rtmp.Conn) { h.rc = conn }

func (h *connHandler) OnConnect(_ uint32, cmd *message.NetConnectionConnect) error {
	app, _, _ := strings.Cut(cmd.Command.App, "?")
	app = strings.Trim(app, "/")
	if app != h.srv.cfg.App {
		h.log.Warn("connect refused: unknown app", "app", cmd.Command.App)
		return fmt.Errorf("connect: unknown app %q", cmd.Command.App)
	}
	h.app = app
	h.step.Store(int32(stepConnected))
	return nil
}

// splitName separates "{id}?sign=..." into the id and its query.
func splitName(name string) (string, url.Values) {
	id, raw, _ := strings.Cut(name, "?")
	q, err := url.ParseQuery(raw)
	if err != nil {
		q = url.Values{}
	}
	return strings.Trim(id, "/"), q
}

func (h *connHandler) OnPublish(_ *rtmp.StreamContext, _ uint32, cmd *message.NetStreamPublish) error {
	if connState(h.state.Load()) != stateHandshake {
		return h.refuse("", ingest.Refuse("protocol", "second publish or play on one connection"))
	}
	id, q := splitName(cmd.PublishingName)
	h.req = ingest.PublishRequest{
		ChannelID:  id,
		Sign:       q.Get("sign"),
		App:        h.app,
		RemoteAddr: h.remote,
		Gateway:    h.srv.gateway(),
		Region:     h.srv.cfg.Region,
		SessionID:  h.session,
	}
	if !ingest.ValidPublishName(id) { // a channel id, or "{channelId}/{rendition}" from a worker
		return h.refuse(id, ingest.Refuse(ingest.ReasonInvalidChannel, fmt.Sprintf("%q", id)))
	}
	if n := h.srv.Counters.Publishers.Load(); n >= int64(h.srv.cfg.MaxPublishers) {
		return h.refuse(id, ingest.Refuse(ingest.ReasonTooManyStreams, fmt.Sprintf("limit %d", h.srv.cfg.MaxPublishers)))
	}
	h.step.Store(int32(stepAuthorizing))
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	authStart := time.Now()
	grant, err := h.srv.cfg.Authorizer.AuthorizePublish(ctx, h.req)
	cancel()
	authTook := time.Since(authStart)
	if authTook > slowStep {
		// The store (its disk) or the callback is slow: publishers wait, and
		// past the handshake timeout they are dropped.
		h.log.Warn("publish authorization was slow", "channel", id, "took", authTook.Round(time.Millisecond))
	}
	if err != nil {
		return h.refuse(id, err)
	}
	if h.conn.closed.Load() {
		// Dropped while authorizing (the handshake timeout): hand the
		// session back now, or the publisher's retry would be refused as
		// already live until the lease ran out.
		h.unpublish()
		return fmt.Errorf("publish %s: connection closed during authorization", id)
	}
	h.step.Store(int32(stepStarting))
	ch := grant.Channel
	opts := hub.PublishOptions{Remote: h.remote, Session: h.session, NoDirectPlay: ch != nil && !ch.Outputs.FLVEnabled(), DeferWake: true}
	if grant.Rendition == "" {
		opts.ViewAs = ingest.ViewKey(ch, id) // a watermarked channel plays its worker's "original"
	}
	if ch != nil && ch.Delivery.MergeWindowMillis != nil {
		d := time.Duration(*ch.Delivery.MergeWindowMillis) * time.Millisecond
		opts.MergeWindow = &d
	} else {
		d := h.srv.cfg.DefaultMergeWindow
		opts.MergeWindow = &d
	}
	existing := h.srv.cfg.Hub.Stream(id)
	pub, err := h.srv.cfg.Hub.Publish(id, opts)
	if err != nil {
		h.unpublish()
		if errors.Is(err, hub.ErrAlreadyPublished) {
			return h.refuse(id, ingest.Refuse(ingest.ReasonAlreadyLive, "publisher on this gateway"))
		}
		return h.refuse(id, ingest.Refuse(ingest.ReasonTooManyStreams, err.Error()))
	}
	h.pub = pub
	h.state.Store(int32(statePublishing))
	h.srv.Counters.Publishers.Add(1)
	_ = h.conn.SetDeadline(time.Time{})
	h.log = h.log.With("channel", id)
	h.log.Info("publish accepted", "resumed", existing != nil, "authorize", authTook.Round(time.Microsecond))
	// A worker's rendition starts no hooks: no relays, no workers of its own.
	if existing == nil && h.srv.cfg.Hooks != nil && ch != nil && grant.Rendition == "" {
		hooksStart := time.Now()
		h.srv.cfg.Hooks.StreamStarted(h.srv.ctx, ch, pub.Stream())
		if took := time.Since(hooksStart); took > slowStep {
			// The packagers and recorders starting (the recorder waits for
			// its spool's flush): the publisher waits for its onStatus, and
			// its media waits in the socket.
			h.log.Warn("stream start was slow", "took", took.Round(time.Millisecond))
		}
	}
	// The idle timeout counts from here: no media could be read before,
	// while the stream's hooks ran.
	h.lastMedia.Store(time.Now().UnixNano())
	go h.watchPublisher(pub, grant)
	return nil
}

func (h *connHandler) refuse(id string, err error) error {
	reason := ingest.ReasonOf(err)
	if reason == "" {
		reason = ingest.ReasonUnavailable
	}
	h.srv.Counters.refused(reason)
	h.log.Warn("publish refused", "channel", id, "reason", reason, "error", err)
	return err
}

// watchPublisher drops a publisher that goes quiet and renews its session lease;
// a renewal refused (channel disabled, deleted or expired) ends the publish.
func (h *connHandler) watchPublisher(pub *hub.Publisher, grant ingest.Grant) {
	idle := h.srv.cfg.IdleTimeout
	tick := time.NewTicker(min(idle/4, time.Second))
	defer tick.Stop()
	renewEvery := ingest.DefaultLease / 3
	if !grant.LeaseUntil.IsZero() {
		if d := time.Until(grant.LeaseUntil) / 3; d > 0 {
			renewEvery = d
		}
	}
	nextRenew := time.Now().Add(renewEvery)
	behind := false // quiet past the idle timeout with data unread: logged once
	for {
		select {
		case <-h.ctx.Done():
			return
		case now := <-tick.C:
			if pub.Kicked() {
				h.log.Warn("publisher dropped: stream ended by the platform")
				h.conn.Close()
				return
			}
			quiet := now.Sub(time.Unix(0, h.lastMedia.Load()))
			if quiet > idle {
				// Data waiting unread in the socket means the publisher sent
				// and the server did not read: it is behind (a burst of load,
				// such as a thousand cameras reconnecting at once), and the
				// publisher is not dropped for it, up to slowReadLimit.
				if n, ok := unreadBytes(h.conn.Conn); ok && n > 0 && quiet <= slowReadLimit*idle {
					if !behind {
						behind = true
						h.srv.Counters.SlowReads.Add(1)
						h.log.Warn("publisher not read in time: its media waits unread in the socket; the server is behind",
							"quiet", quiet.Round(time.Millisecond), "unread_bytes", n)
					}
					continue
				}
				h.srv.Counters.IdleDrops.Add(1)
				h.log.Warn("publisher dropped: no media", "quiet", quiet.Round(time.Millisecond), "idle_timeout", idle)
				h.conn.Close()
				return
			}
			behind = false
			if now.After(nextRenew) {
				ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
				g, err := h.srv.cfg.Authorizer.Renew(ctx, h.req)
				cancel()
				switch {
				case errors.Is(err, ingest.ErrRefused):
					h.log.Warn("publisher dropped: session renewal refused", "reason", ingest.ReasonOf(err))
					h.conn.Close()
					return
				case err != nil:
					h.log.Warn("session renewal failed; keeping the stream", "error", err)
					nextRenew = now.Add(2 * time.Second)
				default:
					if d := time.Until(g.LeaseUntil) / 3; d > 0 {
						renewEvery = d
					}
					nextRenew = now.Add(renewEvery)
				}
			}
		}
	}
}

func (h *connHandler) OnSetDataFrame(_ uint32, data *message.NetStreamSetDataFrame) error {
	if h.pub == nil {
		return nil
	}
	return h.ignoreBad(h.pub.WriteMetadata(data.Payload))
}

func (h *connHandler) OnAudio(ts uint32, payload io.Reader) error {
	if h.pub == nil {
		return errors.New("audio before publish")
	}
	h.buf.Reset()
	if _, err := h.buf.ReadFrom(payload); err != nil {
		return fmt.Errorf("read audio: %w", err)
	}
	h.lastMedia.Store(h.sock.last.UnixNano())
	return h.ignoreBad(h.pub.WriteAudio(ts, h.buf.Bytes()))
}

func (h *connHandler) OnVideo(ts uint32, payload io.Reader) error {
	if h.pub == nil {
		return errors.New("video before publish")
	}
	h.buf.Reset()
	if _, err := h.buf.ReadFrom(payload); err != nil {
		return fmt.Errorf("read video: %w", err)
	}
	h.lastMedia.Store(h.sock.last.UnixNano())
	return h.ignoreBad(h.pub.WriteVideo(ts, h.buf.Bytes()))
}

// ignoreBad drops a malformed media message (counted in the stream's stats,
// logged at most every 10 s) without ending the publish; a closed publisher
// (the stream was ended under it) ends the connection.
func (h *connHandler) ignoreBad(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, hub.ErrClosed) || h.pub.Kicked() {
		return err
	}
	if time.Since(h.badLogged) > 10*time.Second {
		h.badLogged = time.Now()
		h.log.Warn("malformed media message dropped", "error", err)
	}
	return nil
}

func (h *connHandler) OnDeleteStream(_ uint32, _ *message.NetStreamDeleteStream) error {
	h.endPublish("deleteStream")
	return nil
}

func (h *connHandler) OnFCUnpublish(_ uint32, _ *message.NetStreamFCUnpublish) error {
	h.endPublish("FCUnpublish")
	return nil
}

func (h *connHandler) endPublish(reason string) {
	if h.pub == nil {
		return
	}
	h.pub.Close(reason)
	h.pub = nil
	h.srv.Counters.Publishers.Add(-1)
	h.unpublish()
	h.log.Info("publish ended", "reason", reason)
}

func (h *connHandler) unpublish() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.cfg.Authorizer.Unpublish(ctx, h.req); err != nil {
		h.log.Warn("unpublish callback failed", "error", err)
	}
}

func (h *connHandler) OnPlay(sctx *rtmp.StreamContext, _ uint32, cmd *message.NetStreamPlay) error {
	if connState(h.state.Load()) != stateHandshake {
		return errors.New("second publish or play on one connection")
	}
	id, q := splitName(cmd.StreamName)
	if !channel.ValidID(id) {
		h.log.Warn("play refused: invalid channel id", "channel", id)
		return fmt.Errorf("play: invalid channel id %q", id)
	}
	if pa := h.srv.cfg.PlayAuth; pa != nil {
		if err := pa(h.ctx, id, q.Encode()); err != nil {
			h.log.Warn("play refused", "channel", id, "error", err)
			return fmt.Errorf("play %s: %w", id, err)
		}
	}
	key := id
	if s := h.srv.cfg.Hub.Stream(id); s != nil && s.ViewKey() != "" {
		key = s.ViewKey() // watermarked: never the raw source
	}
	sub, err := h.srv.cfg.Hub.Subscribe(key, hub.SubscribeOptions{})
	if err == nil && !sub.Stream().DirectPlay() {
		sub.Close()
		err = errors.New("FLV/RTMP output is off for this channel")
	}
	if err != nil {
		h.log.Warn("play refused", "channel", id, "error", err)
		return fmt.Errorf("play %s: %w", id, err)
	}
	h.state.Store(int32(statePlaying))
	_ = h.conn.SetDeadline(time.Time{})
	h.srv.Counters.Players.Add(1)
	h.log = h.log.With("channel", id)
	if err := h.startPlay(sctx.StreamID); err != nil {
		sub.Close()
		h.srv.Counters.Players.Add(-1)
		return err
	}
	gate := make(chan struct{})
	h.playGate.Store(&gate)
	go h.play(sub, sctx.StreamID, gate)
	return nil
}

// startPlay sends StreamBegin and NetStream.Play.Start before any media (go-rtmp
// sends its own Play.Start only after OnPlay returns, which would race the media).
func (h *connHandler) startPlay(streamID uint32) error {
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	if err := h.rc.Write(ctx, 2, 0, &rtmp.ChunkMessage{StreamID: 0, Message: &message.UserCtrl{Event: &message.UserCtrlEventStreamBegin{StreamID: streamID}}}); err != nil {
		return fmt.Errorf("play: stream begin: %w", err)
	}
	for _, code := range []message.NetStreamOnStatusCode{"NetStream.Play.Reset", message.NetStreamOnStatusCodePlayStart} {
		body := new(bytes.Buffer)
		enc := message.NewAMFEncoder(body, message.EncodingTypeAMF0)
		if err := message.EncodeBodyAnyValues(enc, &message.NetStreamOnStatus{InfoObject: message.NetStreamOnStatusInfoObject{
			Level: message.NetStreamOnStatusLevelStatus, Code: code, Description: "Playing.",
		}}); err != nil {
			return fmt.Errorf("play: encode status: %w", err)
		}
		if err := h.rc.Write(ctx, 5, 0, &rtmp.ChunkMessage{StreamID: streamID, Message: &message.CommandMessage{
			CommandName: "onStatus", Encoding: message.EncodingTypeAMF0, Body: body,
		}}); err != nil {
			return fmt.Errorf("play: status: %w", err)
		}
	}
	return nil
}

// Chunk stream ids for media sent to players.
const (
	csidData  = 5
	csidAudio = 6
	csidVideo = 7
)

func (h *connHandler) play(sub *hub.Subscriber, streamID uint32, gate <-chan struct{}) {
	defer func() {
		sub.Close()
		h.srv.Counters.Players.Add(-1)
		h.conn.Close()
	}()
	select {
	case <-gate:
	case <-h.ctx.Done():
		return
	}
	h.log.Info("play started")
	var pkts []*hub.Packet
	for {
		var err error
		pkts, err = sub.Read(h.ctx, pkts)
		if len(pkts) > 0 {
			_ = h.conn.SetWriteDeadline(time.Now().Add(h.srv.cfg.WriteTimeout))
			for _, p := range pkts {
				if werr := h.writeMedia(p, streamID); werr != nil {
					h.log.Info("play ended", "reason", werr)
					return
				}
				sub.AddBytesOut(p.Size())
			}
		}
		if err != nil {
			h.log.Info("play ended", "reason", err)
			return
		}
	}
}

func (h *connHandler) writeMedia(p *hub.Packet, streamID uint32) error {
	var (
		msg  message.Message
		csid int
	)
	switch p.Type {
	case flv.TagVideo:
		msg, csid = &message.VideoMessage{Payload: bytes.NewReader(p.Data())}, csidVideo
	case flv.TagAudio:
		msg, csid = &message.AudioMessage{Payload: bytes.NewReader(p.Data())}, csidAudio
	case flv.TagScript:
		body, ok := stripAMFString(p.Data())
		if !ok {
			return nil
		}
		msg, csid = &message.DataMessage{Name: "onMetaData", Encoding: message.EncodingTypeAMF0, Body: bytes.NewReader(body)}, csidData
	default:
		return nil
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.srv.cfg.WriteTimeout)
	defer cancel()
	return h.rc.Write(ctx, csid, p.Time, &rtmp.ChunkMessage{StreamID: streamID, Message: msg})
}

// stripAMFString removes the leading AMF0 string ("onMetaData") of a script body.
func stripAMFString(b []byte) ([]byte, bool) {
	if len(b) < 3 || b[0] != 0x02 {
		return nil, false
	}
	n := int(b[1])<<8 | int(b[2])
	if len(b) < 3+n {
		return nil, false
	}
	return b[3+n:], true
}

// OnClose is called by go-rtmp when the connection ends, for whatever reason.
func (h *connHandler) OnClose() {
	h.closeOnce.Do(func() {
		h.endPublish("disconnected")
		h.cancel()
		h.srv.track(h, false)
	})
}

// shutdown ends the connection from the server side.
func (h *connHandler) shutdown(reason string) {
	h.log.Info("closing connection", "reason", reason)
	h.conn.Close()
}
