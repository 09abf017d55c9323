package hls

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/media/cmaf"
	"github.com/livestack/livestack/shared/media/hub"
)

// ManagerConfig configures the packagers. Zero values take the documented defaults;
// a channel's outputs.hlsSegmentSeconds and outputs.hlsListSize override
// SegmentDuration and ListSize for its streams.
type ManagerConfig struct {
	// SegmentDuration is the HLS segment target (hls_time). Default 2 s.
	SegmentDuration time.Duration
	// ListSize is the number of segments in a live playlist (hls_list_size). Default 6.
	ListSize int
	// CMAF configures the fMP4 / LL-HLS / DASH packager (part target, CDN mode).
	CMAF cmaf.Config
	// Sink receives every MPEG-TS segment of the channels SinkFor selects (HLS VOD
	// recording); nil means none.
	Sink SegmentSink
	// SinkFor selects the channels whose segments go to Sink. The TS segmenter runs
	// for them even with live HLS off (then no live routes are served). nil selects
	// channels with recording.hlsVod on.
	SinkFor func(ch *channel.Channel) bool
	// Linger keeps an ended stream's playlists (with EXT-X-ENDLIST) servable this
	// long. Default 30 s.
	Linger time.Duration
	// RenditionPoll is how often a transcoded channel's rendition streams are looked
	// for (a worker's renditions start no hooks). Default 500 ms.
	RenditionPoll time.Duration
	// MaxLag is how far the MPEG-TS packager of a stream without CMAF may
	// fall behind the live edge (a CPU stall) before it skips to the latest
	// keyframe, which puts a discontinuity in the live playlist and a gap in
	// an HLS VOD recording; the hub keeps what it has not read meanwhile.
	// Players are seconds behind a TS playlist anyway. Default 10 s. With
	// CMAF the stream's packagers skip after the hub's MaxLag: LL-HLS
	// viewers would rather skip than fall behind.
	MaxLag time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Manager starts an MPEG-TS segmenter and/or a CMAF packager for every stream whose
// channel asks for them, and serves what they make. It implements
// rtmpserver.StreamHooks, metrics.Source and gateway.PlaybackRoutes.
type Manager struct {
	cfg ManagerConfig
	log *slog.Logger
	hub atomic.Pointer[hub.Hub]

	mu      sync.RWMutex
	streams map[string]*entry
	nextSeq map[string]uint64 // per key, across broadcasts: sequence numbers never go back
	// nextCMAF is nextSeq for the CMAF packager.
	nextCMAF map[string]uint64

	// counters for metrics
	packets  atomic.Int64
	segments atomic.Int64
}

// entry is one packaged stream.
type entry struct {
	key, channelID string
	stream         *hub.Stream
	// token makes segment names unique across broadcasts of the same key, so a CDN
	// may cache them for long.
	token  string
	ts     *tsLive // nil when live TS HLS is off
	cmaf   *cmaf.Packager
	target time.Duration
	ended  atomic.Bool
	done   chan struct{} // closed when the packagers finished
	// seg is set by the packaging goroutine before it reads media and used only there.
	seg *Segmenter
}

// subOpts: the TS packager wants every packet but no wake-up per packet
// (merged); LL-HLS parts are watched live, so with CMAF the publisher is asked
// for media at once (hub.Stream.LowLatency).
func (m *Manager) subOpts(e *entry) hub.SubscribeOptions {
	if e.cmaf != nil {
		return hub.SubscribeOptions{Internal: true, LowLatency: true}
	}
	return hub.SubscribeOptions{Internal: true, Merge: true, MaxLag: m.cfg.MaxLag}
}

// NewManager returns a Manager.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.SegmentDuration <= 0 {
		cfg.SegmentDuration = time.Duration(channel.DefaultHLSSegmentSeconds) * time.Second
	}
	if cfg.ListSize <= 0 {
		cfg.ListSize = channel.DefaultHLSListSize
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 30 * time.Second
	}
	if cfg.MaxLag <= 0 {
		cfg.MaxLag = 10 * time.Second
	}
	if cfg.RenditionPoll <= 0 {
		cfg.RenditionPoll = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SinkFor == nil {
		cfg.SinkFor = func(ch *channel.Channel) bool { return ch.Recording.HLSVOD }
	}
	return &Manager{cfg: cfg, log: cfg.Logger.With("component", "hls"), streams: map[string]*entry{}, nextSeq: map[string]uint64{}, nextCMAF: map[string]uint64{}}
}

