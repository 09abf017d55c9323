package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGoodput(t *testing.T) {
	tests := []struct {
		name                string
		received, published int64
		want                float64
	}{
		{"all", 10_000_000, 10_000_000, 1},
		{"healthy edge", 9_500_000, 10_000_000, 0.95},
		{"half", 5_000_000, 10_000_000, 0.5},
		{"window edges can exceed 100 %", 10_100_000, 10_000_000, 1.01},
		{"nothing published", 100, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.InDelta(t, tt.want, goodput(tt.received, tt.published), 1e-9)
		})
	}
}

func TestPercentile(t *testing.T) {
	s := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		q    float64
		want float64
	}{{0, 1}, {0.05, 1}, {0.1, 1}, {0.11, 2}, {0.5, 5}, {0.99, 10}, {1, 10}}
	for _, tt := range tests {
		require.Equal(t, tt.want, percentile(s, tt.q), "q=%v", tt.q)
	}
	require.Zero(t, percentile(nil, 0.5))
}

func TestRSSPerViewer(t *testing.T) {
	tests := []struct {
		rss, base uint64
		viewers   int
		want      float64
	}{
		{60_000, 20_000, 1000, 40},
		{20_000, 20_000, 100, 0},
		{19_000, 20_000, 100, -10}, // the heap shrank: reported as is
		{60_000, 20_000, 0, 0},
	}
	for _, tt := range tests {
		require.InDelta(t, tt.want, rssPerViewerKB(tt.rss, tt.base, tt.viewers), 1e-9)
	}
}

// mkViewer is a viewer that played from 1 s, received bytes in a window of
// 2-12 s and saw delays d.
func mkViewer(bytes int64, d ...time.Duration) *viewer {
	v := &viewer{precise: true, start: int64(time.Second) - int64(3*time.Millisecond), firstKey: int64(time.Second), lastTag: int64(12 * time.Second), bytes: bytes}
	for _, x := range d {
		v.delay.Record(x)
		v.lag.Record(x)
	}
	return v
}

func TestSummarize(t *testing.T) {
	const ws, we = int64(2 * time.Second), int64(12 * time.Second)
	const pub = 1_000_000
	ms := time.Millisecond
	ok := func() *viewer { return mkViewer(pub, 5*ms, 6*ms, 7*ms) }
	tests := []struct {
		name    string
		viewers []*viewer
		check   func(t *testing.T, r *stepResult)
	}{
		{"all healthy", []*viewer{ok(), ok()}, func(t *testing.T, r *stepResult) {
			require.True(t, r.StepHealthy)
			require.Equal(t, 2, r.Healthy)
			require.Equal(t, 2, r.Playing)
			require.Equal(t, 100.0, r.GoodputMin)
			require.Equal(t, 7.0, r.Delay.P99)
			require.Equal(t, uint64(6), r.Delay.Samples)
			require.Equal(t, 3.0, r.FirstKeyframe.P50)
			require.Zero(t, r.Stalls)
			require.InDelta(t, 800.0, r.PublishedKbps, 1e-9) // 1 MB in 10 s
		}},
		{"low goodput", []*viewer{ok(), mkViewer(pub*94/100, 5*ms)}, func(t *testing.T, r *stepResult) {
			require.False(t, r.StepHealthy)
			require.Equal(t, 1, r.Healthy)
			require.Equal(t, 94.0, r.GoodputMin)
			require.Equal(t, 97.0, r.GoodputMean)
		}},
		{"late viewer: p99 over 1 s", []*viewer{ok(), mkViewer(pub, 1500*ms, 1500*ms)}, func(t *testing.T, r *stepResult) {
			require.False(t, r.StepHealthy)
			require.Equal(t, 1, r.Healthy)
			require.GreaterOrEqual(t, r.Delay.P99, 1500.0)
		}},
		{"disconnected in the window", []*viewer{ok(), func() *viewer {
			v := ok()
			v.endedAt, v.err = int64(5*time.Second), io.EOF
			return v
		}()}, func(t *testing.T, r *stepResult) {
			require.False(t, r.StepHealthy)
			require.Equal(t, 1, r.Disconnected)
			require.Equal(t, map[string]int{"closed by server": 1}, r.Errors)
		}},
		{"never played", []*viewer{ok(), {err: errStatus{503}, endedAt: int64(time.Second)}}, func(t *testing.T, r *stepResult) {
			require.False(t, r.StepHealthy)
			require.Equal(t, 1, r.Failed)
			require.Equal(t, map[string]int{"http status 503": 1}, r.Errors)
		}},
		{"played only after the window opened", []*viewer{ok(), func() *viewer {
			v := ok()
			v.firstKey = ws + 1
			return v
		}()}, func(t *testing.T, r *stepResult) {
			require.Equal(t, 1, r.Failed)
			require.False(t, r.StepHealthy)
		}},
		{"stalls: counted gaps and a silent tail", []*viewer{ok(), func() *viewer {
			v := ok()
			v.stalls, v.lastTag = 2, int64(10*time.Second)
			return v
		}()}, func(t *testing.T, r *stepResult) {
			require.Equal(t, 3, r.Stalls)
			require.Equal(t, 1, r.Stalled)
		}},
		{"paced viewer judged by its lag", []*viewer{ok(), func() *viewer {
			v := mkViewer(pub)
			v.precise = false
			v.lag.Record(80 * ms)
			return v
		}(), func() *viewer {
			v := mkViewer(pub)
			v.precise = false
			v.lag.Record(1200 * ms)
			return v
		}()}, func(t *testing.T, r *stepResult) {
			require.Equal(t, 2, r.Healthy)
			require.Equal(t, 1, r.DelaySampled)
			require.Equal(t, uint64(3), r.Delay.Samples, "delay only from the sampled viewer")
			require.GreaterOrEqual(t, r.Lag.Max, 1200.0)
		}},
		{"no viewers", nil, func(t *testing.T, r *stepResult) {
			require.True(t, r.StepHealthy)
			require.Zero(t, r.GoodputMin)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, summarize(tt.viewers, time.Duration(we-ws), pub, ws, we))
		})
	}
}

