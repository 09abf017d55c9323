// Package cmaf packages a live hub stream as fragmented MP4 (CMAF) and serves it
// as Low-Latency HLS (partial segments, preload hints, blocking playlist reload)
// or, in CDN mode, as plain fMP4 HLS, plus a dynamic DASH manifest over the same
// segments.
//
// The fMP4 boxes come from mediacommon (fmp4.Init, fmp4.Part). The segmenter and
// the playlists are our own: gohlslib's Muxer owns its clock, its HTTP handler and
// its segment storage, and takes decoded access units on its own timeline, while
// here the hub's packets already carry the timeline (continuous across publisher
// reconnects), segments are kept as shared immutable byte slices next to the MPEG-TS
// ones, and the same segments must also be addressable from a DASH manifest.
package cmaf

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hls/frame"
	"github.com/livestack/livestack/shared/media/hub"
)

// Config of the CMAF packager. Zero values take the documented defaults.
type Config struct {
	// PartDuration is the LL-HLS part target asked for. Default 200 ms. Parts
	// hold whole frames, so the advertised PART-TARGET is the whole number of
	// the leading track's frames closest to it (learned from the first frames),
	// for example 204 ms (6 frames) at 29.97 fps; see partTargetFor.
	PartDuration time.Duration
	// SegmentDuration is the segment target (cut on the next keyframe). Default 2 s.
	SegmentDuration time.Duration
	// ListSize is the number of segments in the playlist and the DASH timeline. Default 6.
	ListSize int
	// CDN selects the CDN-cacheable mode: whole segments only, no parts, no blocking
	// reload (see docs/hls.md). Default false (LL-HLS).
	CDN bool
	// BlockTimeout bounds a blocking playlist reload or preload-hint request.
	// Default 3 segment targets.
	BlockTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

const (
	videoTrackID = 1
	audioTrackID = 2
	videoScale   = 90000
)

// part is one finished partial segment.
type part struct {
	data        []byte
	duration    time.Duration
	independent bool
}

// segment is a finished (or, while open, growing) segment.
type segment struct {
	msn      uint64
	start    int64 // ms
	duration time.Duration
	pdt      time.Time
	parts    []part
	data     []byte // concatenated parts; set when the segment completes
	disc     bool
	initGen  int
}

// Packager packages one stream. WritePacket is called from one goroutine; the
// HTTP side reads immutable snapshots.
type Packager struct {
	cfg   Config
	key   string
	token string
	log   *slog.Logger

	// writer-side state (packager goroutine only)
	tracks        frame.Tracks
	initGen       int
	haveInit      bool
	cur           *segment
	partStart     int64 // ms DTS of the open part's first leading sample
	partDur       int64 // ms covered by the open part's leading video samples
	lastDur       int64
	partTarget    int64 // ms, the advertised PART-TARGET; 0 until chosen
	learn         learner
	pend          frame.Frame // pending leading video sample (duration unknown)
	hasPend       bool
	video         []fmp4.Sample
	audio         []fmp4.Sample
	videoBase     int64 // ms DTS of the part's first video sample
	audioBase     int64 // audio ticks of the part's first audio sample
	audioNext     int64 // expected ticks of the next audio sample
	audioSynced   bool
	vptrs, aptrs  []*fmp4.Sample
	mfhd          uint32
	seq           uint64
	disc, cut     bool
	anchor        time.Time
	started       bool
	firstAudio    int64
	seenAudio     bool
	done          []*segment // completed, oldest first
	discSeq       uint64
	maxBitrate    int64
	targetSeconds int

	mu   sync.Mutex
	snap atomic.Pointer[snapshot]

	segments atomic.Int64
	parts    atomic.Int64
	lastSeg  atomic.Int64 // ns
	lastAt   atomic.Int64 // unix ns
}

// New returns a packager for the hub stream key; token makes file names unique
// across broadcasts of the same key.
func New(key, token string, cfg Config) *Packager {
	if cfg.PartDuration <= 0 {
		cfg.PartDuration = 200 * time.Millisecond
	}
	if cfg.SegmentDuration <= 0 {
		cfg.SegmentDuration = 2 * time.Second
	}
	if cfg.ListSize <= 0 {
		cfg.ListSize = 6
	}
	if cfg.BlockTimeout <= 0 {
		cfg.BlockTimeout = 3 * cfg.SegmentDuration
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PartDuration > cfg.SegmentDuration {
		cfg.PartDuration = cfg.SegmentDuration
	}
	p := &Packager{cfg: cfg, key: key, token: token, log: cfg.Logger,
		targetSeconds: int((cfg.SegmentDuration + time.Second - 1) / time.Second)}
	p.snap.Store(&snapshot{next: make(chan struct{}), token: token, cfg: &p.cfg, targetDur: p.targetSeconds})
	return p
}

// ContinueFrom makes the first segment's media sequence number seq, after a
// discontinuity (a new broadcast of a key packaged before). Call it before the
// first packet.
func (p *Packager) ContinueFrom(seq uint64) {
	if seq > 0 {
		p.seq = seq
		p.disc = true
	}
}

// NextSeq is the media sequence number the next segment gets (valid once the
// packager's goroutine is done with it).
func (p *Packager) NextSeq() uint64 { return p.seq }

// Discontinuity starts a new segment, marked discontinuous, at the next sync point.
func (p *Packager) Discontinuity() { p.disc, p.cut = true, true }

// WritePacket feeds one hub packet.
func (p *Packager) WritePacket(pkt *hub.Packet) { p.WriteTag(pkt.Type, pkt.Time, pkt.Data()) }

// WriteTag feeds one FLV tag (type, hub timestamp in ms, payload).
func (p *Packager) WriteTag(typ flv.TagType, ts uint32, data []byte) {
	f, changed, err := p.tracks.HandleTag(typ, ts, data)
	if err != nil {
		return
	}
	if changed {
		if p.cur != nil || p.seq > 0 {
			p.disc, p.cut = true, true
		}
		return
	}
	if f.Kind != frame.None {
		p.WriteFrame(&f)
	}
}

// Tracks returns the codec configuration (for tests feeding frames directly).
func (p *Packager) Tracks() *frame.Tracks { return &p.tracks }

// WriteFrame feeds one frame.
func (p *Packager) WriteFrame(f *frame.Frame) {
	video := p.tracks.HasVideo()
	if f.Kind == frame.Audio && !video && p.cur == nil {
		if !p.seenAudio {
			p.seenAudio, p.firstAudio = true, f.DTS
		}
		if f.DTS-p.firstAudio < 1000 {
			return
		}
	}
	leading := (f.Kind == frame.Video) == video
	if !leading {
		if p.cur != nil && p.tracks.HasAudio() {
			p.addAudio(f)
		}
		return
	}
	if video {
		if !p.hasPend {
			if f.Keyframe {
				p.pend, p.hasPend = *f, true
				p.maybeBegin(f.DTS)
			}
			return
		}
		prev := p.pend
		dur := f.DTS - prev.DTS
		if dur <= 0 {
			dur = 1
		}
		p.fitVideo(prev.DTS, dur)
		p.addVideo(&prev, dur)
		p.pend = *f
		p.boundary(f.DTS, f.Keyframe, dur)
		return
	}
	// audio-only: every frame is a sync point
	if p.cur == nil {
		p.maybeBegin(f.DTS)
	}
	if p.partTarget == 0 && !p.cfg.CDN {
		p.partTarget = audioPartTargetFor(p.tracks.AACFrameTicks(), p.tracks.AAC.SampleRate,
			p.cfg.PartDuration.Milliseconds(), p.cfg.SegmentDuration.Milliseconds())
	}
	frameTicks := int64(p.tracks.AACFrameTicks())
	if start := p.audioStart(f.DTS); !p.cfg.CDN && len(p.audio) > 0 && p.tickMs(start+frameTicks)-p.partStart > p.partTarget {
		// only after a jump in the audio timestamps: the prediction below keeps
		// whole-frame parts within the target
		p.flushPart(p.tickMs(p.audioNext), false)
	}
	p.addAudio(f)
	// positions on the audio sample clock, rounded to the millisecond: part and
	// segment durations are then those of the fMP4 samples (within 0.5 ms)
	end := p.tickMs(p.audioNext)
	p.boundary(end, true, p.tickMs(p.audioNext+frameTicks)-end)
}

// tickMs converts a position on the audio sample clock to milliseconds, rounded.
func (p *Packager) tickMs(ticks int64) int64 {
	sr := int64(p.tracks.AAC.SampleRate)
	return (ticks*1000 + sr/2) / sr
}

// fitVideo keeps the open part within the advertised target: before a video
// sample at dts lasting dur is added, the part is closed if the sample would make
// it longer (the next frame came later than the last interval predicted). While
// the target is not chosen yet, it records the interval instead.
func (p *Packager) fitVideo(dts, dur int64) {
	if p.cfg.CDN {
		return
	}
	if p.partTarget == 0 {
		p.learn.add(dur)
		return
	}
	if len(p.video) > 0 && p.partDur+dur > p.partTarget {
		p.flushPart(dts, false)
	}
}

// boundary closes the part and/or segment before a leading sample at next (ms);
// lastDur predicts the duration of that sample.
func (p *Packager) boundary(next int64, sync bool, lastDur int64) {
	p.lastDur = lastDur
	if sync && (p.cut || next-p.cur.start >= p.cfg.SegmentDuration.Milliseconds()) {
		p.flushPart(next, true)
		p.closeSegment(next)
		p.begin(next)
		return
	}
	if p.cfg.CDN {
		return
	}
	if p.partTarget == 0 {
		want := p.cfg.PartDuration.Milliseconds()
		if !p.learn.ready(want) && next-p.partStart+lastDur <= want {
			return // still learning the frame interval; the first part is not due
		}
		p.choosePartTarget(next)
	}
	if next-p.partStart+lastDur > p.partTarget {
		p.flushPart(next, false)
	}
}

// choosePartTarget fixes the advertised part target from the intervals learned
// so far, before the first part (and so the first playlist) is published. It is
// never below the open part, ending at end (ms): no part may exceed it.
func (p *Packager) choosePartTarget(end int64) {
	if p.partTarget != 0 {
		return
	}
	t := partTargetFor(p.learn.intervals(), p.cfg.PartDuration.Milliseconds(), p.cfg.SegmentDuration.Milliseconds())
	p.partTarget = max(t, end-p.partStart, 1)
	p.log.Debug("cmaf part target", "stream", p.key, "target_ms", p.partTarget, "intervals", p.learn.intervals())
}

func (p *Packager) maybeBegin(dts int64) {
	if p.cur == nil {
		p.begin(dts)
	}
}

func (p *Packager) addVideo(f *frame.Frame, dur int64) {
	if len(p.video) == 0 {
		p.videoBase = f.DTS
	}
	payload := f.Data
	if n := p.tracks.AVC.NALULengthSize; n != 4 {
		payload = p.toLength4(payload, n)
	}
	p.video = append(p.video, fmp4.Sample{
		Duration:        uint32(dur * 90),
		PTSOffset:       int32((f.PTS - f.DTS) * 90),
		IsNonSyncSample: !f.Keyframe,
		Payload:         payload,
	})
	p.partDur += dur
}

// toLength4 rewrites AVCC with 1-3 byte lengths to the 4-byte lengths of the init segment.
func (p *Packager) toLength4(au []byte, n int) []byte {
	out := make([]byte, 0, len(au)+len(au)/8+16)
	_ = frame.ForEachNALU(au, n, func(nalu []byte) {
		l := len(nalu)
		out = append(out, byte(l>>24), byte(l>>16), byte(l>>8), byte(l))
		out = append(out, nalu...)
	})
	return out
}

// audioStart is where an audio frame with timestamp dts (ms) goes on the audio
// sample clock: right after the previous frame, unless the timestamps jumped by
// more than two frames (then at dts).
func (p *Packager) audioStart(dts int64) int64 {
	sr := int64(p.tracks.AAC.SampleRate)
	ticks := dts * sr / 1000
	frameTicks := int64(p.tracks.AACFrameTicks())
	if !p.audioSynced || ticks-p.audioNext > 2*frameTicks || p.audioNext-ticks > 2*frameTicks {
		return ticks
	}
	return p.audioNext
}

func (p *Packager) addAudio(f *frame.Frame) {
	p.audioNext, p.audioSynced = p.audioStart(f.DTS), true
	if len(p.audio) == 0 {
		p.audioBase = p.audioNext
	}
	frameTicks := int64(p.tracks.AACFrameTicks())
	p.audio = append(p.audio, fmp4.Sample{Duration: uint32(frameTicks), Payload: f.Data})
	p.audioNext += frameTicks
}

// begin opens a segment whose first sample is at dts (ms).
func (p *Packager) begin(dts int64) {
	now := time.Now()
	if !p.started {
		p.started = true
		p.anchor = now.Add(-time.Duration(dts) * time.Millisecond)
	} else if wall := p.anchor.Add(time.Duration(dts) * time.Millisecond); now.Sub(wall) > 2*time.Second {
		p.anchor = now.Add(-time.Duration(dts) * time.Millisecond)
	}
	if !p.haveInit || p.initGen != p.tracks.Gen {
		p.initGen, p.haveInit = p.tracks.Gen, true
		p.publishInit()
	}
	p.cur = &segment{msn: p.seq, start: dts, pdt: p.anchor.Add(time.Duration(dts) * time.Millisecond), disc: p.disc, initGen: p.initGen}
	p.disc, p.cut = false, false
	p.partStart, p.partDur = dts, 0
}

// publishInit marshals the init segment for the current tracks.
func (p *Packager) publishInit() {
	var init fmp4.Init
	if p.tracks.HasVideo() {
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: videoTrackID, TimeScale: videoScale,
			Codec: &codecs.H264{SPS: p.tracks.AVC.SPS[0], PPS: p.tracks.AVC.PPS[0]}})
	}
	if p.tracks.HasAudio() {
		c := &codecs.MPEG4Audio{}
		if err := c.Config.Unmarshal(p.tracks.ASC); err == nil {
			init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: audioTrackID, TimeScale: uint32(p.tracks.AAC.SampleRate), Codec: c})
		}
	}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		p.log.Warn("cmaf init segment", "stream", p.key, "error", err)
		return
	}
	info := streamInfo{codecs: p.tracks.Codecs(), gen: p.initGen, init: buf.Bytes()}
	if p.tracks.AVC != nil {
		info.width, info.height, info.fps = p.tracks.AVC.Width, p.tracks.AVC.Height, p.tracks.AVC.FPS
	}
	p.mu.Lock()
	old := p.snap.Load()
	s := old.clone()
	s.info = &info
	p.swap(old, s)
	p.mu.Unlock()
}