// SetHub gives the manager the hub (for rendition streams); RegisterPlayback does it too.
func (m *Manager) SetHub(h *hub.Hub) { m.hub.Store(h) }

// StreamStarted implements rtmpserver.StreamHooks.
func (m *Manager) StreamStarted(ctx context.Context, ch *channel.Channel, s *hub.Stream) {
	if ch == nil || !m.wanted(ch) {
		return
	}
	m.start(ctx, ch, s)
	if len(workerRenditions(ch)) > 0 {
		go m.watchRenditions(ctx, ch, s)
	}
}

func (m *Manager) wanted(ch *channel.Channel) bool {
	return ch.Outputs.HLSEnabled() || ch.Outputs.CMAF || (m.cfg.Sink != nil && m.cfg.SinkFor(ch))
}

// watchRenditions packages the worker's rendition streams "{channel}/{rendition}"
// while the source stream lives: the RTMP server starts no hooks for them.
func (m *Manager) watchRenditions(ctx context.Context, ch *channel.Channel, src *hub.Stream) {
	rends := workerRenditions(ch)
	t := time.NewTicker(m.cfg.RenditionPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-src.Done():
			return
		case <-t.C:
		}
		h := m.hub.Load()
		if h == nil {
			continue
		}
		for _, r := range rends {
			st := h.Stream(ch.ID + "/" + r)
			if st == nil {
				continue
			}
			m.mu.RLock()
			e := m.streams[st.Key()]
			m.mu.RUnlock()
			if e == nil || e.stream != st {
				m.start(ctx, ch, st)
			}
		}
	}
}

// workerRenditions are the rendition streams a channel's worker publishes:
// its transcode templates, and "original" when it has a watermark.
func workerRenditions(ch *channel.Channel) []string {
	var out []string
	if ch.Transcode.Enabled {
		out = append(out, ch.Transcode.Renditions...)
	}
	if ingest.ViewKey(ch, ch.ID) != "" {
		out = append(out, ingest.RenditionOriginal)
	}
	return out
}

