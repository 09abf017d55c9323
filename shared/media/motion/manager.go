package motion

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/media/snapshot"
	"github.com/livestack/livestack/shared/store"
)

// ManagerConfig configures a Manager. Zero values take the defaults of Config.
type ManagerConfig struct {
	Blob blob.Store
	// Index may be nil.
	Index    store.Recordings
	FFmpeg   string
	SpoolDir string
	PreRoll  time.Duration
	MaxClip  time.Duration
	Logger   *slog.Logger
	// OnClip, if set, is called with every stored clip.
	OnClip func(Clip)
}

// Manager runs motion capture for every hub stream whose channel has motion
// on (an rtmpserver.StreamHooks) and reports metrics.
type Manager struct {
	cfg      ManagerConfig
	log      *slog.Logger
	Counters Counters

	mu     sync.Mutex
	active int
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// NewManager returns a Manager.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{cfg: cfg, log: cfg.Logger.With("component", "motion"), ctx: ctx, cancel: cancel}
	m.removeStaleSpool()
	return m
}

// removeStaleSpool deletes the spool files of clips a previous run was
// recording when it stopped abnormally: a clip is only kept once finished.
func (m *Manager) removeStaleSpool() {
	if m.cfg.SpoolDir == "" {
		return
	}
	old, _ := filepath.Glob(filepath.Join(m.cfg.SpoolDir, "motion-*.flv*"))
	for _, f := range old {
		if err := os.Remove(f); err == nil {
			m.log.Warn("removed the spool of a clip interrupted by a restart", "file", f)
		}
	}
}

// StreamStarted implements rtmpserver.StreamHooks.
func (m *Manager) StreamStarted(ctx context.Context, ch *channel.Channel, s *hub.Stream) {
	if ch == nil || !ch.Recording.Motion.Enabled || s.Key() != ch.ID {
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
	settings := ch.Recording.Motion
	bid := snapshot.BroadcastID(s.Stats().Since)
	go func() {
		defer m.wg.Done()
		defer func() {
			m.mu.Lock()
			m.active--
			m.mu.Unlock()
		}()
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(m.ctx, cancel)
		defer stop()
		m.runStream(rctx, ch.ID, bid, settings, s)
	}()
}

func (m *Manager) runStream(ctx context.Context, channelID, bid string, settings channel.Motion, s *hub.Stream) {
	log := m.log.With("channel", channelID, "broadcast", bid)
	log.Info("motion capture started", "percent", settings.Percent, "diff", settings.Diff, "timeout_s", settings.TimeoutSeconds)
	snapshot.Resume(ctx, s, log, "motion capture", func(ctx context.Context, src *snapshot.HubSource) error {
		return Run(ctx, Config{
			ChannelID: channelID, BroadcastID: bid, Settings: settings,
			PreRoll: m.cfg.PreRoll, MaxClip: m.cfg.MaxClip, FFmpeg: m.cfg.FFmpeg, SpoolDir: m.cfg.SpoolDir,
			Blob: m.cfg.Blob, Index: m.cfg.Index, Counters: &m.Counters, OnClip: m.cfg.OnClip, Logger: m.log,
		}, src)
	})
}

// Close stops every stream's capture (finishing clips being recorded) and
// waits for them, or for ctx.
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

var (
	dEvents    = prometheus.NewDesc("livestack_motion_events_total", "Motion that started a clip.", nil, nil)
	dFrames    = prometheus.NewDesc("livestack_motion_frames_total", "Grayscale frames compared by the motion detector.", nil, nil)
	dClips     = prometheus.NewDesc("livestack_motion_clips_total", "Motion clips stored, by result (stored, failed).", []string{"result"}, nil)
	dMRestarts = prometheus.NewDesc("livestack_motion_decoder_restarts_total", "Motion detection ffmpeg processes replaced after dying or stalling.", nil, nil)
	dDrops     = prometheus.NewDesc("livestack_motion_feed_drops_total", "Video packets the motion detector skipped because it fell behind.", nil, nil)
	dMActive   = prometheus.NewDesc("livestack_motion_streams", "Streams watched for motion.", nil, nil)
)

// Describe implements prometheus.Collector.
func (m *Manager) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dEvents, dFrames, dClips, dMRestarts, dDrops, dMActive} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Manager) Collect(ch chan<- prometheus.Metric) {
	c := &m.Counters
	ch <- prometheus.MustNewConstMetric(dEvents, prometheus.CounterValue, float64(c.Events.Load()))
	ch <- prometheus.MustNewConstMetric(dFrames, prometheus.CounterValue, float64(c.Frames.Load()))
	ch <- prometheus.MustNewConstMetric(dClips, prometheus.CounterValue, float64(c.Clips.Load()), "stored")
	ch <- prometheus.MustNewConstMetric(dClips, prometheus.CounterValue, float64(c.ClipsFailed.Load()), "failed")
	ch <- prometheus.MustNewConstMetric(dMRestarts, prometheus.CounterValue, float64(c.Restarts.Load()))
	ch <- prometheus.MustNewConstMetric(dDrops, prometheus.CounterValue, float64(c.FeedDrops.Load()))
	m.mu.Lock()
	defer m.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(dMActive, prometheus.GaugeValue, float64(m.active))
}