// flushPart marshals the open part, which ends at end (ms). The last part of a
// segment is published with the completed segment (closeSegment), never alone:
// a playlist showing it as the open segment's latest part would list a part
// shorter than 85 % of the target that is not (yet) the last of its segment.
func (p *Packager) flushPart(end int64, last bool) {
	if p.cur == nil || (len(p.video) == 0 && len(p.audio) == 0) {
		p.partStart, p.partDur = end, 0
		return
	}
	if p.partTarget == 0 && !p.cfg.CDN {
		p.choosePartTarget(end) // a segment (or the stream) ended while learning
	}
	var pt fmp4.Part
	p.mfhd++
	pt.SequenceNumber = p.mfhd
	var tracks [2]*fmp4.PartTrack
	n := 0
	if len(p.video) > 0 {
		p.vptrs = p.vptrs[:0]
		for i := range p.video {
			p.vptrs = append(p.vptrs, &p.video[i])
		}
		tracks[n] = &fmp4.PartTrack{ID: videoTrackID, BaseTime: uint64(p.videoBase * 90), Samples: p.vptrs}
		n++
	}
	if len(p.audio) > 0 {
		p.aptrs = p.aptrs[:0]
		for i := range p.audio {
			p.aptrs = append(p.aptrs, &p.audio[i])
		}
		tracks[n] = &fmp4.PartTrack{ID: audioTrackID, BaseTime: uint64(p.audioBase), Samples: p.aptrs}
		n++
	}
	pt.Tracks = tracks[:n]
	independent := len(p.video) > 0 && !p.video[0].IsNonSyncSample || !p.tracks.HasVideo()
	var buf seekablebuffer.Buffer
	buf.Grow(p.partBytes() + 512)
	err := pt.Marshal(&buf)
	clear(p.video) // drop payload references to hub packets
	clear(p.audio)
	p.video, p.audio = p.video[:0], p.audio[:0]
	dur := time.Duration(end-p.partStart) * time.Millisecond
	p.partStart, p.partDur = end, 0
	if err != nil {
		p.log.Warn("cmaf part", "stream", p.key, "error", err)
		return
	}
	p.cur.parts = append(p.cur.parts, part{data: buf.Bytes(), duration: dur, independent: independent})
	p.parts.Add(1)
	if !last {
		p.publish(false)
	}
}