func TestAddUsage(t *testing.T) {
	r := &stepResult{Viewers: 500}
	base := &usageResult{Server: true, ServerCPUPercent: 2, ServerRSSKB: 20_000}
	r.addUsage(usageResult{Server: true, ServerCPUPercent: 12, ServerRSSKB: 45_000, ServerRSSMaxKB: 46_000, HarnessCPUPercent: 30.04}, base)
	require.Equal(t, 12.0, *r.ServerCPUPercent)
	require.Equal(t, 2.4, *r.ServerCPUPer100)
	require.Equal(t, 2.0, *r.ServerCPUPer100Marginal)
	require.Equal(t, 50.0, *r.RSSPerViewerKB)
	require.Equal(t, 30.0, r.HarnessCPUPercent)

	r = &stepResult{Viewers: 500}
	r.addUsage(usageResult{HarnessCPUPercent: 10}, nil)
	require.Nil(t, r.ServerCPUPercent, "no server figures without a server")
}

func TestHighestHealthy(t *testing.T) {
	steps := []*stepResult{{Viewers: 500, StepHealthy: true}, {Viewers: 1000, StepHealthy: true}, {Viewers: 2000}, {Viewers: 3000, StepHealthy: true}}
	require.Equal(t, 3000, highestHealthy(steps))
	require.Equal(t, 0, highestHealthy(steps[2:3]))
}

func TestErrorClass(t *testing.T) {
	require.Equal(t, "", errorClass(nil))
	require.Equal(t, "http status 404", errorClass(errStatus{404}))
	require.Equal(t, "closed by server", errorClass(io.ErrUnexpectedEOF))
	require.Equal(t, "other: boom", errorClass(errors.New("boom")))
}

func TestReportOutput(t *testing.T) {
	const ws, we = int64(2 * time.Second), int64(12 * time.Second)
	s := summarize([]*viewer{mkViewer(1000, time.Millisecond)}, 10*time.Second, 1000, ws, we)
	s.addUsage(usageResult{Server: true, ServerCPUPercent: 3, ServerRSSKB: 30_000}, &usageResult{Server: true, ServerRSSKB: 29_000})
	rep := &report{MergeWindow: "0s", Steps: []*stepResult{s}, HighestHealthy: 1}
	var b bytes.Buffer
	writeTable(&b, rep)
	require.Contains(t, b.String(), "highest healthy viewer count (goodput >= 95 %, p99 < 1 s, no disconnects): 1")
	b.Reset()
	require.NoError(t, writeJSON(&b, rep))
	var back map[string]any
	require.NoError(t, json.Unmarshal(b.Bytes(), &back))
	step := back["steps"].([]any)[0].(map[string]any)
	require.Equal(t, 1000.0, step["serverRssPerViewerKB"])
	require.Equal(t, true, step["healthy"])
}
