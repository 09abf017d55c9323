// Package rtmpserver owns the RTMP/RTMPS listeners and connection lifecycles of
// the gateway. It maps github.com/yutopp/go-rtmp onto the hub: publishers are
// authorized (ingest.Authorizer) before any media is accepted and then write into
// the hub; players subscribe to the hub. Guards: connection limit, handshake and
// publish timeout, idle publisher timeout, bounded chunk and message sizes.
package rtmpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/yutopp/go-rtmp"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/media/hub"
)

// StreamHooks are told about streams the server starts (not about reconnects
// that continue a stream); the gateway starts relays and packagers from them.
//
// StreamStarted is called on the publisher's goroutine before media flows, so
// it must return quickly: start goroutines for long work and stop them when
// s.Done() is closed (the stream ended after its reconnect window). ctx ends
// when the server shuts down.
type StreamHooks interface {
	StreamStarted(ctx context.Context, ch *channel.Channel, s *hub.Stream)
}

// HookList calls each of its hooks in order; nil entries are skipped.
type HookList []StreamHooks

// StreamStarted implements StreamHooks.
func (l HookList) StreamStarted(ctx context.Context, ch *channel.Channel, s *hub.Stream) {
	for _, h := range l {
		if h != nil {
			h.StreamStarted(ctx, ch, s)
		}
	}
}

// PlayAuthorizer decides whether an RTMP player may play a channel; query is the
// raw query string of the stream name.
type PlayAuthorizer func(ctx context.Context, channelID, query string) error

// Config of the RTMP server. Zero values take the documented defaults.
type Config struct {
	Hub        *hub.Hub
	Authorizer ingest.Authorizer
	// Hooks may be nil.
	Hooks StreamHooks
	// PlayAuth may be nil (every live channel may be played).
	PlayAuth PlayAuthorizer
	// App is the application name publishers and players use. Default "stream".
	App string
	// Gateway is the address this gateway is reached on, for sessions.
	Gateway string
	// Region of this gateway (empty in standalone).
	Region string
	// HandshakeTimeout bounds the time from accept to a publish or play. Default 10 s.
	HandshakeTimeout time.Duration
	// IdleTimeout drops a publisher that sends no media for this long. Default 15 s.
	IdleTimeout time.Duration
	// WriteTimeout drops an RTMP player whose writes block this long. Default 10 s.
	WriteTimeout time.Duration
	// MaxConnections limits concurrent RTMP connections. Default 10000.
	MaxConnections int
	// MaxPublishers limits concurrent publishers. Default 2000.
	MaxPublishers int
	// MaxMessageSize bounds one RTMP message (a video frame). Default 8 MiB.
	MaxMessageSize uint32
	// DefaultMergeWindow is used for channels without their own setting.
	DefaultMergeWindow time.Duration
	// ReadBatch batches a publisher's socket reads while nobody watches its
	// stream at low latency (hub.Stream.LowLatency: no FLV/RTMP viewer, no
	// LL-HLS packager, no transcoder): a read waits until ReadBatch after the
	// previous one, so the media of that interval arrives in one system call
	// and one wake-up of the packagers instead of one per message. It delays
	// nothing anyone watches: HLS segments and recordings are cut seconds
	// apart. Default 100 ms; negative disables (ReadBatchFlag maps a flag's 0).
	ReadBatch time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.App == "" {
		c.App = "stream"
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 15 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = 10000
	}
	if c.MaxPublishers <= 0 {
		c.MaxPublishers = 2000
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = 8 << 20
	}
	if c.ReadBatch == 0 {
		c.ReadBatch = 100 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Counters are the server's totals since start, for /metrics.
type Counters struct {
	Accepted       atomic.Int64
	Rejected       atomic.Int64 // over the connection limit
	Active         atomic.Int64
	Publishers     atomic.Int64
	Players        atomic.Int64
	PublishRefused sync.Map // reason -> *atomic.Int64
	// ProtocolErrors counts connections that ended before publishing or playing
	// (garbage, bad handshakes, refused commands).
	ProtocolErrors  atomic.Int64
	HandshakeClosed atomic.Int64
	// Violations counts connections dropped by the protocol guard.
	Violations atomic.Int64
	// IdleDrops counts publishers dropped for sending no media for the idle
	// timeout.
	IdleDrops atomic.Int64
	// SlowReads counts times a publisher went unread past the idle timeout
	// while its socket held data it had sent: the server was behind, and the
	// publisher was kept.
	SlowReads atomic.Int64
}

// RefusedCount returns how many publishes were refused for reason.
func (c *Counters) RefusedCount(reason string) int64 {
	if v, ok := c.PublishRefused.Load(reason); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (c *Counters) refused(reason string) {
	v, _ := c.PublishRefused.LoadOrStore(reason, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// Protocol bounds shared by the guard and go-rtmp, so both parsers agree.
const (
	maxChunkSize    = 1 << 20
	maxChunkStreams = 64
)

// Server accepts RTMP connections.
type Server struct {
	cfg     Config
	log     *slog.Logger
	rlog    *logrus.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	slots   chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[*connHandler]struct{}
	servers []*rtmp.Server
	closed  bool
	// Counters are exported for metrics.
	Counters Counters
}

// New builds a server; call Serve with one or more listeners.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.Hub == nil || cfg.Authorizer == nil {
		return nil, errors.New("rtmpserver: Hub and Authorizer are required")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "rtmp"),
		ctx:    ctx,
		cancel: cancel,
		slots:  make(chan struct{}, cfg.MaxConnections),
		conns:  map[*connHandler]struct{}{},
	}
	s.rlog = newLibraryLogger(s.log)
	return s, nil
}

// SetGateway sets the address recorded on publish sessions when Config.Gateway
// was empty at New (it is known only once the HTTP listener is bound).
func (s *Server) SetGateway(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Gateway == "" {
		s.cfg.Gateway = addr
	}
}

func (s *Server) gateway() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Gateway
}

// Serve accepts connections on ln until Close. With tlsConfig set, it serves
// RTMPS (TLS is handshaken lazily inside the connection's own goroutine).
func (s *Server) Serve(ln net.Listener, tlsConfig *tls.Config) error {
	gl := &guardedListener{Listener: ln, srv: s, tls: tlsConfig}
	rs := rtmp.NewServer(&rtmp.ServerConfig{OnConnect: s.onConnect})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return rtmp.ErrClosed
	}
	s.servers = append(s.servers, rs)
	s.mu.Unlock()
	err := rs.Serve(gl)
	if errors.Is(err, rtmp.ErrClosed) {
		return nil
	}
	return err
}

