package hls

import (
	"sync"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hls/frame"
	"github.com/livestack/livestack/shared/media/hub"
)

// audioOnlyAfter is how much audio (ms) is seen without a video configuration
// before a stream is packaged as audio-only.
const audioOnlyAfter = 1000

// Segmenter cuts one stream into MPEG-TS segments on keyframes. It is fed hub
// packets from one goroutine and calls emit for every finished segment. It muxes
// nothing itself and keeps no per-packet allocations: a segment collects its
// frames (aliasing the hub packets) in one slice per segment, checks and counts
// the TS packets each will take, and is muxed when its bytes are first needed
// (Segment.Bytes).
type Segmenter struct {
	key, channelID string
	target         int64 // ms
	emit           func(Segment)
	now            func() time.Time

	tracks frame.Tracks
	// mux holds the program tables and the continuity counters the next segment
	// starts with; segments copy it and mux with the copy.
	mux      tsMuxer
	muxGen   int
	cur      *tsBody // the open segment's media
	frameCap int     // frames the next segment is likely to hold
	open     bool
	segStart int64 // DTS (ms) of the open segment's first frame
	first    int64 // DTS of the stream's first packaged frame
	started  bool
	lastDTS  int64
	lastDur  int64 // duration of the last leading frame (ms), for the final segment
	seq      uint64
	disc     bool // the next segment starts after a codec change
	cut      bool // cut at the next sync point regardless of duration
	// anchor maps media time onto wall time: wall = anchor + DTS.
	anchor     time.Time
	firstAudio int64
	seenAudio  bool
	// Errors counts frames dropped as malformed.
	Errors int64
}

// NewSegmenter returns a segmenter cutting at target (rounded to ms); seq is the
// first media sequence number.
func NewSegmenter(key, channelID string, target time.Duration, seq uint64, emit func(Segment)) *Segmenter {
	if target <= 0 {
		target = 2 * time.Second
	}
	return &Segmenter{key: key, channelID: channelID, target: target.Milliseconds(), seq: seq, emit: emit, now: time.Now}
}

// Tracks returns the current codec configuration.
func (s *Segmenter) Tracks() *frame.Tracks { return &s.tracks }

// NextSeq is the sequence number the next segment gets.
func (s *Segmenter) NextSeq() uint64 { return s.seq }

// Discontinuity makes the next segment start with a discontinuity (the
// subscription skipped media).
func (s *Segmenter) Discontinuity() {
	s.disc, s.cut = true, true
}

// WritePacket feeds one hub packet.
func (s *Segmenter) WritePacket(p *hub.Packet) { s.WriteTag(p.Type, p.Time, p.Data()) }

// WriteTag feeds one FLV tag (type, hub timestamp in ms, payload). Segments keep
// references into data until they are muxed: it must never be modified (hub
// packets are immutable).
func (s *Segmenter) WriteTag(typ flv.TagType, ts uint32, data []byte) {
	f, changed, err := s.tracks.HandleTag(typ, ts, data)
	if err != nil {
		s.Errors++
		return
	}
	if changed {
		if s.open || s.seq > 0 {
			s.disc, s.cut = true, true
		}
		return
	}
	if f.Kind != frame.None {
		s.WriteFrame(&f)
	}
}

// WriteFrame feeds one frame (the codec configuration must be set in Tracks()).
// f.Data, like WriteTag's data, must never be modified.
func (s *Segmenter) WriteFrame(f *frame.Frame) {
	video := s.tracks.HasVideo()
	if f.Kind == frame.Audio && !video && !s.open {
		// audio before any video configuration: wait a little for video
		if !s.seenAudio {
			s.seenAudio, s.firstAudio = true, f.DTS
		}
		if f.DTS-s.firstAudio < audioOnlyAfter {
			return
		}
	}
	leading := (f.Kind == frame.Video) == video
	if leading {
		if f.DTS > s.lastDTS && s.started {
			s.lastDur = f.DTS - s.lastDTS
		}
		if f.Keyframe && (!s.open || s.cut || f.DTS-s.segStart >= s.target) {
			s.close(f.DTS)
			s.begin(f.DTS)
		}
		s.lastDTS = f.DTS
	}
	if !s.open {
		return
	}
	b := s.cur
	if f.Kind == frame.Video {
		avc := s.tracks.AVC
		n, err := videoPESSize(avc, f)
		if err != nil {
			s.Errors++ // the muxer would refuse it: dropped, no TS packets
			return
		}
		if len(b.avc) == 0 || b.avc[len(b.avc)-1].cfg != avc {
			b.avc = append(b.avc, avcSpan{from: len(b.frames), cfg: avc})
		}
		b.videoPkts += tsPackets(n, videoFirstAF)
		b.frames = append(b.frames, *f)
	} else if s.mux.hasAudio {
		b.audioPkts += tsPackets(audioPESHeader+len(f.Data), audioFirstAF(s.mux.hasVideo))
		b.frames = append(b.frames, *f)
	}
}

