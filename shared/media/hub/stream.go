package hub

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
)

// Stream is one live stream: the shared packet log, the GOP cache, the current
// headers and the wake-up channels its subscribers wait on.
type Stream struct {
	hub *Hub
	key string
	log *slog.Logger

	mu sync.RWMutex
	// pkts holds packets with sequence numbers [base, base+len(pkts)).
	pkts []*Packet
	base uint64
	// gop is the sequence number of the latest sync point (video keyframe, or any
	// audio packet of an audio-only stream); valid when hasGOP.
	gop    uint64
	hasGOP bool
	// bytes counts media bytes ever appended.
	bytes int64
	// current headers; hdrGen counts changes.
	meta, vhdr, ahdr *Packet
	hdrGen           uint64
	// hdrSeq is the sequence number of the latest header packet appended
	// (valid when hasHdr): a subscriber skipping past it is sent the headers.
	hdrSeq   uint64
	hasHdr   bool
	hasVideo bool
	// lastTime is the highest hub timestamp appended; lastVideo/lastAudio per track.
	lastTime, lastVideo, lastAudio uint32
	anyMedia                       bool

	// wake is closed on every append when someone waits on it.
	wake     chan struct{}
	wakeUsed atomic.Bool
	// flush is closed when a merge window expires; merge readers read up to flushSeq.
	merge     time.Duration
	flush     chan struct{}
	flushSeq  uint64
	mergeSubs int
	// pending: packets wait for a flush since pendingSince (hub nanoseconds);
	// timerGen tells a backstop timer whether its batch is still pending.
	pending      bool
	pendingSince int64
	timerGen     uint64
	// lastVideoTS and videoInterval (ms) predict when the next video frame comes.
	lastVideoTS   uint32
	videoInterval uint32

	done      chan struct{}
	ended     bool
	publisher *Publisher
	idle      *time.Timer
	subs      int

	stats streamStats

	// patient are the subscribers with a MaxLag longer than the hub's.
	patient []*Subscriber

	noDirectPlay atomic.Bool
	viewAs       atomic.Pointer[string]
	// lowLatency counts the subscribers that want media without delay;
	// llWake is closed when it goes from 0 to 1 (LowLatencyWait).
	lowLatency atomic.Int32
	llWake     chan struct{}
}

// LowLatencyWait returns a channel closed when the stream next gains a
// low-latency reader, so a publisher batching its reads (see LowLatency) can
// stop waiting the moment a viewer arrives.
func (s *Stream) LowLatencyWait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.llWake == nil {
		s.llWake = make(chan struct{})
	}
	return s.llWake
}

// LowLatency reports whether someone reads the stream live at low latency: a
// viewer, or an internal subscriber with SubscribeOptions.LowLatency. When
// nobody does (a camera only packaged as HLS and recorded), a publisher may
// batch its input for efficiency (the RTMP server's read batching).
func (s *Stream) LowLatency() bool { return s.lowLatency.Load() > 0 }

// DirectPlay reports whether viewers may play the stream as-is (HTTP-FLV, RTMP).
func (s *Stream) DirectPlay() bool { return !s.noDirectPlay.Load() }

// ViewKey is the hub key viewers must be served instead of this stream
// (PublishOptions.ViewAs), or "" when viewers play the stream itself.
func (s *Stream) ViewKey() string {
	if v := s.viewAs.Load(); v != nil {
		return *v
	}
	return ""
}

func newStream(h *Hub, key string) *Stream {
	s := &Stream{
		hub:   h,
		key:   key,
		log:   h.cfg.Logger.With("stream", key),
		wake:  make(chan struct{}),
		flush: make(chan struct{}),
		done:  make(chan struct{}),
		merge: h.cfg.MergeWindow,
	}
	s.stats.init(h.cfg.now())
	return s
}

// Key is the stream's key (the channel id, or channel/rendition).
func (s *Stream) Key() string { return s.key }

// Done is closed when the stream has ended.
func (s *Stream) Done() <-chan struct{} { return s.done }

// attach makes p the stream's publisher; called with the hub lock held.
func (s *Stream) attach(opts PublishOptions) (*Publisher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil, ErrNotFound
	}
	if s.publisher != nil {
		return nil, ErrAlreadyPublished
	}
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
	if opts.MergeWindow != nil {
		s.merge = *opts.MergeWindow
	}
	s.noDirectPlay.Store(opts.NoDirectPlay)
	viewAs := opts.ViewAs
	s.viewAs.Store(&viewAs)
	p := &Publisher{s: s, remote: opts.Remote, session: opts.Session, deferWake: opts.DeferWake}
	s.publisher = p
	reconnect := s.anyMedia
	s.stats.publisherAttached(s.hub.cfg.now(), opts.Remote, reconnect)
	s.log.Info("publisher attached", "remote", opts.Remote, "session", opts.Session, "reconnect", reconnect)
	return p, nil
}

