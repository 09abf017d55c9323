package snapshot

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/playback"
	"github.com/livestack/livestack/shared/store"
)

// ManagerConfig configures a Manager. Zero values take the defaults.
type ManagerConfig struct {
	Blob blob.Store
	// Index may be nil.
	Index   store.Recordings
	Decoder DecoderConfig
	// NewDecoder makes a stream's decoder; default NewPersistent(Decoder).
	NewDecoder func(DecoderConfig) Decoder
	Logger     *slog.Logger
}

// Manager runs a snapshotter for every hub stream whose channel has
// snapshots on (an rtmpserver.StreamHooks), keeps each channel's latest
// picture in memory, serves it over HTTP and reports metrics.
type Manager struct {
	cfg      ManagerConfig
	log      *slog.Logger
	Counters Counters

	mu     sync.Mutex
	latest map[string]Picture
	active int
	wg     sync.WaitGroup
	closed bool
	cancel context.CancelFunc
	ctx    context.Context
}

// NewManager returns a Manager.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Decoder.Logger = cfg.Logger
	if cfg.NewDecoder == nil {
		cfg.NewDecoder = func(c DecoderConfig) Decoder { return NewPersistent(c) }
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{cfg: cfg, log: cfg.Logger.With("component", "snapshot"), latest: map[string]Picture{}, ctx: ctx, cancel: cancel}
}

// StreamStarted implements rtmpserver.StreamHooks: a channel with snapshots
// on gets a snapshotter until its stream ends.
func (m *Manager) StreamStarted(ctx context.Context, ch *channel.Channel, s *hub.Stream) {
	if ch == nil || !ch.Recording.Snapshots || s.Key() != ch.ID {
		return
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.active++
	m.wg.Add(1)
	m.mu.Unlock()
	interval := time.Duration(ch.Recording.SnapshotSeconds) * time.Second
	bid := BroadcastID(s.Stats().Since)
	go func() {
		defer m.wg.Done()
		defer func() {
			m.mu.Lock()
			m.active--
			if p, ok := m.latest[ch.ID]; ok && p.BroadcastID == bid {
				delete(m.latest, ch.ID)
			}
			m.mu.Unlock()
		}()
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(m.ctx, cancel)
		defer stop()
		m.runStream(rctx, ch.ID, bid, interval, s)
	}()
}

// runStream runs the snapshotter on s, renewing the subscription after
// errors, until the stream ends or ctx ends.
func (m *Manager) runStream(ctx context.Context, channelID, bid string, interval time.Duration, s *hub.Stream) {
	dec := m.cfg.NewDecoder(m.cfg.Decoder)
	defer dec.Close()
	log := m.log.With("channel", channelID, "broadcast", bid)
	log.Info("snapshots started", "interval", interval)
	Resume(ctx, s, log, "snapshots", func(ctx context.Context, src *HubSource) error {
		err := Run(ctx, Config{
			ChannelID: channelID, BroadcastID: bid, Interval: interval,
			Blob: m.cfg.Blob, Index: m.cfg.Index, Decoder: dec, Counters: &m.Counters, Logger: m.log,
			OnPicture: func(p Picture) {
				m.mu.Lock()
				m.latest[channelID] = p
				m.mu.Unlock()
			},
		}, src)
		m.Counters.SourceRestart.Add(int64(src.Skips))
		return err
	})
}

// Latest returns the channel's latest picture of its current broadcast.
func (m *Manager) Latest(channelID string) (Picture, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.latest[channelID]
	return p, ok
}

// Close stops every snapshotter and waits for them, or for ctx.
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
		return ctx.Err()
	}
}

// Pattern is the ServeMux pattern Handler serves.
const Pattern = "GET /{channel}/snapshot.jpg"

// RegisterPlayback implements gateway.PlaybackRoutes: the latest picture is
// served next to the live streams, under the same play authorizer (a channel
// with signed playback needs a signed snapshot URL too).
func (m *Manager) RegisterPlayback(mux *http.ServeMux, _ *hub.Hub, auth playback.Authorizer) {
	mux.Handle(Pattern, m.Handler(auth))
}