// Close stops accepting, tells publishers and players (their connections are
// closed, so encoders reconnect elsewhere), and waits for connections to end
// or ctx to expire.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	servers := s.servers
	conns := make([]*connHandler, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, rs := range servers {
		rs.Close()
	}
	s.cancel()
	for _, c := range conns {
		c.shutdown("server shutting down")
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rtmp close: %w", ctx.Err())
	}
}

func (s *Server) onConnect(conn net.Conn) (io.ReadWriteCloser, *rtmp.ConnConfig) {
	h := newConnHandler(s, conn)
	return h.conn, &rtmp.ConnConfig{
		Handler: h,
		// go-rtmp's 4 KB default costs one read(2) per chunk; a larger buffer
		// takes a whole keyframe's chunks in a few reads.
		ReaderBufferSize: 64 << 10,
		ControlState: rtmp.StreamControlStateConfig{
			DefaultBandwidthWindowSize: 6 * 1024 * 1024 / 8,
			MaxChunkSize:               maxChunkSize,
			MaxMessageSize:             s.cfg.MaxMessageSize,
			MaxMessageStreams:          8,
			MaxChunkStreams:            maxChunkStreams,
		},
		Logger: s.rlog.WithField("remote", h.remote),
	}
}

func (s *Server) track(h *connHandler, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[h] = struct{}{}
	} else {
		delete(s.conns, h)
	}
}

// guardedListener enforces the connection limit, backs off on accept errors
// (go-rtmp's accept loop retries at once) and wraps TLS.
type guardedListener struct {
	net.Listener
	srv   *Server
	tls   *tls.Config
	delay time.Duration
}

func (l *guardedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			if l.delay == 0 {
				l.delay = 5 * time.Millisecond
			} else if l.delay *= 2; l.delay > time.Second {
				l.delay = time.Second
			}
			l.srv.log.Warn("accept failed", "error", err, "retry_in", l.delay)
			time.Sleep(l.delay)
			return nil, err
		}
		l.delay = 0
		select {
		case l.srv.slots <- struct{}{}:
		default:
			l.srv.Counters.Rejected.Add(1)
			l.srv.log.Warn("connection refused: limit reached", "remote", c.RemoteAddr().String(), "limit", l.srv.cfg.MaxConnections)
			c.Close()
			continue
		}
		l.srv.Counters.Accepted.Add(1)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		if l.tls != nil {
			c = tls.Server(c, l.tls)
		}
		return c, nil
	}
}

// ReadBatchFlag maps a --rtmp-read-batch flag, where 0 means off, onto
// Config.ReadBatch, where 0 means the default and a negative value off.
func ReadBatchFlag(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
