package hls

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	dSegments = prometheus.NewDesc("livestack_packager_segments_total", "Segments completed by the stream's packager.", []string{"stream", "format"}, nil)
	dParts    = prometheus.NewDesc("livestack_packager_parts_total", "LL-HLS partial segments completed by the stream's CMAF packager.", []string{"stream"}, nil)
	dLastDur  = prometheus.NewDesc("livestack_packager_last_segment_seconds", "Duration of the stream's last completed segment.", []string{"stream", "format"}, nil)
	dEdgeAge  = prometheus.NewDesc("livestack_packager_live_edge_age_seconds", "Time since the stream's last segment completed.", []string{"stream", "format"}, nil)
	dBytes    = prometheus.NewDesc("livestack_packager_ts_bytes_total", "MPEG-TS bytes produced for the stream.", []string{"stream"}, nil)
	dPackets  = prometheus.NewDesc("livestack_packager_packets_total", "Hub packets read by all packagers.", nil, nil)
	dStreams  = prometheus.NewDesc("livestack_packager_streams", "Streams being packaged (including ended ones still served).", nil, nil)
	dAllSegs  = prometheus.NewDesc("livestack_packager_ts_segments_all_total", "MPEG-TS segments completed across all streams.", nil, nil)
)

// Describe implements prometheus.Collector (metrics.Source).
func (m *Manager) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dSegments, dParts, dLastDur, dEdgeAge, dBytes, dPackets, dStreams, dAllSegs} {
		ch <- d
	}
}

// Collect implements prometheus.Collector (metrics.Source).
func (m *Manager) Collect(ch chan<- prometheus.Metric) {
	m.mu.RLock()
	entries := make([]*entry, 0, len(m.streams))
	for _, e := range m.streams {
		entries = append(entries, e)
	}
	m.mu.RUnlock()
	now := time.Now()
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	c := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	for _, e := range entries {
		if e.ts != nil {
			c(dSegments, float64(e.ts.segments.Load()), e.key, "ts")
			g(dLastDur, time.Duration(e.ts.lastDur.Load()).Seconds(), e.key, "ts")
			if at := e.ts.lastAt.Load(); at > 0 {
				g(dEdgeAge, now.Sub(time.Unix(0, at)).Seconds(), e.key, "ts")
			}
			c(dBytes, float64(e.ts.bytes.Load()), e.key)
		}
		if e.cmaf != nil {
			segs, parts, last, at := e.cmaf.Stats()
			c(dSegments, float64(segs), e.key, "cmaf")
			c(dParts, float64(parts), e.key)
			g(dLastDur, last.Seconds(), e.key, "cmaf")
			if !at.IsZero() {
				g(dEdgeAge, now.Sub(at).Seconds(), e.key, "cmaf")
			}
		}
	}
	c(dPackets, float64(m.packets.Load()))
	g(dStreams, float64(len(entries)))
	c(dAllSegs, float64(m.segments.Load()))
}
