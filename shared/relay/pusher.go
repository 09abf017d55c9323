package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/rtmpclient"
)

// pusher pushes one stream to one target until the stream ends or the Manager
// closes, reconnecting with backoff.
type pusher struct {
	m       *Manager
	stream  *hub.Stream
	url     string            // the target URL; it carries the stream key
	target  rtmpclient.Target // url parsed, for Scrub
	log     *slog.Logger
	invalid bool // the URL does not parse; never started

	mu    sync.Mutex
	state State
	bytes atomic.Int64
}

func newPusher(m *Manager, s *hub.Stream, rawURL string) *pusher {
	p := &pusher{m: m, stream: s, url: rawURL}
	redacted := rtmpclient.Redact(rawURL)
	p.log = m.log.With("stream", s.Key(), "target", redacted)
	p.state = State{URL: redacted, Status: StatusConnecting, Since: time.Now()}
	t, err := rtmpclient.ParseURL(rawURL)
	if err != nil {
		p.invalid = true
		p.state.Status = StatusStopped
		p.state.LastError = err.Error()
		return p
	}
	p.target = t
	return p
}

func (p *pusher) snapshot() State {
	p.mu.Lock()
	st := p.state
	p.mu.Unlock()
	st.Bytes = p.bytes.Load()
	return st
}

// setStatus moves to status; a non-nil err becomes LastError.
func (p *pusher) setStatus(status Status, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state.Status != status {
		p.state.Status, p.state.Since = status, time.Now()
	}
	if err != nil {
		p.state.LastError = p.target.Scrub(err.Error())
	}
}

func (p *pusher) countReconnect() {
	p.mu.Lock()
	p.state.Reconnects++
	p.mu.Unlock()
	p.m.reconnects.Add(1)
}

// run pushes until ctx ends (the Manager closes) or the stream ends.
func (p *pusher) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.stream.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	cfg := &p.m.cfg
	p.log.Info("relay starting")
	attempt := 0
	for {
		liveFor, err := p.session(ctx)
		if err == nil || ctx.Err() != nil {
			break
		}
		if liveFor >= cfg.stableAfter {
			attempt = 0
		}
		attempt++
		delay := backoff(attempt, cfg.MinBackoff, cfg.MaxBackoff, rand.Int64N)
		p.setStatus(StatusBackoff, err)
		p.log.Warn("relay failed; retrying", "error", p.target.Scrub(err.Error()), "retry_in", delay.Round(time.Millisecond), "attempt", attempt)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		if ctx.Err() != nil {
			break
		}
		p.countReconnect()
	}
	p.setStatus(StatusStopped, nil)
	p.log.Info("relay stopped", "bytes", p.bytes.Load())
}

// session runs one connection: dial and publish, then send the stream from a
// fresh subscription (headers, then the GOP cache from a keyframe) until
// something fails. It returns how long the target was live, and nil when the
// pusher should stop (the stream ended or ctx ended).
func (p *pusher) session(ctx context.Context) (_ time.Duration, err error) {
	cfg := &p.m.cfg
	p.setStatus(StatusConnecting, nil)
	conn, err := rtmpclient.Dial(ctx, p.url, rtmpclient.Options{
		Timeout:      cfg.DialTimeout,
		WriteTimeout: cfg.WriteTimeout,
		ChunkSize:    cfg.ChunkSize,
		TLS:          cfg.tlsConfig(p.target.Host),
	})
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil
		}
		return 0, err
	}
	// Subscribing after the target accepted starts it on the freshest keyframe.
	sub, err := p.stream.Subscribe(hub.SubscribeOptions{Internal: true})
	if err != nil {
		conn.Close(true)
		if errors.Is(err, hub.ErrNotFound) || ctx.Err() != nil {
			return 0, nil // the stream ended
		}
		return 0, fmt.Errorf("subscribe: %w", err)
	}
	defer sub.Close()
	// Failures reset the connection; a stop unpublishes cleanly.
	defer func() { conn.Close(err == nil) }()

	liveAt := time.Now()
	p.setStatus(StatusLive, nil)
	p.log.Info("relay live")

	// The session also ends when the target closes or sends an error status.
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-conn.Failed():
			cancel(conn.Err())
		case <-sctx.Done():
		}
	}()

	var (
		pkts  []*hub.Packet
		clock rebaser
		first = true
	)
	for {
		pkts, err = sub.Read(sctx, pkts)
		if first && len(pkts) > 0 {
			first = false
			if pkts[0].Type != flv.TagScript {
				// The publisher sent no metadata; targets such as YouTube want some.
				audio, video := p.stream.Tracks()
				if werr := conn.WriteTag(sctx, flv.TagScript, 0, synthMetadata(p.stream.Stats(), audio, video)); werr != nil {
					return time.Since(liveAt), sessionErr(ctx, sctx, fmt.Errorf("send metadata: %w", werr))
				}
			}
		}
		for _, pkt := range pkts {
			if werr := conn.WriteTag(sctx, pkt.Type, clock.time(pkt), pkt.Data()); werr != nil {
				return time.Since(liveAt), sessionErr(ctx, sctx, fmt.Errorf("send %s: %w", pkt.Type, werr))
			}
			n := int64(pkt.Size())
			p.bytes.Add(n)
			p.m.bytes.Add(n)
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return time.Since(liveAt), nil
		case errors.Is(err, hub.ErrTooSlow):
			return time.Since(liveAt), fmt.Errorf("target too slow, dropped by the hub: %w", err)
		default:
			return time.Since(liveAt), sessionErr(ctx, sctx, fmt.Errorf("read stream: %w", err))
		}
	}
}

// sessionErr says why a session ended: nil when ctx ended (the pusher stops),
// the target's failure when that cancelled sctx, else err.
func sessionErr(ctx, sctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	if sctx.Err() != nil {
		return context.Cause(sctx)
	}
	return err
}

// rebaser maps hub timestamps onto the target's timeline: the first media
// packet of a session is at 0, and each track only moves forward.
type rebaser struct {
	started      bool
	base         uint32
	audio, video uint32
}

func (r *rebaser) time(p *hub.Packet) uint32 {
	if p.Type == flv.TagScript {
		return 0
	}
	if !r.started {
		r.started, r.base = true, p.Time
	}
	var t uint32
	if d := int32(p.Time - r.base); d > 0 { // signed: survives the 32-bit wrap
		t = uint32(d)
	}
	last := &r.audio
	if p.Type == flv.TagVideo {
		last = &r.video
	}
	if t < *last {
		t = *last
	}
	*last = t
	return t
}

// backoff returns the pause before retry n (from 1): min doubled per retry,
// capped at max, with equal jitter (uniform in [d/2, d]) and never below min.
// rnd(k) returns a number in [0, k).
func backoff(n int, min, max time.Duration, rnd func(int64) int64) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	j := half + time.Duration(rnd(int64(d-half)+1))
	if j < min {
		j = min
	}
	return j
}
