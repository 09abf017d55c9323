package main

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/rtmpclient"
)

// The scheduler of the publishers mode; the mode's comment (publishers.go)
// says how it sends and why.

const (
	// pubTick is how often a shard wakes up to send the frames due.
	pubTick = 5 * time.Millisecond
	// blockWait is the longest a shard waits for one publisher's socket
	// before handing the publisher to a goroutine of its own.
	blockWait = time.Millisecond
)

// camCursor walks the input at real-time pace, looping it with timestamps
// that keep increasing (pass × Period on top of the file's).
type camCursor struct {
	in    *input
	start int64 // nanotime timestamp 0 is due
	pass  uint32
	idx   int // next tag of in.Media
}

// peek returns the next tag, its timestamp and when it is due.
func (c *camCursor) peek() (*flv.Tag, uint32, int64) {
	t := &c.in.Media[c.idx]
	ts := c.pass*c.in.Period + t.Timestamp
	return t, ts, c.start + int64(ts)*int64(time.Millisecond)
}

func (c *camCursor) advance() {
	c.idx++
	if c.idx == len(c.in.Media) {
		c.idx, c.pass = 0, c.pass+1
	}
}

// pubConn is what a shard uses of a publisher's connection
// (*rtmpclient.Publisher).
type pubConn interface {
	WriteChunks(b []byte, deadline time.Time) error
	Flush(deadline time.Time) error
}

// tagAppender encodes a tag into a batch (rtmpclient's AppendTag).
type tagAppender func(dst []byte, typ flv.TagType, ts uint32, data []byte) ([]byte, error)

// appendDue appends every tag due by now to dst and moves past them. n is
// their size in an FLV file, what the mode counts as sent.
func (c *camCursor) appendDue(dst []byte, now int64, appendTag tagAppender) (_ []byte, n int64, err error) {
	for {
		t, ts, due := c.peek()
		if due > now {
			return dst, n, nil
		}
		if dst, err = appendTag(dst, t.Type, ts, t.Data); err != nil {
			return dst, n, err
		}
		n += int64(flv.TagHeaderSize + len(t.Data) + flv.PrevSizeLength)
		c.advance()
	}
}

// nextBatch is when the next batch is due: the due time of the next video
// tag, or of the next tag if the input has no video.
func (c *camCursor) nextBatch() int64 {
	d := *c
	for range len(c.in.Media) {
		t, _, due := d.peek()
		if t.Type == flv.TagVideo {
			return due
		}
		d.advance()
	}
	_, _, due := c.peek()
	return due
}

// phaseOffset delays publisher n's start by a fraction of a frame interval
// (the golden-ratio sequence, even for any count), so the publishers' frames
// fall evenly over the shards' ticks whatever the ramp.
func phaseOffset(n int, in *input) int64 {
	frame := float64(in.Period) * float64(time.Millisecond) / float64(max(in.VideoFrames, 1))
	_, frac := math.Modf(float64(n) * 0.6180339887498949)
	return int64(frac * frame)
}

// pubShard sends the media of its publishers from one goroutine.
type pubShard struct {
	wg *sync.WaitGroup // of the run: the drain goroutines

	mu       sync.Mutex
	incoming []*camPublisher // joined since the last tick

	// Owned by run.
	due  pubHeap         // by next batch due
	slow []*camPublisher // handed to their drain goroutine
	buf  []byte          // the batch being sent, reused: a blocked write keeps its own copy
}

// add makes p one of the shard's publishers from the next tick on.
func (s *pubShard) add(p *camPublisher) {
	s.mu.Lock()
	s.incoming = append(s.incoming, p)
	s.mu.Unlock()
}

func (s *pubShard) run(ctx context.Context) {
	t := time.NewTicker(pubTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.tick(ctx)
	}
}

// tick sends every batch due by now.
func (s *pubShard) tick(ctx context.Context) {
	s.mu.Lock()
	for _, p := range s.incoming {
		heap.Push(&s.due, p)
	}
	clear(s.incoming)
	s.incoming = s.incoming[:0]
	s.mu.Unlock()

	now := nanotime()
	slow := s.slow[:0]
	for _, p := range s.slow {
		switch {
		case p.slow.Load():
			storeMax(&p.maxLag, now-p.blockedDue) // still waiting for its socket
			slow = append(slow, p)
		case p.hasFailed():
		default:
			heap.Push(&s.due, p) // drained: back on schedule, behind by what it owes
		}
	}
	clear(s.slow[len(slow):])
	s.slow = slow

	// Publishers that become due while this tick runs wait for the next one.
	for len(s.due) > 0 && s.due[0].next <= now {
		if s.send(ctx, s.due[0]) {
			heap.Fix(&s.due, 0)
		} else {
			heap.Pop(&s.due)
		}
	}
}

// send writes every tag of p due by now in one write. It reports whether p
// stays on the shard's schedule: not when its write blocked (p goes to its
// own goroutine until the queue is written) or failed.
func (s *pubShard) send(ctx context.Context, p *camPublisher) bool {
	now := nanotime()
	due := p.next
	storeMax(&p.maxWake, now-due)
	buf, n, err := p.cur.appendDue(s.buf[:0], now, p.appendTag)
	s.buf = buf[:0]
	p.next = p.cur.nextBatch()
	if err == nil {
		err = p.conn.WriteChunks(buf, time.Now().Add(blockWait))
	}
	switch {
	case err == nil:
		storeMax(&p.maxLag, nanotime()-due)
		p.bytes.Add(n)
		return true
	case errors.Is(err, rtmpclient.ErrBlocked):
		p.bytes.Add(n) // queued in the connection: it goes out before anything else
		p.blockedDue = due
		p.slow.Store(true)
		s.slow = append(s.slow, p)
		s.wg.Go(func() { p.drain(ctx) })
		return false
	default:
		p.fail(ctx, fmt.Errorf("%s: %w", p.channel, err))
		return false
	}
}

// drain waits until what a blocked write queued is written, then hands p
// back to its shard. The connection fails when the server takes nothing for
// the client's write timeout.
func (p *camPublisher) drain(ctx context.Context) {
	if err := p.conn.Flush(time.Time{}); err != nil {
		p.fail(ctx, fmt.Errorf("%s: %w", p.channel, err))
	} else {
		storeMax(&p.maxLag, nanotime()-p.blockedDue)
	}
	p.slow.Store(false)
}

// pubHeap orders a shard's publishers by when their next batch is due.
type pubHeap []*camPublisher

func (h pubHeap) Len() int           { return len(h) }
func (h pubHeap) Less(i, j int) bool { return h[i].next < h[j].next }
func (h pubHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pubHeap) Push(x any)        { *h = append(*h, x.(*camPublisher)) }
func (h *pubHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}
