package worker

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livestack/livestack/shared/transcode"
)

// Worker states.
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StateBackoff  = "backoff"
	StateStopped  = "stopped"
)

// Rendition is one output of a running ladder.
type Rendition struct {
	Name    string `json:"name"`
	Key     string `json:"key"`
	Height  int    `json:"height,omitempty"`
	Bitrate int    `json:"bitrate"`
}

// Stats is one worker's state, as /api/v1/streams and /metrics show it.
type Stats struct {
	ChannelID  string             `json:"channelId"`
	State      string             `json:"state"`
	PID        int                `json:"pid,omitempty"`
	Codec      string             `json:"codec"`
	GOPSeconds float64            `json:"gopSeconds"`
	Source     SourceInfo         `json:"source"`
	Renditions []Rendition        `json:"renditions"`
	Progress   transcode.Progress `json:"progress"`
	Restarts   int                `json:"restarts"`
	LastError  string             `json:"lastError,omitempty"`
	StartedAt  time.Time          `json:"startedAt"`
	RunningAt  time.Time          `json:"runningAt,omitzero"`
	Watermark  bool               `json:"watermark"`
}

// Registry holds the stats of the workers running in this process. It is
// safe for concurrent use; the zero value is not: use NewRegistry. It is a
// Prometheus collector (metrics.Source) and an httpapi.StreamStats ("transcode").
type Registry struct {
	mu sync.Mutex
	m  map[string]*Stats
	// restarts survive a worker's end, for counters.
	restarts map[string]int
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{m: map[string]*Stats{}, restarts: map[string]int{}}
}

func (r *Registry) update(id string, fn func(*Stats)) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.m[id]
	if s == nil {
		s = &Stats{ChannelID: id, StartedAt: time.Now()}
		r.m[id] = s
	}
	fn(s)
	r.restarts[id] = s.Restarts
}

func (r *Registry) remove(id string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	delete(r.m, id)
	r.mu.Unlock()
}

// Get returns a copy of the channel's worker stats.
func (r *Registry) Get(channelID string) (Stats, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.m[channelID]
	if !ok {
		return Stats{}, false
	}
	c := *s
	c.Renditions = append([]Rendition(nil), s.Renditions...)
	return c, true
}

// List returns copies of every worker's stats, by channel id.
func (r *Registry) List() []Stats {
	r.mu.Lock()
	ids := make([]string, 0, len(r.m))
	for id := range r.m {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	sort.Strings(ids)
	out := make([]Stats, 0, len(ids))
	for _, id := range ids {
		if s, ok := r.Get(id); ok {
			out = append(out, s)
		}
	}
	return out
}

// Name implements httpapi.StreamStats: the figures appear under "transcode".
func (r *Registry) Name() string { return "transcode" }

// StreamStats implements httpapi.StreamStats for a hub stream key: the
// channel's worker stats, or nil (renditions and channels without a worker).
func (r *Registry) StreamStats(key string) any {
	if s, ok := r.Get(key); ok {
		return s
	}
	return nil
}

func wdesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("livestack_worker_"+name, help, []string{"stream"}, nil)
}

var (
	dUp       = wdesc("ffmpeg_up", "1 while the stream's ffmpeg ladder runs.")
	dFPS      = wdesc("fps", "Frames per second ffmpeg encodes (per rendition).")
	dSpeed    = wdesc("speed", "ffmpeg's realtime factor.")
	dBitrate  = wdesc("bitrate_bits", "Bitrate ffmpeg reports for its output.")
	dDrop     = wdesc("dropped_frames_total", "Frames ffmpeg dropped in the current run.")
	dDup      = wdesc("duplicated_frames_total", "Frames ffmpeg duplicated in the current run.")
	dOutTime  = wdesc("out_time_seconds", "Media time ffmpeg has written in the current run.")
	dRestarts = wdesc("restarts_total", "ffmpeg restarts after a crash.")
	dRends    = wdesc("renditions", "Renditions the ladder produces.")
)

// Describe implements prometheus.Collector.
func (r *Registry) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dUp, dFPS, dSpeed, dBitrate, dDrop, dDup, dOutTime, dRestarts, dRends} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (r *Registry) Collect(ch chan<- prometheus.Metric) {
	g := func(d *prometheus.Desc, v float64, k string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, k)
	}
	c := func(d *prometheus.Desc, v float64, k string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, k)
	}
	live := map[string]bool{}
	for _, s := range r.List() {
		k := s.ChannelID
		live[k] = true
		up := 0.0
		if s.State == StateRunning {
			up = 1
		}
		g(dUp, up, k)
		g(dFPS, s.Progress.FPS, k)
		g(dSpeed, s.Progress.Speed, k)
		g(dBitrate, s.Progress.Bitrate, k)
		c(dDrop, float64(s.Progress.DropFrames), k)
		c(dDup, float64(s.Progress.DupFrames), k)
		g(dOutTime, s.Progress.OutTime.Seconds(), k)
		g(dRends, float64(len(s.Renditions)), k)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, n := range r.restarts {
		c(dRestarts, float64(n), k)
	}
}