// detach removes p and starts the reconnect window.
func (s *Stream) detach(p *Publisher, reason string) {
	s.mu.Lock()
	if s.publisher != p {
		s.mu.Unlock()
		return
	}
	s.publisher = nil
	s.stats.publisherDetached(s.hub.cfg.now())
	win := s.hub.cfg.ReconnectWindow
	if win > 0 && !s.ended {
		s.idle = time.AfterFunc(win, func() { s.expireIdle() })
	}
	s.mu.Unlock()
	s.log.Info("publisher detached", "reason", reason, "reconnect_window", win)
	if win <= 0 {
		s.end("publisher left")
	}
}

func (s *Stream) expireIdle() {
	s.mu.Lock()
	idle := s.publisher == nil && !s.ended
	s.mu.Unlock()
	if idle {
		s.end("reconnect window expired")
	}
}

// end closes the stream for good: subscribers drain what is left and see io.EOF.
func (s *Stream) end(reason string) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	if s.idle != nil {
		s.idle.Stop()
	}
	s.publisher = nil
	s.flushSeq = s.base + uint64(len(s.pkts))
	close(s.done)
	s.mu.Unlock()
	s.hub.remove(s)
	s.log.Info("stream ended", "reason", reason)
}

// Live reports whether a publisher is attached.
func (s *Stream) Live() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.publisher != nil
}

// Kick detaches the current publisher, if any, ending its session (used when a
// channel is disabled or deleted). The stream ends at once.
func (s *Stream) Kick(reason string) {
	s.mu.Lock()
	p := s.publisher
	s.mu.Unlock()
	if p != nil {
		p.kicked.Store(true)
	}
	s.end(reason)
}

// appendLocked adds one packet that arrived at arrived (nanoseconds since the
// hub's epoch) and, when wake is set, wakes the waiting subscribers; called by
// the publisher with s.mu held.
func (s *Stream) appendLocked(p *Packet, arrived int64, wake bool) {
	if s.ended {
		return
	}
	p.Arrived = arrived
	p.offset = s.bytes
	s.bytes += int64(p.Size())
	seq := s.base + uint64(len(s.pkts))
	s.pkts = append(s.pkts, p)
	syncPoint := false
	switch {
	case p.Header:
		s.hdrSeq, s.hasHdr = seq, true
	case p.Type == flv.TagVideo:
		syncPoint = p.Keyframe
	case p.Type == flv.TagAudio:
		syncPoint = !s.hasVideo
	}
	if syncPoint {
		if s.hasGOP && p.Type == flv.TagVideo {
			s.stats.keyframe(p.Time, s.pkts[s.gop-s.base].Time)
		}
		s.gop, s.hasGOP = seq, true
	}
	s.trim()
	if wake {
		s.wakeLocked()
	}
	if s.mergeSubs > 0 && s.merge > 0 {
		s.batch(p)
	} else {
		s.flushSeq = seq + 1
	}
}

// wakeLocked wakes the subscribers waiting for a packet. Called with s.mu held.
func (s *Stream) wakeLocked() {
	if s.wakeUsed.Load() {
		close(s.wake)
		s.wake = make(chan struct{})
		s.wakeUsed.Store(false)
	}
}

// batch decides when merge subscribers are woken. No packet waits longer than
// the merge window, and batches end on video frames: a video frame flushes the
// batch when waiting for the next one would exceed the window. At 30 fps and a
// 70 ms window that is one write per two frames, video frames waiting at most
// one frame interval. A timer flushes what a stalled or audio-only stream leaves
// pending. Called with s.mu held.
func (s *Stream) batch(p *Packet) {
	if !s.pending {
		s.pending, s.pendingSince = true, p.Arrived
		// When nobody merges for latency, the publisher's Flush ends the
		// batch: no timer per batch (with read batching, ten per second per
		// stream). Subscribe flushes such a batch when a viewer arrives.
		if pub := s.publisher; pub == nil || !pub.deferWake || s.lowLatency.Load() > 0 {
			gen := s.timerGen
			time.AfterFunc(s.merge, func() {
				s.mu.Lock()
				if s.pending && s.timerGen == gen {
					s.flushLocked()
				}
				s.mu.Unlock()
			})
		}
	}
	if p.Type != flv.TagVideo || p.Header {
		return
	}
	if d := p.Time - s.lastVideoTS; s.lastVideoTS != 0 && d > 0 && d < 500 {
		s.videoInterval = d
	}
	s.lastVideoTS = p.Time
	next := p.Arrived + int64(s.videoInterval)*int64(time.Millisecond)
	if s.videoInterval > 0 && next-s.pendingSince > int64(s.merge) {
		s.flushLocked()
	}
}

