package hls

import (
	"time"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hls/frame"
	"github.com/livestack/livestack/shared/media/hub"
)

// audioOnlyAfter is how much audio (ms) is seen without a video configuration
// before a stream is packaged as audio-only.
const audioOnlyAfter = 1000

// Segmenter cuts one stream into MPEG-TS segments on keyframes. It is fed hub
// packets from one goroutine and calls emit for every finished segment. It keeps
// no per-packet allocations: frames alias hub packets and are muxed straight into
// the segment buffer, which is handed off (immutable) when the segment closes.
type Segmenter struct {
	key, channelID string
	target         int64 // ms
	emit           func(Segment)
	now            func() time.Time

	tracks   frame.Tracks
	mux      tsMuxer
	muxGen   int
	buf      []byte
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

// WriteTag feeds one FLV tag (type, hub timestamp in ms, payload).
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
	if f.Kind == frame.Video {
		var err error
		if s.buf, err = s.mux.writeVideo(s.buf, &s.tracks, f); err != nil {
			s.Errors++
		}
	} else if s.mux.hasAudio {
		s.buf = s.mux.writeAudio(s.buf, f)
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
	s.buf = s.mux.writeTables(s.buf)
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
	seg := Segment{
		StreamKey:       s.key,
		ChannelID:       s.channelID,
		Seq:             s.seq,
		Start:           time.Duration(s.segStart-s.first) * time.Millisecond,
		Duration:        time.Duration(end-s.segStart) * time.Millisecond,
		Discontinuity:   s.disc,
		ProgramDateTime: s.anchor.Add(time.Duration(s.segStart) * time.Millisecond),
		Data:            s.buf[:len(s.buf):len(s.buf)],
	}
	s.seq++
	s.disc = false
	// The next segment is usually as large: one allocation per segment.
	s.buf = make([]byte, 0, len(seg.Data)+len(seg.Data)/8+tsPacketSize*4)
	s.emit(seg)
}

// Flush finishes the open segment at the end of the stream.
func (s *Segmenter) Flush() {
	if s.open {
		s.close(s.lastDTS + max(s.lastDur, 1))
	}
}
