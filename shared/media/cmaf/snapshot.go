package cmaf

import (
	"strconv"
	"sync"
	"time"
)

// streamInfo describes the current codec configuration and its init segment.
type streamInfo struct {
	codecs        string
	width, height int
	fps           float64
	gen           int
	init          []byte
}

// snapshot is the immutable servable state after one change (a part, a segment,
// the end). next is closed when a newer snapshot replaces it: blocking requests
// wait on it.
type snapshot struct {
	next    chan struct{}
	cfg     *Config
	token   string
	info    *streamInfo
	inits   map[int][]byte // init segments by generation, for segments still listed
	done    []*segment
	discSeq uint64
	open    *segment // copy of the open segment (parts so far), nil between segments
	// held: the last of done has just completed and the next segment has no
	// part yet. The LL-HLS playlist then still lists it as the open segment
	// (all its parts, no EXTINF) and hints the next segment's first part; it
	// is listed complete with that part (see Packager.publish).
	held      bool
	ended     bool
	targetDur int
	bitrate   int64
	// partTarget is the advertised PART-TARGET, fixed before the first part.
	partTarget time.Duration

	once     sync.Once
	playlist []byte
}

func (s *snapshot) clone() *snapshot {
	return &snapshot{next: make(chan struct{}), cfg: s.cfg, token: s.token, info: s.info, inits: s.inits,
		done: s.done, discSeq: s.discSeq, open: s.open, held: s.held, ended: s.ended, targetDur: s.targetDur, bitrate: s.bitrate,
		partTarget: s.partTarget}
}

// swap publishes s in place of old (p.mu held).
func (p *Packager) swap(old, s *snapshot) {
	if s.info != nil && (s.inits == nil || s.inits[s.info.gen] == nil) {
		inits := make(map[int][]byte, len(s.inits)+1)
		for g, b := range s.inits {
			inits[g] = b
		}
		inits[s.info.gen] = s.info.init
		s.inits = inits
	}
	p.snap.Store(s)
	close(old.next)
}

// publish makes the writer's state visible to the HTTP side.
func (p *Packager) publish(ended bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.snap.Load()
	s := old.clone()
	s.done = p.done // p.done is only ever replaced or appended to past len(s.done)
	s.done = s.done[:len(s.done):len(s.done)]
	s.discSeq = p.discSeq
	s.targetDur = p.targetSeconds
	s.bitrate = p.maxBitrate
	s.partTarget = time.Duration(p.partTarget) * time.Millisecond
	if p.cur != nil && len(p.cur.parts) > 0 {
		c := *p.cur
		c.parts = c.parts[:len(c.parts):len(c.parts)]
		s.open = &c
	} else {
		s.open = nil
	}
	s.ended = ended || old.ended
	s.held = !s.ended && !p.cfg.CDN && s.open == nil && len(s.done) > 0 && p.holdable(s.done[len(s.done)-1])
	p.swap(old, s)
}

// holdable reports whether a segment that has just completed may be listed as
// the open segment until the next segment's first part is published.
//
// Why hold it: hls.js (1.7.4) loads the parts of the open segment one after the
// other and stops when the playlist it has lists no next part. If the playlist
// that lists the segment's last part also lists the segment complete, and it
// arrives before the parts loaded so far are appended, hls.js records the
// completed segment as fully buffered (its end taken from the media appended)
// and never loads the last part: a hole of one part at the segment's end,
// which stalls playback. That happens whenever the browser is slow to append
// (a busy machine; CI), and was reproduced with the browser test under a CPU
// quota. While the segment is still listed open, hls.js records what it
// appended as partial and goes on to the last part.
//
// An open segment's parts must each last at least 85 % of PART-TARGET (RFC
// 8216bis 4.4.4.9 exempts the last part of a complete segment, and INDEPENDENT
// parts, which this packager holds to it too), so a segment whose last part is
// shorter is listed complete at once.
func (p *Packager) holdable(sg *segment) bool {
	if len(sg.parts) == 0 || p.partTarget <= 0 {
		return false
	}
	return sg.parts[len(sg.parts)-1].duration*100 >= time.Duration(p.partTarget)*time.Millisecond*85
}

// ready reports whether anything can be played.
func (s *snapshot) ready() bool {
	return s.info != nil && (len(s.done) > 0 || s.open != nil)
}

// edge is the media sequence number of the segment the LL-HLS playlist lists
// as open (or of the next segment), and the number of its parts available:
// what blocking playlist requests wait on.
func (s *snapshot) edge() (msn uint64, parts int) {
	if o := s.listedOpen(); o != nil {
		return o.msn, len(o.parts)
	}
	if n := len(s.done); n > 0 {
		return s.done[n-1].msn + 1, 0
	}
	return 0, 0
}

// listedOpen is the segment the LL-HLS playlist lists as open: the open one,
// or a held one (held is only ever set with no open segment); nil for none.
func (s *snapshot) listedOpen() *segment {
	if s.held {
		return s.done[len(s.done)-1]
	}
	return s.open
}

// hint is the part the next EXT-X-PRELOAD-HINT names: the next part of the open
// segment, or the first part of the next segment after a held one.
func (s *snapshot) hint() (msn uint64, part int) {
	if s.held {
		return s.done[len(s.done)-1].msn + 1, 0
	}
	return s.edge()
}

