// Package hub is the in-memory heart of livestack: per stream, one publisher and
// many subscribers. It keeps the metadata and sequence headers, a GOP cache so a new
// subscriber starts on the latest keyframe at once, and a shared log of immutable
// packets that every subscriber reads through its own cursor. A subscriber that
// falls behind skips to the next keyframe; one that stays behind is dropped. The
// publisher never waits for a subscriber.
//
// The hub knows no protocol: RTMP, HTTP-FLV, HLS and relays are adapters around it.
package hub

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Errors returned by the hub.
var (
	ErrNotFound         = errors.New("stream not found")
	ErrAlreadyPublished = errors.New("stream already has a publisher")
	ErrTooManyViewers   = errors.New("too many viewers on stream")
	ErrTooManyStreams   = errors.New("too many streams")
	ErrTooSlow          = errors.New("subscriber too slow")
	ErrClosed           = errors.New("hub closed")
)

// Config holds the hub's settings. Zero values take the documented defaults.
type Config struct {
	// ReconnectWindow is how long a stream outlives its publisher, so a publisher
	// that reconnects continues the same stream for the same viewers. Default 10 s;
	// negative disables it.
	ReconnectWindow time.Duration
	// MergeWindow batches media for viewers that ask for merged writes: a viewer
	// is woken once per window with everything that arrived. Default 0 (every
	// packet at once); see docs/performance.md for the measured trade-off.
	MergeWindow time.Duration
	// MaxLag is how far (in media time) a subscriber may fall behind the live edge
	// before it skips to the latest keyframe; packets older than the GOP cache and
	// MaxLag are released. Default 3 s.
	MaxLag time.Duration
	// MaxSkips is how many skips within SkipPeriod drop a subscriber. Default 3 in 30 s.
	MaxSkips   int
	SkipPeriod time.Duration
	// MaxGOPBytes caps the GOP cache for streams with rare keyframes. Default 32 MiB.
	MaxGOPBytes int64
	// MaxStreams and MaxViewersPerStream limit the hub; 0 means unlimited.
	MaxStreams          int
	MaxViewersPerStream int
	// Logger receives the hub's logs. Default slog.Default().
	Logger *slog.Logger
	// now is the clock, replaced in tests.
	now func() time.Time
}

func (c *Config) setDefaults() {
	if c.ReconnectWindow == 0 {
		c.ReconnectWindow = 10 * time.Second
	}
	if c.MaxLag <= 0 {
		c.MaxLag = 3 * time.Second
	}
	if c.MaxSkips <= 0 {
		c.MaxSkips = 3
	}
	if c.SkipPeriod <= 0 {
		c.SkipPeriod = 30 * time.Second
	}
	if c.MaxGOPBytes <= 0 {
		c.MaxGOPBytes = 32 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
}

// Hub holds the live streams by key.
type Hub struct {
	cfg    Config
	epoch  time.Time
	mu     sync.Mutex
	byKey  map[string]*Stream
	closed bool
	// counters across streams, for /metrics
	totals Totals
}

// Totals are hub-wide counters since start.
type Totals struct {
	Publishes          uint64
	Reconnects         uint64
	SubscribersDropped uint64
	SubscriberSkips    uint64
}

// New returns an empty hub.
func New(cfg Config) *Hub {
	cfg.setDefaults()
	return &Hub{cfg: cfg, epoch: cfg.now(), byKey: map[string]*Stream{}}
}

// Config returns the hub's effective settings.
func (h *Hub) Config() Config { return h.cfg }

// PublishOptions tune one publish.
type PublishOptions struct {
	// MergeWindow overrides the hub's merge window for this stream when not nil.
	MergeWindow *time.Duration
	// Remote names the publisher (address) for stats and logs.
	Remote string
	// Session is an opaque publish-session id for logs.
	Session string
	// NoDirectPlay marks a stream that is not played as-is (FLV/RTMP) by
	// viewers, only packaged or processed (the channel turned FLV off).
	NoDirectPlay bool
	// ViewAs, when set, is the hub key viewers are served instead of this
	// stream (a watermarked channel's "{id}/original"): the stream itself is
	// only for internal readers such as the worker. See Stream.ViewKey.
	ViewAs string
	// DeferWake holds back waking subscribers until Publisher.Flush. A
	// publisher that receives media in batches (the RTMP server: everything
	// one socket read brought) flushes once per batch, so a subscriber wakes
	// once per batch instead of once per message. Subscribers that read
	// without waiting still see every packet at once.
	DeferWake bool
}

// Publish starts publishing key. A stream waiting in its reconnect window is
// taken over and continues; a stream with a live publisher is refused.
func (h *Hub) Publish(key string, opts PublishOptions) (*Publisher, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	s := h.byKey[key]
	if s != nil {
		p, err := s.attach(opts)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", key, err)
		}
		h.totals.Reconnects++
		h.totals.Publishes++
		return p, nil
	}
	if h.cfg.MaxStreams > 0 && len(h.byKey) >= h.cfg.MaxStreams {
		return nil, fmt.Errorf("publish %s: %w (%d)", key, ErrTooManyStreams, h.cfg.MaxStreams)
	}
	s = newStream(h, key)
	h.byKey[key] = s
	p, err := s.attach(opts)
	if err != nil {
		delete(h.byKey, key)
		return nil, fmt.Errorf("publish %s: %w", key, err)
	}
	h.totals.Publishes++
	return p, nil
}

// Stream returns the stream under key, or nil.
func (h *Hub) Stream(key string) *Stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byKey[key]
}

// Subscribe starts reading key from its latest keyframe.
func (h *Hub) Subscribe(key string, opts SubscribeOptions) (*Subscriber, error) {
	s := h.Stream(key)
	if s == nil {
		return nil, fmt.Errorf("subscribe %s: %w", key, ErrNotFound)
	}
	sub, err := s.Subscribe(opts)
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", key, err)
	}
	return sub, nil
}

// Streams returns the live streams, sorted by key.
func (h *Hub) Streams() []*Stream {
	h.mu.Lock()
	out := make([]*Stream, 0, len(h.byKey))
	for _, s := range h.byKey {
		out = append(out, s)
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// Totals returns the hub-wide counters.
func (h *Hub) Totals() Totals {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.totals
}

// Close ends every stream: publishers are detached and subscribers see io.EOF.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	streams := make([]*Stream, 0, len(h.byKey))
	for _, s := range h.byKey {
		streams = append(streams, s)
	}
	h.mu.Unlock()
	for _, s := range streams {
		s.end("hub closed")
	}
}

func (h *Hub) remove(s *Stream) {
	h.mu.Lock()
	if h.byKey[s.key] == s {
		delete(h.byKey, s.key)
	}
	h.mu.Unlock()
}

func (h *Hub) countDrop() {
	h.mu.Lock()
	h.totals.SubscribersDropped++
	h.mu.Unlock()
}

func (h *Hub) countSkip() {
	h.mu.Lock()
	h.totals.SubscriberSkips++
	h.mu.Unlock()
}