// Handler serves the latest picture of a live channel at
// /{channelId}/snapshot.jpg (register it under Pattern, or with
// RegisterPlayback): 200 image/jpeg with
// a short Cache-Control, 404 when the channel has none, 403 when authorize
// refuses. CORS is open, as for playback, so a console on another origin can
// show thumbnails.
func (m *Manager) Handler(authorize playback.Authorizer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("X-Content-Type-Options", "nosniff")
		id := r.PathValue("channel")
		if !channel.ValidID(id) {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if authorize != nil {
			if err := authorize(r, id); err != nil {
				http.Error(w, "snapshot not authorized", http.StatusForbidden)
				return
			}
		}
		p, ok := m.Latest(id)
		if !ok {
			h.Set("Cache-Control", "no-store")
			http.Error(w, "no snapshot", http.StatusNotFound)
			return
		}
		h.Set("Content-Type", "image/jpeg")
		h.Set("Cache-Control", "public, max-age=2")
		h.Set("Last-Modified", p.Taken.UTC().Format(http.TimeFormat))
		h.Set("X-Snapshot-Key", p.Key)
		h.Set("Content-Length", strconv.Itoa(len(p.JPEG)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(p.JPEG)
	})
}

var (
	dTaken    = prometheus.NewDesc("livestack_snapshots_taken_total", "JPG snapshots stored.", nil, nil)
	dFailed   = prometheus.NewDesc("livestack_snapshots_failed_total", "Snapshots that failed, by stage (decode, store, index).", []string{"stage"}, nil)
	dSkipped  = prometheus.NewDesc("livestack_snapshots_skipped_total", "Snapshot ticks skipped because no new keyframe had arrived.", nil, nil)
	dRestarts = prometheus.NewDesc("livestack_snapshot_decoder_restarts_total", "Snapshot ffmpeg processes replaced after failing.", nil, nil)
	dResub    = prometheus.NewDesc("livestack_snapshot_resubscribes_total", "Snapshot readers that fell behind the hub and restarted at the latest keyframe.", nil, nil)
	dActive   = prometheus.NewDesc("livestack_snapshot_streams", "Streams taking snapshots.", nil, nil)
	dAge      = prometheus.NewDesc("livestack_snapshot_age_seconds", "Age of the channel's latest snapshot.", []string{"channel"}, nil)
)

// Describe implements prometheus.Collector.
func (m *Manager) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dTaken, dFailed, dSkipped, dRestarts, dResub, dActive, dAge} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Manager) Collect(ch chan<- prometheus.Metric) {
	c := &m.Counters
	ch <- prometheus.MustNewConstMetric(dTaken, prometheus.CounterValue, float64(c.Taken.Load()))
	ch <- prometheus.MustNewConstMetric(dFailed, prometheus.CounterValue, float64(c.DecodeFailed.Load()), "decode")
	ch <- prometheus.MustNewConstMetric(dFailed, prometheus.CounterValue, float64(c.StoreFailed.Load()), "store")
	ch <- prometheus.MustNewConstMetric(dFailed, prometheus.CounterValue, float64(c.IndexFailed.Load()), "index")
	ch <- prometheus.MustNewConstMetric(dSkipped, prometheus.CounterValue, float64(c.StaleSkipped.Load()))
	ch <- prometheus.MustNewConstMetric(dRestarts, prometheus.CounterValue, float64(c.Restarts.Load()))
	ch <- prometheus.MustNewConstMetric(dResub, prometheus.CounterValue, float64(c.SourceRestart.Load()))
	m.mu.Lock()
	defer m.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(dActive, prometheus.GaugeValue, float64(m.active))
	now := time.Now()
	for id, p := range m.latest {
		ch <- prometheus.MustNewConstMetric(dAge, prometheus.GaugeValue, now.Sub(p.Taken).Seconds(), id)
	}
}