// listed returns the segments the LL-HLS playlist lists complete: all done
// segments but a held one.
func (s *snapshot) listed() []*segment {
	if s.held {
		return s.done[:len(s.done)-1]
	}
	return s.done
}

// window returns the listed segments and the discontinuity sequence of the first.
func (s *snapshot) window() ([]*segment, uint64) {
	segs, disc := s.listed(), s.discSeq
	if n := len(segs) - s.cfg.ListSize; n > 0 {
		for _, x := range segs[:n] {
			if x.disc {
				disc++
			}
		}
		segs = segs[n:]
	}
	return segs, disc
}

func (s *snapshot) segName(b []byte, msn uint64) []byte {
	b = append(b, 'c')
	b = append(b, s.token...)
	b = append(b, '-')
	return strconv.AppendUint(b, msn, 10)
}

func (s *snapshot) initName(b []byte, gen int) []byte {
	b = append(b, "init"...)
	b = append(b, s.token...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(gen), 10)
	return append(b, ".mp4"...)
}

func appendSeconds(b []byte, d time.Duration) []byte {
	return strconv.AppendFloat(b, d.Seconds(), 'f', 3, 64)
}

// mediaPlaylist renders the (LL-)HLS media playlist once per snapshot.
func (s *snapshot) mediaPlaylist() []byte {
	s.once.Do(func() { s.playlist = s.renderPlaylist() })
	return s.playlist
}

func (s *snapshot) renderPlaylist() []byte {
	segs, disc := s.window()
	ll := !s.cfg.CDN
	b := make([]byte, 0, 1024+len(segs)*200)
	b = append(b, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:"...)
	b = strconv.AppendInt(b, int64(s.targetDur), 10)
	b = append(b, '\n')
	if ll {
		pt := s.partTarget
		if pt <= 0 { // not reached: the target is chosen before the first part
			pt = s.cfg.PartDuration
		}
		b = append(b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK="...)
		b = appendSeconds(b, 3*pt)
		b = append(b, "\n#EXT-X-PART-INF:PART-TARGET="...)
		b = appendSeconds(b, pt)
		b = append(b, '\n')
	}
	open := s.listedOpen()
	first := uint64(0)
	if len(segs) > 0 {
		first = segs[0].msn
	} else if open != nil {
		first = open.msn
	}
	b = append(b, "#EXT-X-MEDIA-SEQUENCE:"...)
	b = strconv.AppendUint(b, first, 10)
	b = append(b, "\n#EXT-X-DISCONTINUITY-SEQUENCE:"...)
	b = strconv.AppendUint(b, disc, 10)
	b = append(b, '\n')
	gen := -1
	// LL-HLS lists the parts of the segments within the last 3 target durations.
	partsFrom := len(segs) - 2
	writeSeg := func(sg *segment, idx int, complete bool) {
		if sg.disc {
			b = append(b, "#EXT-X-DISCONTINUITY\n"...)
		}
		if sg.initGen != gen {
			gen = sg.initGen
			b = append(b, "#EXT-X-MAP:URI=\""...)
			b = s.initName(b, gen)
			b = append(b, "\"\n"...)
		}
		b = append(b, "#EXT-X-PROGRAM-DATE-TIME:"...)
		b = sg.pdt.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
		b = append(b, '\n')
		if ll && (idx >= partsFrom || !complete) {
			for i, pt := range sg.parts {
				b = append(b, "#EXT-X-PART:DURATION="...)
				b = appendSeconds(b, pt.duration)
				b = append(b, ",URI=\""...)
				b = s.segName(b, sg.msn)
				b = append(b, '.')
				b = strconv.AppendInt(b, int64(i), 10)
				b = append(b, ".m4s\""...)
				if pt.independent {
					b = append(b, ",INDEPENDENT=YES"...)
				}
				b = append(b, '\n')
			}
		}
		if complete {
			b = append(b, "#EXTINF:"...)
			b = appendSeconds(b, sg.duration)
			b = append(b, ",\n"...)
			b = s.segName(b, sg.msn)
			b = append(b, ".m4s\n"...)
		}
	}
	for i, sg := range segs {
		writeSeg(sg, i, true)
	}
	if open != nil && ll {
		writeSeg(open, len(segs), false)
	}
	if s.ended {
		b = append(b, "#EXT-X-ENDLIST\n"...)
	} else if ll {
		msn, n := s.hint()
		b = append(b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""...)
		b = s.segName(b, msn)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, ".m4s\"\n"...)
	}
	return b
}

// multivariant renders the master playlist.
func (s *snapshot) multivariant() []byte {
	i := s.info
	bw := s.bitrate
	if bw <= 0 {
		bw = 1_000_000
	}
	b := make([]byte, 0, 256)
	b = append(b, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH="...)
	b = strconv.AppendInt(b, bw, 10)
	b = append(b, ",CODECS=\""...)
	b = append(b, i.codecs...)
	b = append(b, '"')
	if i.width > 0 {
		b = append(b, ",RESOLUTION="...)
		b = strconv.AppendInt(b, int64(i.width), 10)
		b = append(b, 'x')
		b = strconv.AppendInt(b, int64(i.height), 10)
	}
	if i.fps > 0 {
		b = append(b, ",FRAME-RATE="...)
		b = strconv.AppendFloat(b, i.fps, 'f', 3, 64)
	}
	b = append(b, "\nmedia.m3u8\n"...)
	return b
}
