// Package relay pushes live streams to other RTMP/RTMPS servers (YouTube,
// Twitch, another livestack region...). A channel lists its targets
// (channel.Channel.Relay); when its stream starts, the Manager runs one pusher
// per target. A pusher reads the stream from the hub through its own internal
// subscriber and publishes it to the target with rtmpclient.Conn: every step
// has a deadline, the publish starts once the target accepted it, and a
// target that closes or refuses the stream ends the session at once.
// Timestamps are rebased so the target sees its stream start at 0. On any
// failure the pusher closes, waits with exponential backoff and jitter, and
// starts again from a fresh subscription (so the target restarts on a
// keyframe with the sequence headers). It stops when the stream ends
// (unpublishing cleanly from the target) or when the Manager closes.
//
// A slow or unreachable target never slows the publisher or the viewers: the
// hub never waits for a subscriber, and drops one that stays behind
// (hub.ErrTooSlow), which the pusher treats like any other failure.
//
// Relay URLs carry the broadcaster's stream key, so logs, errors and stats only
// ever show them redacted (rtmpclient.Redact, rtmpclient.Target.Scrub).
package relay

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/rtmpserver"
)

// Config of a Manager. Zero values take the documented defaults.
type Config struct {
	// Logger receives the relay logs. Default slog.Default().
	Logger *slog.Logger
	// MinBackoff is the pause after the first failure; each further failure
	// doubles it, up to MaxBackoff, with jitter. Defaults 1 s and 30 s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// DialTimeout bounds one connection setup: TCP (and TLS) connect, the RTMP
	// handshake, connect, createStream and publish until the target accepts.
	// Default 10 s.
	DialTimeout time.Duration
	// WriteTimeout ends a connection whose target accepts no data for this
	// long. Default 10 s.
	WriteTimeout time.Duration
	// ChunkSize is the RTMP chunk size announced to targets, at most 16777215.
	// Default 4096.
	ChunkSize uint32
	// TLS configures rtmps targets (for example RootCAs). Nil uses the system
	// roots. The server name defaults to the URL's host; certificates are always
	// verified (InsecureSkipVerify here is ignored).
	TLS *tls.Config

	// stableAfter is how long a connection must stay live for the backoff to
	// start again from MinBackoff. Default MaxBackoff.
	stableAfter time.Duration
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = 4096
	}
	if c.stableAfter <= 0 {
		c.stableAfter = c.MaxBackoff
	}
}

// tlsConfig returns the client TLS settings for host.
func (c *Config) tlsConfig(host string) *tls.Config {
	var tc *tls.Config
	if c.TLS != nil {
		tc = c.TLS.Clone()
	} else {
		tc = &tls.Config{}
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	tc.InsecureSkipVerify = false // always verified; nil RootCAs: the system roots
	return tc
}

// Status is where a relay target stands.
type Status string

// Statuses of a relay target.
const (
	StatusConnecting Status = "connecting"
	StatusLive       Status = "live"
	StatusBackoff    Status = "backoff"
	StatusStopped    Status = "stopped"
)

// State is one relay target of a stream, for stats.
type State struct {
	// URL is the target with its stream key redacted (rtmpclient.Redact).
	URL    string    `json:"url"`
	Status Status    `json:"status"`
	Since  time.Time `json:"since"`
	// Bytes is the media payload sent to the target, across reconnects.
	Bytes int64 `json:"bytes"`
	// Reconnects counts connection attempts after a failure.
	Reconnects int `json:"reconnects"`
	// LastError is the latest failure, redacted. It is kept after a successful
	// reconnect, for diagnosis, until a newer failure replaces it.
	LastError string `json:"lastError,omitempty"`
}

// Totals are manager-wide figures for metrics.
type Totals struct {
	// Relays is the number of targets of current streams; Live of them publishing now.
	Relays int
	Live   int
	// Reconnects and Bytes count since the Manager started.
	Reconnects int64
	Bytes      int64
}

// Manager runs the relays of every stream. It implements rtmpserver.StreamHooks.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	groups map[string]*group // by stream key: the relays of its current stream

	reconnects atomic.Int64
	bytes      atomic.Int64
}

var _ rtmpserver.StreamHooks = (*Manager)(nil)

// group is the set of pushers of one stream.
type group struct {
	stream  *hub.Stream
	pushers []*pusher
}

// New returns a Manager; Close stops it.
func New(cfg Config) *Manager {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "relay"),
		ctx:    ctx,
		cancel: cancel,
		groups: map[string]*group{},
	}
}

// StreamStarted starts one pusher per relay target of ch for stream s. It
// returns at once; ctx only bounds the call (the pushers live until the stream
// ends or the Manager closes). Duplicate URLs are pushed once; an invalid URL
// is listed as stopped with its error.
func (m *Manager) StreamStarted(_ context.Context, ch *channel.Channel, s *hub.Stream) {
	if ch == nil || s == nil || len(ch.Relay) == 0 {
		return
	}
	key := s.Key()
	g := &group{stream: s}
	seen := map[string]bool{}
	for _, r := range ch.Relay {
		if seen[r.URL] {
			continue
		}
		seen[r.URL] = true
		g.pushers = append(g.pushers, newPusher(m, s, r.URL))
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if old := m.groups[key]; old != nil && old.stream == s {
		return // already relaying this stream
	}
	m.groups[key] = g // a previous stream of the same key has ended
	var running sync.WaitGroup
	for _, p := range g.pushers {
		if p.invalid {
			p.log.Warn("relay target not started", "error", p.snapshot().LastError)
			continue
		}
		running.Add(1)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer running.Done()
			p.run(m.ctx)
		}()
	}
	// Forget the group once the stream ended and its pushers are done.
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		running.Wait()
		select {
		case <-s.Done():
		case <-m.ctx.Done():
		}
		m.mu.Lock()
		if m.groups[key] == g {
			delete(m.groups, key)
		}
		m.mu.Unlock()
	}()
}

// States returns the relay targets of the stream under streamKey, in the
// channel's order; nil when it has none.
func (m *Manager) States(streamKey string) []State {
	m.mu.Lock()
	g := m.groups[streamKey]
	m.mu.Unlock()
	if g == nil {
		return nil
	}
	out := make([]State, len(g.pushers))
	for i, p := range g.pushers {
		out[i] = p.snapshot()
	}
	return out
}

// Totals returns manager-wide figures.
func (m *Manager) Totals() Totals {
	m.mu.Lock()
	groups := make([]*group, 0, len(m.groups))
	for _, g := range m.groups {
		groups = append(groups, g)
	}
	m.mu.Unlock()
	t := Totals{Reconnects: m.reconnects.Load(), Bytes: m.bytes.Load()}
	for _, g := range groups {
		for _, p := range g.pushers {
			t.Relays++
			if p.snapshot().Status == StatusLive {
				t.Live++
			}
		}
	}
	return t
}

// Close stops every pusher (each tells its target the publish ended) and waits
// for them, or for ctx.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("relay close: %w", ctx.Err())
	}
}
