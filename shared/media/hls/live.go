package hls

import (
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// extraSegments are kept beyond the playlist window so a player that fetched
// a playlist just before it slid can still download every segment it lists.
const extraSegments = 3

// tsLive is the servable state of one stream's MPEG-TS HLS: an immutable
// snapshot swapped on every finished segment, read by HTTP handlers lock-free.
type tsLive struct {
	listSize int
	target   int    // configured target duration, seconds
	token    string // segment names are "s{token}-{seq}.ts"
	snap     atomic.Pointer[tsSnapshot]
	mu       sync.Mutex // serializes writers of snap
	ready    chan struct{}
	once     sync.Once

	// figures for metrics
	segments atomic.Int64
	lastDur  atomic.Int64 // ns
	lastAt   atomic.Int64 // unix ns when the last segment completed
	bytes    atomic.Int64
}

type tsSnapshot struct {
	segs      []Segment // oldest first; the playlist lists the last listSize
	discSeq   uint64    // discontinuities that left the window
	targetDur int
	ended     bool
	playlist  []byte
}

func newTSLive(listSize int, target time.Duration, token string) *tsLive {
	t := int(math.Ceil(target.Seconds()))
	if t < 1 {
		t = 1
	}
	l := &tsLive{listSize: listSize, target: t, token: token, ready: make(chan struct{})}
	l.snap.Store(&tsSnapshot{targetDur: t})
	return l
}

// add publishes a finished segment.
func (l *tsLive) add(seg Segment) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.snap.Load()
	keep := l.listSize + extraSegments
	segs := old.segs
	disc := old.discSeq
	if len(segs) >= keep {
		n := len(segs) - keep + 1
		for _, s := range segs[:n] {
			if s.Discontinuity {
				disc++
			}
		}
		segs = segs[n:]
	}
	ns := make([]Segment, len(segs), len(segs)+1)
	copy(ns, segs)
	ns = append(ns, seg)
	target := old.targetDur
	if d := int(math.Round(seg.Duration.Seconds())); d > target {
		target = d // never shrinks: EXT-X-TARGETDURATION must cover every segment
	}
	snap := &tsSnapshot{segs: ns, discSeq: disc, targetDur: target}
	snap.playlist = l.render(snap)
	l.snap.Store(snap)
	l.segments.Add(1)
	l.lastDur.Store(int64(seg.Duration))
	l.lastAt.Store(time.Now().UnixNano())
	l.bytes.Add(int64(seg.Size())) // exact without muxing
	l.once.Do(func() { close(l.ready) })
}

// end marks the playlist finished (EXT-X-ENDLIST).
func (l *tsLive) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.snap.Load()
	snap := *old
	snap.ended = true
	snap.playlist = l.render(&snap)
	l.snap.Store(&snap)
}

// window returns the segments the playlist lists and the discontinuity
// sequence of the first.
func (l *tsLive) window(s *tsSnapshot) ([]Segment, uint64) {
	segs, disc := s.segs, s.discSeq
	if n := len(segs) - l.listSize; n > 0 {
		for _, x := range segs[:n] {
			if x.Discontinuity {
				disc++
			}
		}
		segs = segs[n:]
	}
	return segs, disc
}

func (l *tsLive) render(s *tsSnapshot) []byte {
	segs, disc := l.window(s)
	if len(segs) == 0 {
		return nil
	}
	b := make([]byte, 0, 256+len(segs)*120)
	b = append(b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:"...)
	b = strconv.AppendInt(b, int64(s.targetDur), 10)
	b = append(b, "\n#EXT-X-MEDIA-SEQUENCE:"...)
	b = strconv.AppendUint(b, segs[0].Seq, 10)
	b = append(b, "\n#EXT-X-DISCONTINUITY-SEQUENCE:"...)
	b = strconv.AppendUint(b, disc, 10)
	b = append(b, '\n')
	for _, seg := range segs {
		if seg.Discontinuity {
			b = append(b, "#EXT-X-DISCONTINUITY\n"...)
		}
		b = append(b, "#EXT-X-PROGRAM-DATE-TIME:"...)
		b = seg.ProgramDateTime.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
		b = append(b, "\n#EXTINF:"...)
		b = strconv.AppendFloat(b, seg.Duration.Seconds(), 'f', 3, 64)
		b = append(b, ",\ns"...)
		b = append(b, l.token...)
		b = append(b, '-')
		b = strconv.AppendUint(b, seg.Seq, 10)
		b = append(b, ".ts\n"...)
	}
	if s.ended {
		b = append(b, "#EXT-X-ENDLIST\n"...)
	}
	return b
}

// segment finds a segment by sequence number in the snapshot.
func (s *tsSnapshot) segment(seq uint64) (Segment, bool) {
	if len(s.segs) == 0 || seq < s.segs[0].Seq {
		return Segment{}, false
	}
	i := int(seq - s.segs[0].Seq)
	if i >= len(s.segs) || s.segs[i].Seq != seq {
		return Segment{}, false
	}
	return s.segs[i], true
}