func (m *Manager) start(ctx context.Context, ch *channel.Channel, s *hub.Stream) {
	key := s.Key()
	target := m.cfg.SegmentDuration
	if ch.Outputs.HLSSegmentSeconds > 0 {
		target = time.Duration(ch.Outputs.HLSSegmentSeconds) * time.Second
	}
	listSize := m.cfg.ListSize
	if ch.Outputs.HLSListSize > 0 {
		listSize = ch.Outputs.HLSListSize
	}
	sinkOn := m.cfg.Sink != nil && m.cfg.SinkFor(ch)
	e := &entry{key: key, channelID: ch.ID, stream: s, target: target, done: make(chan struct{}),
		token: strconv.FormatInt(time.Now().UnixMilli(), 36)}
	if ch.Outputs.HLSEnabled() {
		e.ts = newTSLive(listSize, target, e.token)
	}
	if ch.Outputs.CMAF {
		cc := m.cfg.CMAF
		cc.SegmentDuration, cc.ListSize = target, listSize
		if cc.Logger == nil {
			cc.Logger = m.log
		}
		e.cmaf = cmaf.New(key, e.token, cc)
	}
	// Subscribe before the stream is listed and before returning: StreamStarted
	// runs before media flows, so the packagers see the stream from its first
	// packet, and whoever sees the stream listed knows it is subscribed.
	// Without LL-HLS parts to publish, the packager is woken once per merge
	// window rather than per packet: segments complete up to one window (70 ms
	// by default) later, and a thousand streams cost a tenth of the wake-ups.
	m.mu.Lock()
	old := m.streams[key]
	if old != nil && old.stream == s {
		m.mu.Unlock()
		return // already packaging this stream
	}
	sub, err := s.Subscribe(m.subOpts(e))
	if err != nil {
		m.mu.Unlock()
		close(e.done)
		e.ended.Store(true)
		return
	}
	m.streams[key] = e
	m.mu.Unlock()
	m.log.Info("packaging stream", "stream", key, "ts", e.ts != nil, "cmaf", e.cmaf != nil, "sink", sinkOn, "segment", target)
	go func() {
		if old != nil {
			// the previous broadcast of this key may still be finishing: its
			// sequence numbers are needed to continue them
			<-old.done
		}
		if e.cmaf != nil {
			m.mu.RLock()
			next := m.nextCMAF[key]
			m.mu.RUnlock()
			e.cmaf.ContinueFrom(next)
		}
		if e.ts != nil || sinkOn {
			m.mu.RLock()
			seq := m.nextSeq[key]
			m.mu.RUnlock()
			e.seg = NewSegmenter(key, ch.ID, target, seq, func(seg Segment) {
				m.segments.Add(1)
				if e.ts != nil {
					e.ts.add(seg)
				}
				if sinkOn {
					m.cfg.Sink.SegmentReady(ctx, seg)
				}
			})
			if seq > 0 {
				e.seg.Discontinuity() // a new broadcast of a key packaged before
			}
		}
		m.run(ctx, e, sub, sinkOn)
	}()
}

// run feeds the stream's packets to the packagers until the stream ends.
func (m *Manager) run(ctx context.Context, e *entry, sub *hub.Subscriber, sinkOn bool) {
	defer m.finish(ctx, e, sinkOn)
	defer func() { sub.Close() }()
	var err error
	var buf []*hub.Packet
	for {
		buf, err = sub.Read(ctx, buf)
		for _, p := range buf {
			if e.seg != nil {
				e.seg.WritePacket(p)
			}
			if e.cmaf != nil {
				e.cmaf.WritePacket(p)
			}
		}
		m.packets.Add(int64(len(buf)))
		clear(buf) // drop references to packets the hub may release
		switch {
		case err == nil:
		case errors.Is(err, hub.ErrTooSlow):
			// fell behind (CPU starved): start again at the live edge
			m.log.Warn("packager fell behind, resubscribing", "stream", e.key)
			sub.Close()
			if sub, err = e.stream.Subscribe(m.subOpts(e)); err != nil {
				return
			}
			if e.seg != nil {
				e.seg.Discontinuity()
			}
			if e.cmaf != nil {
				e.cmaf.Discontinuity()
			}
		default: // io.EOF: the stream ended; ctx: shutting down
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				m.log.Warn("packager read", "stream", e.key, "error", err)
			}
			return
		}
	}
}

func (m *Manager) finish(ctx context.Context, e *entry, sinkOn bool) {
	if e.seg != nil {
		e.seg.Flush()
		m.mu.Lock()
		m.nextSeq[e.key] = e.seg.NextSeq()
		m.mu.Unlock()
		if sinkOn {
			m.cfg.Sink.StreamEnded(ctx, e.key)
		}
	}
	if e.ts != nil {
		e.ts.end()
	}
	if e.cmaf != nil {
		e.cmaf.End()
		m.mu.Lock()
		m.nextCMAF[e.key] = e.cmaf.NextSeq()
		m.mu.Unlock()
	}
	e.ended.Store(true)
	close(e.done)
	m.log.Info("packaging ended", "stream", e.key)
	time.AfterFunc(m.cfg.Linger, func() {
		m.mu.Lock()
		if m.streams[e.key] == e {
			delete(m.streams, e.key)
		}
		m.mu.Unlock()
	})
}

// lookup returns the packaged stream for key.
func (m *Manager) lookup(key string) *entry {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.streams[key]
}
