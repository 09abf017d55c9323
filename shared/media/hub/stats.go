package hub

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
)

// Stats is a snapshot of one stream, read from the media itself.
type Stats struct {
	Key                string    `json:"key"`
	Live               bool      `json:"live"`
	Since              time.Time `json:"since"`
	PublishedAt        time.Time `json:"publishedAt"`
	Publisher          string    `json:"publisher"`
	Reconnects         int       `json:"reconnects"`
	VideoCodec         string    `json:"videoCodec,omitempty"`
	VideoCodecString   string    `json:"videoCodecString,omitempty"`
	Width              int       `json:"width,omitempty"`
	Height             int       `json:"height,omitempty"`
	FPS                float64   `json:"fps"`
	KeyframeIntervalMS int       `json:"keyframeIntervalMs"`
	AudioCodec         string    `json:"audioCodec,omitempty"`
	AudioCodecString   string    `json:"audioCodecString,omitempty"`
	SampleRate         int       `json:"sampleRate,omitempty"`
	Channels           int       `json:"channels,omitempty"`
	BitrateIn          int64     `json:"bitrateIn"`  // bit/s over the last few seconds
	BitrateOut         int64     `json:"bitrateOut"` // bit/s to all viewers
	BytesIn            int64     `json:"bytesIn"`
	BytesOut           int64     `json:"bytesOut"`
	Viewers            int       `json:"viewers"`
	ViewersPeak        int       `json:"viewersPeak"`
	ViewersTotal       int64     `json:"viewersTotal"`
	SubscribersDropped int64     `json:"subscribersDropped"`
	Skips              int64     `json:"skips"`
	BadPackets         int64     `json:"badPackets"`
	Discontinuities    int64     `json:"discontinuities"`
	UptimeSeconds      float64   `json:"uptimeSeconds"`
	// GOPCacheMS is the media duration held in the GOP cache.
	GOPCacheMS int `json:"gopCacheMs"`
	// RetainedBytes is the media held for subscribers (GOP cache plus lag allowance).
	RetainedBytes int64 `json:"retainedBytes"`
}

// rateWindow is the span bitrates and frame rates are averaged over.
const rateWindow = 5 * time.Second

type sample struct {
	at          time.Time
	in, out     int64
	videoFrames int64
}

// streamStats is updated by the publisher (under the stream lock) and by
// subscribers (atomics only).
type streamStats struct {
	mu           sync.Mutex
	since        time.Time
	publishedAt  time.Time
	remote       string
	reconnects   int
	video        flv.VideoInfo
	avc          flv.AVCConfig
	audioCodec   string
	aac          flv.AACConfig
	keyInterval  uint32
	viewersPeak  int
	viewersTotal int64
	samples      []sample
	videoFrames  int64
	bytesIn      int64

	bytesOut        atomic.Int64
	dropped         atomic.Int64
	skips           atomic.Int64
	badPackets      atomic.Int64
	discontinuities atomic.Int64
}

func (st *streamStats) init(now time.Time) { st.since = now }

func (st *streamStats) publisherAttached(now time.Time, remote string, reconnect bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.publishedAt, st.remote = now, remote
	if reconnect {
		st.reconnects++
	}
}

func (st *streamStats) publisherDetached(time.Time) {}

func (st *streamStats) videoConfig(v flv.VideoInfo) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.video = v
	st.video.Payload = nil
	if v.Codec == "h264" {
		if c, err := flv.ParseAVCConfig(v.Payload); err == nil {
			c.SPS, c.PPS = nil, nil
			st.avc = c
		}
	}
}

func (st *streamStats) audioConfig(a flv.AudioInfo) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.audioCodec = a.Codec
	if a.Codec == "aac" {
		if c, err := flv.ParseAACConfig(a.Payload); err == nil {
			st.aac = c
		}
	}
}

func (st *streamStats) noteAudioCodec(codec string) {
	st.mu.Lock()
	if st.audioCodec == "" {
		st.audioCodec = codec
	}
	st.mu.Unlock()
}

func (st *streamStats) keyframe(t, prev uint32) {
	st.mu.Lock()
	st.keyInterval = t - prev
	st.mu.Unlock()
}

func (st *streamStats) viewerJoined() {
	st.mu.Lock()
	st.viewersTotal++
	st.mu.Unlock()
}

// media counts one media packet; it keeps one sample per second for rates.
func (st *streamStats) media(p *Packet, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.bytesIn += int64(p.Size())
	if p.Type == flv.TagVideo {
		st.videoFrames++
	}
	if n := len(st.samples); n == 0 || now.Sub(st.samples[n-1].at) >= time.Second {
		st.samples = append(st.samples, sample{at: now, in: st.bytesIn, out: st.bytesOut.Load(), videoFrames: st.videoFrames})
		cut := 0
		for cut < len(st.samples)-1 && now.Sub(st.samples[cut].at) > rateWindow {
			cut++
		}
		st.samples = append(st.samples[:0], st.samples[cut:]...)
	}
}

// Stats returns a snapshot of the stream.
func (s *Stream) Stats() Stats {
	now := s.hub.cfg.now()
	s.mu.RLock()
	out := Stats{
		Key:     s.key,
		Live:    s.publisher != nil,
		Viewers: s.subs,
	}
	if s.hasGOP && s.gop >= s.base {
		out.GOPCacheMS = int(s.lastTime - s.pkts[s.gop-s.base].Time)
	}
	if len(s.pkts) > 0 {
		out.RetainedBytes = s.bytes - s.pkts[0].offset
	}
	s.mu.RUnlock()

	st := &s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	if out.Viewers > st.viewersPeak {
		st.viewersPeak = out.Viewers
	}
	out.Since, out.PublishedAt, out.Publisher, out.Reconnects = st.since, st.publishedAt, st.remote, st.reconnects
	out.VideoCodec = st.video.Codec
	out.VideoCodecString = st.avc.CodecString
	out.Width, out.Height = st.avc.Width, st.avc.Height
	out.KeyframeIntervalMS = int(st.keyInterval)
	out.AudioCodec = st.audioCodec
	out.AudioCodecString = st.aac.CodecString
	out.SampleRate, out.Channels = st.aac.SampleRate, st.aac.Channels
	out.BytesIn, out.BytesOut = st.bytesIn, st.bytesOut.Load()
	out.ViewersPeak, out.ViewersTotal = st.viewersPeak, st.viewersTotal
	out.SubscribersDropped, out.Skips = st.dropped.Load(), st.skips.Load()
	out.BadPackets, out.Discontinuities = st.badPackets.Load(), st.discontinuities.Load()
	out.UptimeSeconds = now.Sub(st.since).Seconds()
	if n := len(st.samples); n > 0 {
		first := st.samples[0]
		if d := now.Sub(first.at).Seconds(); d >= 0.5 {
			out.BitrateIn = int64(float64(st.bytesIn-first.in) * 8 / d)
			out.BitrateOut = int64(float64(out.BytesOut-first.out) * 8 / d)
			out.FPS = float64(st.videoFrames-first.videoFrames) / d
		}
	}
	if out.FPS == 0 && st.avc.FPS > 0 {
		out.FPS = st.avc.FPS
	}
	return out
}
