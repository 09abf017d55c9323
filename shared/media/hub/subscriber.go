package hub

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
)

// SubscribeOptions tune one subscriber.
type SubscribeOptions struct {
	// Merge asks to be woken once per merge window instead of once per packet
	// (viewers; not packagers or relays, which want every packet at once).
	Merge bool
	// Internal subscribers (packagers, recorders, relays) do not count as viewers
	// and are not limited by MaxViewersPerStream.
	Internal bool
	// LowLatency marks an internal subscriber whose output people watch live
	// and would see delayed (the LL-HLS packager, a transcoder). Viewers
	// (non-internal subscribers) always count as such. See Stream.LowLatency.
	LowLatency bool
	// MaxLag is how far this subscriber may fall behind the live edge before
	// it skips to the latest keyframe; 0 or less than the hub's MaxLag means
	// the hub's. The stream keeps what such a subscriber has not read yet,
	// up to MaxLag, and no more: a recorder, which wants every packet and
	// has no viewer waiting, rides out a CPU stall of seconds instead of
	// cutting its file at a gap.
	MaxLag time.Duration
}

func (o SubscribeOptions) lowLatency() bool { return !o.Internal || o.LowLatency }

// Subscriber reads a stream through its own cursor. It is used by one goroutine.
type Subscriber struct {
	s     *Stream
	opts  SubscribeOptions
	merge bool
	// maxLag is the lag (ms of media) past which it skips.
	maxLag uint32

	initial []*Packet
	cursor  uint64
	// headersUntil: header packets below this sequence were sent in the initial burst.
	headersUntil uint64
	waitKey      bool
	skips        []time.Time
	closed       bool

	bytesOut atomic.Int64
	skipped  atomic.Int64
}

// Stream returns the subscribed stream.
func (sub *Subscriber) Stream() *Stream { return sub.s }

// Read returns the next packets, appended to dst[:0]. The first call returns the
// metadata, sequence headers and the GOP cache (starting on a keyframe) at once;
// later calls block until new packets are ready (each packet, or each merge window
// for merge subscribers). It returns io.EOF when the stream has ended and
// everything was read, ErrTooSlow when the subscriber kept falling behind, and
// ctx.Err() when ctx ends.
//
// Pass back the previous result whole as dst: Read clears it first, so that
// no entry past the new batch keeps an old packet alive, and with it the
// block it was carved from (packetAlloc). Entries past len(dst) are nil
// already, cleared by the Read that returned dst.
func (sub *Subscriber) Read(ctx context.Context, dst []*Packet) ([]*Packet, error) {
	clear(dst)
	dst = dst[:0]
	s := sub.s
	initial := sub.initial != nil
	if initial {
		dst = append(dst, sub.initial...)
		sub.initial = nil
	}
	for {
		s.mu.RLock()
		head := s.base + uint64(len(s.pkts))
		limit := head
		if sub.merge && !initial && !s.ended {
			limit = s.flushSeq
		}
		if sub.cursor < head && (sub.cursor < s.base || s.lastTime-s.pkts[sub.cursor-s.base].Time > sub.maxLag) {
			var ok bool
			if dst, ok = sub.skip(head, dst); !ok {
				s.mu.RUnlock()
				s.hub.countDrop()
				s.stats.dropped.Add(1)
				return dst, ErrTooSlow
			}
		}
		for sub.cursor < limit {
			p := s.pkts[sub.cursor-s.base]
			seq := sub.cursor
			sub.cursor++
			if p.Header {
				if seq < sub.headersUntil {
					continue
				}
				dst = append(dst, p)
				continue
			}
			if sub.waitKey {
				if !(p.Keyframe || (p.Type == flv.TagAudio && !s.hasVideo)) {
					continue
				}
				sub.waitKey = false
			}
			dst = append(dst, p)
		}
		if len(dst) > 0 {
			s.mu.RUnlock()
			return dst, nil
		}
		if s.ended {
			s.mu.RUnlock()
			return dst, io.EOF
		}
		initial = false
		var ch chan struct{}
		if sub.merge {
			ch = s.flush
		} else {
			ch = s.wake
			s.wakeUsed.Store(true)
		}
		done := s.done
		s.mu.RUnlock()
		select {
		case <-ch:
		case <-done:
		case <-ctx.Done():
			return dst, ctx.Err()
		}
	}
}

// begin positions a new subscriber on the GOP cache and queues the current
// headers, restamped to the GOP's start so timestamps never go backwards.
// Called with the stream lock held.
func (sub *Subscriber) begin() {
	s := sub.s
	dst := make([]*Packet, 0, 3)
	head := s.base + uint64(len(s.pkts))
	sub.cursor, sub.waitKey = head, true
	t := s.lastTime
	if s.hasGOP && s.gop >= s.base {
		sub.cursor, sub.waitKey = s.gop, false
		t = s.pkts[s.gop-s.base].Time
	}
	sub.headersUntil = head
	sub.initial = s.appendHeaders(dst, t)
}

// appendHeaders appends the current metadata and sequence headers, the
// headers restamped to t. Called with the stream lock held.
func (s *Stream) appendHeaders(dst []*Packet, t uint32) []*Packet {
	if s.meta != nil {
		dst = append(dst, s.meta) // script tags stay at 0: players treat later ones as data streams
	}
	for _, h := range []*Packet{s.vhdr, s.ahdr} {
		if h != nil {
			dst = append(dst, h.withTime(t))
		}
	}
	return dst
}

// skip moves a lagging subscriber to the latest sync point; it reports false
// when the subscriber skipped too often and must be dropped. When the skip
// passes over a header packet the subscriber has not read, the current headers
// are appended to dst, restamped to where it resumes, so a decoder or muxer
// that had not been configured yet (or that missed a change) can go on.
func (sub *Subscriber) skip(head uint64, dst []*Packet) ([]*Packet, bool) {
	s := sub.s
	now := s.hub.cfg.now()
	cut := now.Add(-s.hub.cfg.SkipPeriod)
	kept := sub.skips[:0]
	for _, t := range sub.skips {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	sub.skips = append(kept, now)
	sub.skipped.Add(1)
	s.stats.skips.Add(1)
	s.hub.countSkip()
	if len(sub.skips) > s.hub.cfg.MaxSkips {
		return dst, false
	}
	from := max(sub.cursor, sub.headersUntil)
	t := s.lastTime
	if s.hasGOP && s.gop >= s.base && s.gop > sub.cursor {
		sub.cursor, sub.waitKey = s.gop, false
		t = s.pkts[s.gop-s.base].Time
	} else {
		sub.cursor, sub.waitKey = head, true
	}
	if s.hasHdr && s.hdrSeq >= from && s.hdrSeq < sub.cursor {
		dst = s.appendHeaders(dst, t)
	}
	return dst, true
}

// Skipped is how many times the subscriber skipped to a keyframe.
func (sub *Subscriber) Skipped() int64 { return sub.skipped.Load() }

// AddBytesOut records bytes written to the viewer, for stats.
func (sub *Subscriber) AddBytesOut(n int) {
	sub.bytesOut.Add(int64(n))
	sub.s.stats.bytesOut.Add(int64(n))
}

// Close releases the subscriber.
func (sub *Subscriber) Close() {
	if sub.closed {
		return
	}
	sub.closed = true
	sub.s.unsubscribe(sub)
}
