// Package metrics exposes livestack's state as Prometheus metrics, read at
// scrape time from the hub, the servers' counters and any other Source: nothing
// on the media path updates a Prometheus object.
package metrics

import (
	"net/http"
	"regexp"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/playback"
	"github.com/livestack/livestack/shared/relay"
	"github.com/livestack/livestack/shared/rtmpserver"
)

// Source adds metrics at scrape time.
type Source interface {
	Describe(ch chan<- *prometheus.Desc)
	Collect(ch chan<- prometheus.Metric)
}

// Handler serves /metrics for the given sources plus Go runtime and process
// metrics. Besides the default Go series it exports the runtime's scheduler
// and GC metrics and its CPU classes: go_sched_latencies_seconds (how long
// runnable goroutines waited for a CPU: a publisher's reads wait there when
// the server is short of CPU), go_gc_* (heap live, cycles) and
// go_cpu_classes_*_cpu_seconds_total (the GC's share of the CPU).
func Handler(sources ...Source) http.Handler {
	reg := prometheus.NewRegistry()
	goc := collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.MetricsScheduler, collectors.MetricsGC,
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/`)},
	))
	reg.MustRegister(goc, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, s := range sources {
		reg.MustRegister(s)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("livestack_"+name, help, labels, nil)
}

// HubSource reports per-stream and hub-wide figures.
type HubSource struct{ Hub *hub.Hub }

var (
	dStreams      = desc("streams", "Streams in the hub (live or in their reconnect window).")
	dPublishers   = desc("publishers", "Streams with a publisher attached.")
	dViewers      = desc("viewers", "Viewers across all streams.")
	dPublishes    = desc("publishes_total", "Publish sessions accepted.")
	dReconnects   = desc("publisher_reconnects_total", "Publishes that continued a stream within its reconnect window.")
	dDropped      = desc("subscribers_dropped_total", "Subscribers dropped for falling behind.")
	dSkips        = desc("subscriber_skips_total", "Times a lagging subscriber skipped to the latest keyframe.")
	dSBitrateIn   = desc("stream_bitrate_in_bits", "Ingest bitrate of the stream over the last seconds.", "stream")
	dSBitrateOut  = desc("stream_bitrate_out_bits", "Bitrate sent to the stream's viewers over the last seconds.", "stream")
	dSBytesIn     = desc("stream_bytes_in_total", "Media bytes received for the stream.", "stream")
	dSBytesOut    = desc("stream_bytes_out_total", "Bytes sent to the stream's viewers.", "stream")
	dSViewers     = desc("stream_viewers", "Viewers of the stream.", "stream")
	dSFPS         = desc("stream_fps", "Video frame rate measured from the stream.", "stream")
	dSKeyint      = desc("stream_keyframe_interval_seconds", "Interval between the last two keyframes.", "stream")
	dSUptime      = desc("stream_uptime_seconds", "Time since the stream was first published.", "stream")
	dSLive        = desc("stream_live", "1 while a publisher is attached, 0 in the reconnect window.", "stream")
	dSDropped     = desc("stream_subscribers_dropped_total", "Subscribers of the stream dropped for falling behind.", "stream")
	dSReconnects  = desc("stream_reconnects_total", "Publisher reconnects of the stream.", "stream")
	dSBadPackets  = desc("stream_bad_packets_total", "Malformed media messages dropped.", "stream")
	dSGOPCache    = desc("stream_gop_cache_seconds", "Media duration held in the GOP cache.", "stream")
	dSResolutionW = desc("stream_video_width", "Video width from the sequence header.", "stream")
	dSResolutionH = desc("stream_video_height", "Video height from the sequence header.", "stream")
)

// Describe implements prometheus.Collector.
func (s HubSource) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dStreams, dPublishers, dViewers, dPublishes, dReconnects, dDropped, dSkips,
		dSBitrateIn, dSBitrateOut, dSBytesIn, dSBytesOut, dSViewers, dSFPS, dSKeyint, dSUptime, dSLive, dSDropped,
		dSReconnects, dSBadPackets, dSGOPCache, dSResolutionW, dSResolutionH} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s HubSource) Collect(ch chan<- prometheus.Metric) {
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	c := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	streams := s.Hub.Streams()
	live, viewers := 0, 0
	for _, st := range streams {
		x := st.Stats()
		k := x.Key
		if x.Live {
			live++
		}
		viewers += x.Viewers
		g(dSBitrateIn, float64(x.BitrateIn), k)
		g(dSBitrateOut, float64(x.BitrateOut), k)
		c(dSBytesIn, float64(x.BytesIn), k)
		c(dSBytesOut, float64(x.BytesOut), k)
		g(dSViewers, float64(x.Viewers), k)
		g(dSFPS, x.FPS, k)
		g(dSKeyint, float64(x.KeyframeIntervalMS)/1000, k)
		g(dSUptime, x.UptimeSeconds, k)
		g(dSLive, b2f(x.Live), k)
		c(dSDropped, float64(x.SubscribersDropped), k)
		c(dSReconnects, float64(x.Reconnects), k)
		c(dSBadPackets, float64(x.BadPackets), k)
		g(dSGOPCache, float64(x.GOPCacheMS)/1000, k)
		g(dSResolutionW, float64(x.Width), k)
		g(dSResolutionH, float64(x.Height), k)
	}
	t := s.Hub.Totals()
	g(dStreams, float64(len(streams)))
	g(dPublishers, float64(live))
	g(dViewers, float64(viewers))
	c(dPublishes, float64(t.Publishes))
	c(dReconnects, float64(t.Reconnects))
	c(dDropped, float64(t.SubscribersDropped))
	c(dSkips, float64(t.SubscriberSkips))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// RTMPSource reports the RTMP server's counters.
type RTMPSource struct{ Server *rtmpserver.Server }

var (
	dRTMPActive   = desc("rtmp_connections", "Open RTMP connections.")
	dRTMPAccepted = desc("rtmp_connections_accepted_total", "RTMP connections accepted.")
	dRTMPRejected = desc("rtmp_connections_rejected_total", "RTMP connections refused at the connection limit.")
	dRTMPPubs     = desc("rtmp_publishers", "RTMP publishers.")
	dRTMPPlayers  = desc("rtmp_players", "RTMP players.")
	dRTMPRefused  = desc("publish_refused_total", "Publishes refused, by reason.", "reason")
	dRTMPTimeout  = desc("rtmp_handshake_timeouts_total", "Connections dropped for not publishing or playing in time.")
	dRTMPIdle     = desc("rtmp_idle_drops_total", "Publishers dropped for sending no media for the idle timeout.")
	dRTMPSlowRead = desc("rtmp_slow_reads_total", "Publishers the server did not read for the idle timeout while their media waited in the socket (the server was behind; they were kept).")
)

// Refusal reasons reported as labels (fixed, so the series exist from the start):
// every ingest.Reason* (metrics_test.go checks none is missing).
var refusalReasons = []string{ingest.ReasonUnsigned, ingest.ReasonMalformed, ingest.ReasonSignExpired,
	ingest.ReasonBadSignature, ingest.ReasonUnknownChannel, ingest.ReasonDisabled, ingest.ReasonChannelExpired,
	ingest.ReasonAlreadyLive, ingest.ReasonInvalidChannel, ingest.ReasonUnavailable, ingest.ReasonTooManyStreams,
	ingest.ReasonOutputsDisabled, ingest.ReasonSourceOffline}

// Describe implements prometheus.Collector.
func (s RTMPSource) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dRTMPActive, dRTMPAccepted, dRTMPRejected, dRTMPPubs, dRTMPPlayers, dRTMPRefused, dRTMPTimeout, dRTMPIdle, dRTMPSlowRead} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s RTMPSource) Collect(ch chan<- prometheus.Metric) {
	c := &s.Server.Counters
	ch <- prometheus.MustNewConstMetric(dRTMPActive, prometheus.GaugeValue, float64(c.Active.Load()))
	ch <- prometheus.MustNewConstMetric(dRTMPAccepted, prometheus.CounterValue, float64(c.Accepted.Load()))
	ch <- prometheus.MustNewConstMetric(dRTMPRejected, prometheus.CounterValue, float64(c.Rejected.Load()))
	ch <- prometheus.MustNewConstMetric(dRTMPPubs, prometheus.GaugeValue, float64(c.Publishers.Load()))
	ch <- prometheus.MustNewConstMetric(dRTMPPlayers, prometheus.GaugeValue, float64(c.Players.Load()))
	ch <- prometheus.MustNewConstMetric(dRTMPTimeout, prometheus.CounterValue, float64(c.HandshakeClosed.Load()))
	ch <- prometheus.MustNewConstMetric(dRTMPIdle, prometheus.CounterValue, float64(c.IdleDrops.Load()))
	ch <- prometheus.MustNewConstMetric(dRTMPSlowRead, prometheus.CounterValue, float64(c.SlowReads.Load()))
	for _, r := range refusalReasons {
		ch <- prometheus.MustNewConstMetric(dRTMPRefused, prometheus.CounterValue, float64(c.RefusedCount(r)), r)
	}
}

// PlaybackSource reports the playback server's counters.
type PlaybackSource struct{ Server *playback.Server }

var (
	dFLVViewers  = desc("flv_viewers", "HTTP-FLV viewers connected.")
	dFLVSessions = desc("flv_sessions_total", "HTTP-FLV sessions started.")
	dFLVBytes    = desc("flv_bytes_total", "Bytes sent to HTTP-FLV viewers that have left.")
	dFLVErrors   = desc("flv_write_errors_total", "HTTP-FLV sessions ended by a write error.")
	dFLVTooSlow  = desc("flv_viewers_too_slow_total", "HTTP-FLV viewers dropped for falling behind.")
)

// Describe implements prometheus.Collector.
func (s PlaybackSource) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dFLVViewers, dFLVSessions, dFLVBytes, dFLVErrors, dFLVTooSlow} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s PlaybackSource) Collect(ch chan<- prometheus.Metric) {
	c := &s.Server.Counters
	ch <- prometheus.MustNewConstMetric(dFLVViewers, prometheus.GaugeValue, float64(c.FLVViewers.Load()))
	ch <- prometheus.MustNewConstMetric(dFLVSessions, prometheus.CounterValue, float64(c.FLVSessions.Load()))
	ch <- prometheus.MustNewConstMetric(dFLVBytes, prometheus.CounterValue, float64(c.FLVBytes.Load()))
	ch <- prometheus.MustNewConstMetric(dFLVErrors, prometheus.CounterValue, float64(c.FLVWriteErrors.Load()))
	ch <- prometheus.MustNewConstMetric(dFLVTooSlow, prometheus.CounterValue, float64(c.FLVTooSlow.Load()))
}

// RelaySource reports the relays' figures.
type RelaySource struct{ Manager *relay.Manager }

var (
	dRelays          = desc("relays", "Relay targets of current streams.")
	dRelaysLive      = desc("relays_live", "Relay targets publishing now.")
	dRelayReconnects = desc("relay_reconnects_total", "Relay connection attempts after a failure.")
	dRelayBytes      = desc("relay_bytes_total", "Media bytes sent to relay targets.")
)

// Describe implements prometheus.Collector.
func (s RelaySource) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dRelays, dRelaysLive, dRelayReconnects, dRelayBytes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s RelaySource) Collect(ch chan<- prometheus.Metric) {
	t := s.Manager.Totals()
	ch <- prometheus.MustNewConstMetric(dRelays, prometheus.GaugeValue, float64(t.Relays))
	ch <- prometheus.MustNewConstMetric(dRelaysLive, prometheus.GaugeValue, float64(t.Live))
	ch <- prometheus.MustNewConstMetric(dRelayReconnects, prometheus.CounterValue, float64(t.Reconnects))
	ch <- prometheus.MustNewConstMetric(dRelayBytes, prometheus.CounterValue, float64(t.Bytes))
}
