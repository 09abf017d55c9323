package hls

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hls/frame"
)

// eagerSegmenter is the segmenter as it was before segments were muxed on
// demand: every frame muxed into the open segment's buffer as it arrives, the
// continuity counters advanced by the muxer itself. It is the reference the lazy
// segmenter's bytes are compared with (and BenchmarkEagerSegmenter's subject).
type eagerSegmenter struct {
	target     int64
	emit       func(eagerSegment)
	tracks     frame.Tracks
	mux        tsMuxer
	muxGen     int
	buf        []byte
	open       bool
	segStart   int64
	started    bool
	lastDTS    int64
	lastDur    int64
	seq        uint64
	disc, cut  bool
	firstAudio int64
	seenAudio  bool
	Errors     int64
}

type eagerSegment struct {
	seq           uint64
	duration      int64
	discontinuity bool
	data          []byte
}

func newEagerSegmenter(target time.Duration, emit func(eagerSegment)) *eagerSegmenter {
	return &eagerSegmenter{target: target.Milliseconds(), emit: emit}
}

func (s *eagerSegmenter) Discontinuity() { s.disc, s.cut = true, true }

func (s *eagerSegmenter) WriteTag(typ flv.TagType, ts uint32, data []byte) {
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
		s.writeFrame(&f)
	}
}

func (s *eagerSegmenter) writeFrame(f *frame.Frame) {
	video := s.tracks.HasVideo()
	if f.Kind == frame.Audio && !video && !s.open {
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
		if s.buf, err = s.mux.writeVideo(s.buf, s.tracks.AVC, f); err != nil {
			s.Errors++
		}
	} else if s.mux.hasAudio {
		s.buf = s.mux.writeAudio(s.buf, f)
	}
}

func (s *eagerSegmenter) begin(dts int64) {
	s.started = true
	if s.muxGen != s.tracks.Gen || (!s.mux.hasVideo && !s.mux.hasAudio) {
		if err := s.mux.configure(&s.tracks); err != nil {
			s.Errors++
		}
		s.muxGen = s.tracks.Gen
	}
	s.open, s.cut, s.segStart = true, false, dts
	s.buf = s.mux.writeTables(s.buf)
}

func (s *eagerSegmenter) close(end int64) {
	if !s.open {
		return
	}
	s.open = false
	if end <= s.segStart {
		end = s.segStart + max(s.lastDur, 1)
	}
	seg := eagerSegment{seq: s.seq, duration: end - s.segStart, discontinuity: s.disc, data: s.buf[:len(s.buf):len(s.buf)]}
	s.seq++
	s.disc = false
	s.buf = make([]byte, 0, len(seg.data)+len(seg.data)/8+tsPacketSize*4)
	s.emit(seg)
}

func (s *eagerSegmenter) Flush() {
	if s.open {
		s.close(s.lastDTS + max(s.lastDur, 1))
	}
}

// tagWriter is what both segmenters take.
type tagWriter interface {
	WriteTag(typ flv.TagType, ts uint32, data []byte)
	Discontinuity()
	Flush()
}

// requireSameAsEager feeds one stream (feed may call Discontinuity) to both
// segmenters and compares them segment by segment: bytes, sizes, times, errors.
func requireSameAsEager(t testing.TB, target time.Duration, feed func(w tagWriter)) int {
	t.Helper()
	var lazy []Segment
	var eager []eagerSegment
	ls := NewSegmenter("k", "k", target, 0, func(seg Segment) { lazy = append(lazy, seg) })
	es := newEagerSegmenter(target, func(seg eagerSegment) { eager = append(eager, seg) })
	feed(ls)
	feed(es)
	ls.Flush()
	es.Flush()
	require.Equal(t, es.Errors, ls.Errors, "errors")
	require.Equal(t, len(eager), len(lazy), "segments")
	for i, e := range eager {
		l := lazy[i]
		require.Equal(t, e.seq, l.Seq)
		require.Equal(t, e.duration, l.Duration.Milliseconds(), "segment %d duration", i)
		require.Equal(t, e.discontinuity, l.Discontinuity, "segment %d discontinuity", i)
		require.Equal(t, len(e.data), l.Size(), "segment %d: size before muxing", i)
		got := l.Bytes()
		if !bytes.Equal(e.data, got) {
			require.Equal(t, len(e.data), len(got), "segment %d length", i)
			for j := 0; j < len(got); j += tsPacketSize {
				require.Equal(t, e.data[j:j+tsPacketSize], got[j:j+tsPacketSize], "segment %d, TS packet %d", i, j/tsPacketSize)
			}
		}
		require.Equal(t, l.Size(), len(got), "segment %d: size after muxing", i)
	}
	return len(lazy)
}

// The lazy segmenter writes the eager one's bytes in every golden scenario (the
// golden file pins both to the bytes from before the change).
func TestSegmenterMatchesEager(t *testing.T) {
	tags := clip(t)
	for _, sc := range goldenScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			n := requireSameAsEager(t, sc.target, func(w tagWriter) { sc.feed(w, tags) })
			require.NotZero(t, n)
		})
	}
}
