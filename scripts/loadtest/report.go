package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Health thresholds of a viewer.
const (
	healthyGoodput = 0.95
	healthyP99     = time.Second
)

// report is the whole run, as printed and as JSON.
type report struct {
	Command     string        `json:"command"`
	Input       inputInfo     `json:"input"`
	MergeWindow string        `json:"mergeWindow"`
	Baseline    *baselineInfo `json:"baseline,omitempty"`
	// QuietFirstKeyframe: one viewer at a time on a server with no other viewers.
	QuietFirstKeyframe *latency      `json:"quietFirstKeyframeMs,omitempty"`
	Steps              []*stepResult `json:"steps"`
	HighestHealthy     int           `json:"highestHealthyViewers"`
	Publisher          publisherInfo `json:"publisher"`
	Error              string        `json:"error,omitempty"`
}

type inputInfo struct {
	File        string  `json:"file"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	FPS         float64 `json:"fps"`
	BitrateKbps float64 `json:"flvBitrateKbps"`
	LoopSeconds float64 `json:"loopSeconds"`
}

type baselineInfo struct {
	ServerCPUPercent  float64 `json:"serverCpuPercent"`
	ServerRSSMB       float64 `json:"serverRssMB"`
	HarnessCPUPercent float64 `json:"harnessCpuPercent"` // the publisher's share of the harness
}

type publisherInfo struct {
	Frames     int64 `json:"videoFrames"`
	LateFrames int64 `json:"lateFrames"`
}

// latency is a distribution in milliseconds.
type latency struct {
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
	Mean    float64 `json:"mean"`
	Samples uint64  `json:"samples"`
}

func latencyOf(h *histogram) latency {
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	return latency{P50: ms(h.Quantile(0.50)), P90: ms(h.Quantile(0.90)), P99: ms(h.Quantile(0.99)),
		Max: ms(h.Max()), Mean: ms(h.Mean()), Samples: h.Count()}
}

// stepResult is one step: n viewers measured over one window.
type stepResult struct {
	Viewers       int     `json:"viewers"`
	Playing       int     `json:"playing"`      // played before the window and stayed to its end
	Failed        int     `json:"failed"`       // never reached a keyframe
	Disconnected  int     `json:"disconnected"` // played, then lost the connection before the window ended
	Healthy       int     `json:"healthyViewers"`
	StepHealthy   bool    `json:"healthy"`
	WindowSeconds float64 `json:"windowSeconds"`
	PublishedKbps float64 `json:"publishedKbps"`

	// goodput: FLV bytes a viewer received in the window over those published, %
	GoodputMin  float64 `json:"goodputMinPercent"`
	GoodputP5   float64 `json:"goodputP5Percent"`
	GoodputMean float64 `json:"goodputMeanPercent"`

	Delay         latency `json:"delayMs"` // publisher send to viewer receive, every video frame of the sampled viewers
	DelaySampled  int     `json:"delaySampledViewers"`
	Lag           latency `json:"lagMs"` // the same for the newest video frame of each read, all viewers
	Unmatched     int64   `json:"unmatchedFrames"`
	FirstKeyframe latency `json:"firstKeyframeMs"` // request start to the first keyframe
	Stalls        int     `json:"stalls"`
	Stalled       int     `json:"stalledViewers"`

	ServerCPUPercent        *float64 `json:"serverCpuPercent,omitempty"`
	ServerCPUPer100         *float64 `json:"serverCpuPer100Viewers,omitempty"`
	ServerCPUPer100Marginal *float64 `json:"serverCpuPer100ViewersOverBaseline,omitempty"`
	ServerRSSMB             *float64 `json:"serverRssMB,omitempty"`
	ServerRSSMaxMB          *float64 `json:"serverRssMaxMB,omitempty"`
	RSSPerViewerKB          *float64 `json:"serverRssPerViewerKB,omitempty"`
	ServerThreads           int      `json:"serverThreads,omitempty"`
	HarnessCPUPercent       float64  `json:"harnessCpuPercent"`
	HarnessRSSMB            float64  `json:"harnessRssMB"`
	MachineBusyPercent      float64  `json:"machineBusyPercent"` // of all cores
	OtherCPUPercent         float64  `json:"otherProcessesCpuPercent"`

	// PublisherLate counts video frames the publisher sent over 100 ms late
	// in the window: the machine could not keep the publisher on time.
	PublisherLate  int64           `json:"publisherLateFrames"`
	ServerCounters *serverCounters `json:"serverCounters,omitempty"`
	Errors         map[string]int  `json:"errors,omitempty"`
}

// goodput is the share of the published bytes a viewer received.
func goodput(received, published int64) float64 {
	if published <= 0 {
		return 0
	}
	return float64(received) / float64(published)
}

// percentile returns the nearest-rank q-quantile of sorted values.
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// summarize turns the viewers of a step into its result. ws and we bound the
// window in nanotime; the viewers have stopped.
func summarize(viewers []*viewer, win time.Duration, pubBytes int64, ws, we int64) *stepResult {
	r := &stepResult{Viewers: len(viewers), WindowSeconds: math.Round(win.Seconds()*100) / 100, Errors: map[string]int{}}
	if win > 0 {
		r.PublishedKbps = math.Round(float64(pubBytes) * 8 / win.Seconds() / 1e3)
	}
	var delay, lag, ttfk histogram
	var goodputs []float64
	for _, v := range viewers {
		if v.firstKey != 0 {
			ttfk.Record(time.Duration(v.firstKey - v.start))
		}
		ended := v.endedAt != 0 && v.endedAt < we
		switch {
		case v.firstKey == 0 || v.firstKey >= ws:
			r.Failed++
		case ended:
			r.Disconnected++
		default:
			r.Playing++
		}
		if c := errorClass(v.err); c != "" {
			r.Errors[c]++
		}
		stalls := v.stalls
		if !ended && v.firstKey != 0 && we-max(v.lastTag, ws) > int64(stallGap) {
			stalls++ // silent until the window closed
		}
		r.Stalls += stalls
		if stalls > 0 {
			r.Stalled++
		}
		delay.Merge(&v.delay)
		lag.Merge(&v.lag)
		if v.precise {
			r.DelaySampled++
		}
		r.Unmatched += v.unmatched
		g := goodput(v.bytes, pubBytes)
		goodputs = append(goodputs, g)
		if healthyViewer(v, g, ws, we) {
			r.Healthy++
		}
	}
	slices.Sort(goodputs)
	if len(goodputs) > 0 {
		r.GoodputMin = pct(goodputs[0])
		r.GoodputP5 = pct(percentile(goodputs, 0.05))
		var sum float64
		for _, g := range goodputs {
			sum += g
		}
		r.GoodputMean = pct(sum / float64(len(goodputs)))
	}
	r.Delay = latencyOf(&delay)
	r.Lag = latencyOf(&lag)
	r.FirstKeyframe = latencyOf(&ttfk)
	r.StepHealthy = r.Healthy == r.Viewers && (delay.Count() > 0 || r.Viewers == 0) && delay.Quantile(0.99) < healthyP99
	if len(r.Errors) == 0 {
		r.Errors = nil
	}
	return r
}

// healthyViewer: playing through the window, goodput ≥ 95 %, p99 delay < 1 s
// (for a paced viewer, p99 of the lag of the newest frame of each read,
// which its pacing only makes larger).
func healthyViewer(v *viewer, goodput float64, ws, we int64) bool {
	if v.firstKey == 0 || v.firstKey >= ws || (v.endedAt != 0 && v.endedAt < we) {
		return false
	}
	h := &v.lag
	if v.precise {
		h = &v.delay
	}
	return goodput >= healthyGoodput && h.Count() > 0 && h.Quantile(0.99) < healthyP99
}

func pct(f float64) float64 { return math.Round(f*1000) / 10 }

func ptr(f float64) *float64 { f = math.Round(f*100) / 100; return &f }

// addUsage fills the server and harness figures; per-viewer figures need a
// baseline at 0 viewers.
func (r *stepResult) addUsage(u usageResult, base *usageResult) {
	r.HarnessCPUPercent = math.Round(u.HarnessCPUPercent*10) / 10
	r.HarnessRSSMB = math.Round(u.HarnessRSSMB)
	r.MachineBusyPercent = math.Round(u.MachineBusyPercent*10) / 10
	r.OtherCPUPercent = math.Round(max(u.OtherCPUPercent, 0)*10) / 10
	if !u.Server {
		return
	}
	r.ServerCPUPercent = ptr(u.ServerCPUPercent)
	r.ServerRSSMB = ptr(float64(u.ServerRSSKB) / 1024)
	r.ServerRSSMaxMB = ptr(float64(u.ServerRSSMaxKB) / 1024)
	r.ServerThreads = u.ServerThreads
	if r.Viewers > 0 {
		r.ServerCPUPer100 = ptr(u.ServerCPUPercent / float64(r.Viewers) * 100)
		if base != nil && base.Server {
			r.ServerCPUPer100Marginal = ptr((u.ServerCPUPercent - base.ServerCPUPercent) / float64(r.Viewers) * 100)
			r.RSSPerViewerKB = ptr(rssPerViewerKB(u.ServerRSSKB, base.ServerRSSKB, r.Viewers))
		}
	}
}

// rssPerViewerKB is the RSS growth over the 0-viewer baseline per viewer.
func rssPerViewerKB(rssKB, baseKB uint64, viewers int) float64 {
	if viewers <= 0 {
		return 0
	}
	return (float64(rssKB) - float64(baseKB)) / float64(viewers)
}

// highestHealthy is the largest viewer count among healthy steps.
func highestHealthy(steps []*stepResult) int {
	best := 0
	for _, s := range steps {
		if s.StepHealthy && s.Viewers > best {
			best = s.Viewers
		}
	}
	return best
}

func writeJSON(w io.Writer, r *report) error { return writeJSONAny(w, r) }

// writeJSONAny prints any report as indented JSON.
func writeJSONAny(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeTable prints the report for people.
func writeTable(w io.Writer, r *report) {
	fmt.Fprintf(w, "input    %s: %dx%d %.0f fps, %.0f kbit/s FLV, %.0f s loop\n",
		r.Input.File, r.Input.Width, r.Input.Height, r.Input.FPS, r.Input.BitrateKbps, r.Input.LoopSeconds)
	fmt.Fprintf(w, "merge    %s\n", r.MergeWindow)
	if b := r.Baseline; b != nil {
		fmt.Fprintf(w, "baseline server %.1f %% CPU, %.1f MB RSS with the publisher alone (harness %.1f %% CPU)\n", b.ServerCPUPercent, b.ServerRSSMB, b.HarnessCPUPercent)
	}
	if q := r.QuietFirstKeyframe; q != nil {
		fmt.Fprintf(w, "first keyframe, one viewer at a time: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d probes)\n", q.P50, q.P99, q.Max, q.Samples)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "viewers\tplaying\tfail\tdisc\tp50 ms\tp90 ms\tp99 ms\tmax ms\tttfk p50\tttfk p99\tgoodput min\tmean\tstalls\tsrv CPU%\t/100\t/100 net\tRSS MB\tKB/viewer\tharness CPU%\tothers CPU%\thealthy\t")
	opt := func(p *float64, f string) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf(f, *p)
	}
	for _, s := range r.Steps {
		h := "no"
		if s.StepHealthy {
			h = "yes"
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.0f\t%.1f\t%.1f\t%.1f%%\t%.1f%%\t%d\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t%s\t\n",
			s.Viewers, s.Playing, s.Failed, s.Disconnected,
			s.Delay.P50, s.Delay.P90, s.Delay.P99, s.Delay.Max, s.FirstKeyframe.P50, s.FirstKeyframe.P99,
			s.GoodputMin, s.GoodputMean, s.Stalls,
			opt(s.ServerCPUPercent, "%.1f"), opt(s.ServerCPUPer100, "%.2f"), opt(s.ServerCPUPer100Marginal, "%.2f"),
			opt(s.ServerRSSMB, "%.1f"), opt(s.RSSPerViewerKB, "%.1f"),
			s.HarnessCPUPercent, s.OtherCPUPercent, h)
	}
	tw.Flush()
	for _, s := range r.Steps {
		var notes []string
		if len(s.Errors) > 0 {
			keys := make([]string, 0, len(s.Errors))
			for k := range s.Errors {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				notes = append(notes, fmt.Sprintf("%s ×%d", k, s.Errors[k]))
			}
		}
		if s.Unmatched > 0 {
			notes = append(notes, fmt.Sprintf("%d frames with timestamps the publisher did not send (stream still in a reconnect window?)", s.Unmatched))
		}
		if c := s.ServerCounters; c != nil && c.Skips+c.Dropped+c.TooSlow+c.WriteErrors > 0 {
			notes = append(notes, fmt.Sprintf("server: %.0f keyframe skips, %.0f dropped, %.0f too slow, %.0f write errors", c.Skips, c.Dropped, c.TooSlow, c.WriteErrors))
		}
		if s.PublisherLate > 0 {
			notes = append(notes, fmt.Sprintf("the publisher sent %d frames over 100 ms late", s.PublisherLate))
		}
		if s.OtherCPUPercent > 20 {
			notes = append(notes, fmt.Sprintf("other processes used %.0f %% of a core during the window (%.0f %% of the machine busy): figures include their contention", s.OtherCPUPercent, s.MachineBusyPercent))
		}
		if len(notes) > 0 {
			fmt.Fprintf(w, "%d viewers: %s\n", s.Viewers, strings.Join(notes, "; "))
		}
	}
	fmt.Fprintf(w, "\nhighest healthy viewer count (goodput >= 95 %%, p99 < 1 s, no disconnects): %d\n", r.HighestHealthy)
	if r.Publisher.LateFrames > 0 {
		fmt.Fprintf(w, "publisher: %d of %d video frames sent over 100 ms late (the machine is saturated)\n", r.Publisher.LateFrames, r.Publisher.Frames)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "error: %s\n", r.Error)
	}
}