func (s *Segmenter) begin(dts int64) {
	now := s.now()
	if !s.started {
		s.started, s.first = true, dts
		s.anchor = now.Add(-time.Duration(dts) * time.Millisecond)
	} else if wall := s.anchor.Add(time.Duration(dts) * time.Millisecond); now.Sub(wall) > 2*time.Second {
		// the publisher was away (reconnect): media time ran slower than the clock
		s.anchor = now.Add(-time.Duration(dts) * time.Millisecond)
	}
	if s.muxGen != s.tracks.Gen || (!s.mux.hasVideo && !s.mux.hasAudio) {
		if err := s.mux.configure(&s.tracks); err != nil {
			s.Errors++
		}
		s.muxGen = s.tracks.Gen
	}
	s.open, s.cut, s.segStart = true, false, dts
	// The segment starts from the muxer as it is now; its PAT and PMT take one
	// packet each.
	s.cur = &tsBody{mux: s.mux, frames: make([]frame.Frame, 0, s.frameCap)}
	s.mux.ccPAT++
	s.mux.ccPMT++
}

// close finishes the open segment, which ends at end (ms).
func (s *Segmenter) close(end int64) {
	if !s.open {
		return
	}
	s.open = false
	if end <= s.segStart {
		end = s.segStart + max(s.lastDur, 1)
	}
	b := s.cur
	s.cur = nil
	// The next segment's PES packets continue the counters as if this one had
	// been muxed (uint8 arithmetic wraps like the 4-bit counter).
	s.mux.ccVideo += uint8(b.videoPkts)
	s.mux.ccAudio += uint8(b.audioPkts)
	b.size = (2 + b.videoPkts + b.audioPkts) * tsPacketSize
	// The next segment usually holds as many frames: one allocation per segment.
	s.frameCap = len(b.frames) + len(b.frames)/8 + 4
	seg := Segment{
		StreamKey:       s.key,
		ChannelID:       s.channelID,
		Seq:             s.seq,
		Start:           time.Duration(s.segStart-s.first) * time.Millisecond,
		Duration:        time.Duration(end-s.segStart) * time.Millisecond,
		Discontinuity:   s.disc,
		ProgramDateTime: s.anchor.Add(time.Duration(s.segStart) * time.Millisecond),
		body:            b,
	}
	s.seq++
	s.disc = false
	s.emit(seg)
}

// Flush finishes the open segment at the end of the stream.
func (s *Segmenter) Flush() {
	if s.open {
		s.close(s.lastDTS + max(s.lastDur, 1))
	}
}

// tsBody is a segment's media. Until it is muxed: the frames, the muxer state
// before the segment's tables (program tables, ADTS template, tracks, the
// continuity counter each PID starts with) and the AVC configuration each video
// frame needs; afterwards only the bytes.
type tsBody struct {
	size int // bytes, exact: whole TS packets
	once sync.Once
	data []byte

	mux    tsMuxer
	frames []frame.Frame // every one muxes without error (checked when collected)
	avc    []avcSpan     // the AVC configuration from frames[from] on
	// TS packets the frames' PES take, per PID
	videoPkts, audioPkts int
}

type avcSpan struct {
	from int
	cfg  *flv.AVCConfig
}

func (b *tsBody) bytes() []byte {
	b.once.Do(func() {
		b.data = b.render()
		b.frames, b.avc = nil, nil // drop the hub packets: only the bytes stay
	})
	return b.data
}

// render muxes the segment into a buffer of its exact size.
func (b *tsBody) render() []byte {
	m := b.mux
	// room for a PES header with parameter sets and a few NAL units: the scratch
	// buffers rarely grow
	m.scratch, m.parts = make([]byte, 0, 256), make([][]byte, 0, 16)
	dst := make([]byte, 0, b.size)
	dst = m.writeTables(dst)
	var avc *flv.AVCConfig
	span := 0
	for i := range b.frames {
		f := &b.frames[i]
		if span < len(b.avc) && b.avc[span].from == i {
			avc = b.avc[span].cfg
			span++
		}
		if f.Kind == frame.Video {
			// cannot fail: videoPESSize accepted the frame with this configuration
			dst, _ = m.writeVideo(dst, avc, f)
		} else {
			dst = m.writeAudio(dst, f)
		}
	}
	return dst
}
