package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livestack/livestack/shared/media/motion"
	"github.com/livestack/livestack/shared/media/snapshot"
)

// stillsMetrics exports the task's snapshot and motion counters under the
// names the standalone's snapshot.Manager and motion.Manager use, so one
// dashboard reads both builds. (The managers' collectors also report their
// hub streams, which a worker has none of, hence this small collector.)
type stillsMetrics struct {
	snap *snapshot.Counters
	mot  *motion.Counters
}

var (
	dSnapTaken    = prometheus.NewDesc("livestack_snapshots_taken_total", "JPG snapshots stored.", nil, nil)
	dSnapFailed   = prometheus.NewDesc("livestack_snapshots_failed_total", "Snapshots that failed, by stage (decode, store, index).", []string{"stage"}, nil)
	dSnapSkipped  = prometheus.NewDesc("livestack_snapshots_skipped_total", "Snapshot ticks skipped because no new keyframe had arrived.", nil, nil)
	dSnapRestarts = prometheus.NewDesc("livestack_snapshot_decoder_restarts_total", "Snapshot ffmpeg processes replaced after failing.", nil, nil)
	dMotEvents    = prometheus.NewDesc("livestack_motion_events_total", "Motion that started a clip.", nil, nil)
	dMotFrames    = prometheus.NewDesc("livestack_motion_frames_total", "Grayscale frames compared by the motion detector.", nil, nil)
	dMotClips     = prometheus.NewDesc("livestack_motion_clips_total", "Motion clips stored, by result (stored, failed).", []string{"result"}, nil)
	dMotRestarts  = prometheus.NewDesc("livestack_motion_decoder_restarts_total", "Motion detection ffmpeg processes replaced after dying or stalling.", nil, nil)
	dMotDrops     = prometheus.NewDesc("livestack_motion_feed_drops_total", "Video packets the motion detector skipped because it fell behind.", nil, nil)
)

// Describe implements prometheus.Collector.
func (m stillsMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dSnapTaken, dSnapFailed, dSnapSkipped, dSnapRestarts, dMotEvents, dMotFrames, dMotClips, dMotRestarts, dMotDrops} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m stillsMetrics) Collect(ch chan<- prometheus.Metric) {
	c := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	s := m.snap
	c(dSnapTaken, s.Taken.Load())
	c(dSnapFailed, s.DecodeFailed.Load(), "decode")
	c(dSnapFailed, s.StoreFailed.Load(), "store")
	c(dSnapFailed, s.IndexFailed.Load(), "index")
	c(dSnapSkipped, s.StaleSkipped.Load())
	c(dSnapRestarts, s.Restarts.Load())
	o := m.mot
	c(dMotEvents, o.Events.Load())
	c(dMotFrames, o.Frames.Load())
	c(dMotClips, o.Clips.Load(), "stored")
	c(dMotClips, o.ClipsFailed.Load(), "failed")
	c(dMotRestarts, o.Restarts.Load())
	c(dMotDrops, o.FeedDrops.Load())
}