// flushLocked wakes merge subscribers with everything appended so far.
func (s *Stream) flushLocked() {
	s.pending = false
	s.timerGen++
	s.flushSeq = s.base + uint64(len(s.pkts))
	close(s.flush)
	s.flush = make(chan struct{})
}

// trim drops packets no subscriber may still need: older than the GOP cache and
// further behind the live edge than MaxLag, or past the GOP byte cap. A
// subscriber with a longer MaxLag of its own (patient) keeps what it has not
// read yet, up to its MaxLag.
func (s *Stream) trim() {
	cfg := &s.hub.cfg
	maxLag := uint32(cfg.MaxLag.Milliseconds())
	keep := uint64(math.MaxUint64) // the first packet a patient subscriber still needs
	var patientLag uint32
	for _, sub := range s.patient {
		keep = min(keep, sub.cursor)
		patientLag = max(patientLag, sub.maxLag)
	}
	n := 0
	for n < len(s.pkts)-1 {
		p := s.pkts[n]
		seq := s.base + uint64(n)
		if seq >= keep && s.lastTime-p.Time <= patientLag && s.bytes-p.offset <= cfg.MaxGOPBytes {
			break
		}
		if s.hasGOP && seq < s.gop {
			if s.lastTime-p.Time <= maxLag && s.bytes-p.offset <= cfg.MaxGOPBytes {
				break
			}
		} else if s.bytes-p.offset <= cfg.MaxGOPBytes {
			break
		}
		if s.hasGOP && seq == s.gop {
			s.hasGOP = false // the cached GOP itself overflowed the cap
		}
		n++
	}
	if n == 0 {
		return
	}
	clear(s.pkts[:n])
	s.pkts = s.pkts[n:]
	s.base += uint64(n)
	if s.flushSeq < s.base {
		s.flushSeq = s.base
	}
}

// setHeader records a new sequence header or metadata packet and reports whether
// it differs from the current one (identical headers on reconnect are dropped).
func (s *Stream) setHeader(p *Packet, slot **Packet) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := *slot; cur != nil && bytes.Equal(cur.Data(), p.Data()) {
		return false
	}
	*slot = p
	s.hdrGen++
	if slot == &s.vhdr {
		s.hasVideo = true
	}
	return true
}

// Subscribe adds a reader that starts with the headers and the GOP cache.
func (s *Stream) Subscribe(opts SubscribeOptions) (*Subscriber, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil, ErrNotFound
	}
	if max := s.hub.cfg.MaxViewersPerStream; max > 0 && !opts.Internal && s.subs >= max {
		return nil, fmt.Errorf("%w (%d)", ErrTooManyViewers, max)
	}
	sub := &Subscriber{s: s, opts: opts, merge: opts.Merge && s.merge > 0, maxLag: uint32(s.hub.cfg.MaxLag.Milliseconds())}
	if opts.MaxLag > s.hub.cfg.MaxLag {
		sub.maxLag = uint32(opts.MaxLag.Milliseconds())
		s.patient = append(s.patient, sub)
	}
	sub.begin()
	if !opts.Internal {
		s.subs++
		s.stats.viewerJoined()
	}
	if sub.merge {
		s.mergeSubs++
	}
	if opts.lowLatency() {
		if s.lowLatency.Add(1) == 1 && s.llWake != nil {
			close(s.llWake)
			s.llWake = nil
		}
		if s.pending {
			s.flushLocked() // a batch pending without a timer (see batch)
		}
	}
	return sub, nil
}

func (s *Stream) unsubscribe(sub *Subscriber) {
	s.mu.Lock()
	if !sub.opts.Internal {
		s.subs--
	}
	if i := slices.Index(s.patient, sub); i >= 0 {
		s.patient = slices.Delete(s.patient, i, i+1)
	}
	if sub.merge {
		s.mergeSubs--
	}
	if sub.opts.lowLatency() {
		s.lowLatency.Add(-1)
	}
	s.mu.Unlock()
}

// Tracks reports which tracks the stream carries, from its sequence headers and
// media; before anything is known it reports both.
func (s *Stream) Tracks() (audio, video bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	audio = s.ahdr != nil || s.lastAudio > 0
	video = s.vhdr != nil || s.hasVideo
	if !audio && !video {
		return true, true
	}
	return audio, video
}