func (p *Packager) partBytes() int {
	n := 0
	for i := range p.video {
		n += len(p.video[i].Payload) + 16
	}
	for i := range p.audio {
		n += len(p.audio[i].Payload) + 16
	}
	return n
}

// closeSegment completes the open segment at end (ms).
func (p *Packager) closeSegment(end int64) {
	c := p.cur
	if c == nil {
		return
	}
	p.cur = nil
	if len(c.parts) == 0 {
		return
	}
	c.duration = time.Duration(end-c.start) * time.Millisecond
	size := 0
	for _, pt := range c.parts {
		size += len(pt.data)
	}
	c.data = make([]byte, 0, size)
	for _, pt := range c.parts {
		c.data = append(c.data, pt.data...)
	}
	if c.duration > 0 {
		if br := int64(float64(size*8) / c.duration.Seconds()); br > p.maxBitrate {
			p.maxBitrate = br
		}
	}
	if d := int((c.duration + 500*time.Millisecond) / time.Second); d > p.targetSeconds {
		p.targetSeconds = d
	}
	p.seq++
	p.done = append(p.done, c)
	if keep := p.cfg.ListSize + 3; len(p.done) > keep {
		for _, s := range p.done[:len(p.done)-keep] {
			if s.disc {
				p.discSeq++
			}
		}
		p.done = append(p.done[:0:0], p.done[len(p.done)-keep:]...)
	}
	p.segments.Add(1)
	p.lastSeg.Store(int64(c.duration))
	p.lastAt.Store(time.Now().UnixNano())
	p.publish(false)
}

// End finishes the stream: the last segment completes and the playlist ends.
func (p *Packager) End() {
	if p.cur != nil {
		end := p.partStart + p.partDur
		if !p.tracks.HasVideo() && p.audioSynced {
			end = p.tickMs(p.audioNext)
		}
		if p.hasPend {
			// the last frame lasts as long as the one before it
			d := max(p.lastDur, 1)
			p.fitVideo(p.pend.DTS, d)
			p.addVideo(&p.pend, d)
			p.hasPend = false
			end = p.pend.DTS + d
		}
		p.flushPart(end, true)
		p.closeSegment(end)
	}
	p.publish(true)
}

// Stats returns the segment count, the last segment's duration and when it completed.
func (p *Packager) Stats() (segments, parts int64, last time.Duration, at time.Time) {
	var t time.Time
	if ns := p.lastAt.Load(); ns > 0 {
		t = time.Unix(0, ns)
	}
	return p.segments.Load(), p.parts.Load(), time.Duration(p.lastSeg.Load()), t
}
