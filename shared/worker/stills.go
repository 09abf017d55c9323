package worker

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/motion"
	"github.com/livestack/livestack/shared/media/snapshot"
)

// Pixels selects which of a channel's pixel work a worker does.
type Pixels int

const (
	// TranscodeOnly runs the ladder and watermark only: the standalone, whose
	// gateway takes snapshots and motion clips in process (the zero value).
	TranscodeOnly Pixels = iota
	// AllPixels also takes the channel's snapshots and motion clips from its
	// own pull of the stream: the AWS worker task, whose gateway does neither.
	AllPixels
)

// NeedsStills reports whether a channel takes snapshots or motion clips.
func NeedsStills(ch *channel.Channel) bool {
	return ch.Recording.Snapshots || ch.Recording.Motion.Enabled
}

// safeBroadcastID is what a broadcast id from the scheduler must look like to
// be used in blob keys.
var safeBroadcastID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// runStills takes the channel's snapshots and motion clips, each from its own
// pull of the stream, until the stream ends or ctx ends. A pull that drops
// while the stream is live is reopened with backoff.
func (w *worker) runStills(ctx context.Context) error {
	bid := w.cfg.BroadcastID
	if !safeBroadcastID.MatchString(bid) {
		bid = snapshot.BroadcastID(time.Now())
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	if w.ch.Recording.Snapshots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dec := snapshot.NewPersistent(snapshot.DecoderConfig{FFmpeg: w.cfg.FFmpeg, Logger: w.cfg.Logger})
			defer dec.Close()
			interval := time.Duration(w.ch.Recording.SnapshotSeconds) * time.Second
			w.log.Info("snapshots started", "interval", interval, "broadcast", bid)
			errs[0] = w.pullLoop(ctx, "snapshots", func(ctx context.Context, src snapshot.Source) error {
				return snapshot.Run(ctx, snapshot.Config{
					ChannelID: w.ch.ID, BroadcastID: bid, Interval: interval,
					Blob: w.cfg.Blob, Index: w.cfg.Index, Decoder: dec,
					Counters: w.cfg.SnapshotCounters, Logger: w.cfg.Logger,
				}, src)
			})
		}()
	}
	if w.ch.Recording.Motion.Enabled {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := w.ch.Recording.Motion
			w.log.Info("motion capture started", "percent", m.Percent, "diff", m.Diff, "timeout_s", m.TimeoutSeconds, "broadcast", bid)
			errs[1] = w.pullLoop(ctx, "motion capture", func(ctx context.Context, src snapshot.Source) error {
				return motion.Run(ctx, motion.Config{
					ChannelID: w.ch.ID, BroadcastID: bid, Settings: m,
					FFmpeg: w.cfg.FFmpeg, SpoolDir: w.cfg.TempDir,
					Blob: w.cfg.Blob, Index: w.cfg.Index,
					Counters: w.cfg.MotionCounters, Logger: w.cfg.Logger,
				}, src)
			})
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// pullLoop opens the source and hands it to run until the stream is gone
// (the source answers ErrSourceGone) or ctx ends. run returning, with or
// without an error, means the pull ended: the stream's end, or a gateway that
// dropped a slow reader, so the source is opened again to tell which; failures
// back off as the ladder's restarts do (MinBackoff doubling to MaxBackoff,
// reset after StableRun), and MaxSourceFailures consecutive failures to open
// the source end the loop with an error.
func (w *worker) pullLoop(ctx context.Context, what string, run func(context.Context, snapshot.Source) error) error {
	backoff := w.cfg.MinBackoff
	failures := 0
	for {
		wait := backoff
		r, err := w.cfg.Source.Open(ctx)
		switch {
		case ctx.Err() != nil:
			if r != nil {
				r.Close()
			}
			return nil
		case errors.Is(err, ErrSourceGone):
			w.log.Info(what + " stopped: the stream ended")
			return nil
		case err != nil:
			failures++
			if failures >= w.cfg.MaxSourceFailures {
				return fmt.Errorf("%s %s: source unavailable after %d attempts: %w", what, w.ch.ID, failures, err)
			}
			w.log.Warn(what+": source failed; retrying", "error", err, "in", backoff)
			backoff = min(backoff*2, w.cfg.MaxBackoff)
		default:
			failures = 0
			start := time.Now()
			err = run(ctx, tagSource{r})
			r.Close()
			if ctx.Err() != nil {
				return nil
			}
			if time.Since(start) > w.cfg.StableRun {
				backoff = w.cfg.MinBackoff
			}
			wait = backoff
			if err == nil {
				// The pull ended cleanly: look again soon, the stream is
				// normally gone.
				wait = min(backoff, 200*time.Millisecond)
			} else {
				w.log.Warn(what+" interrupted; resuming", "error", err, "in", backoff)
				backoff = min(backoff*2, w.cfg.MaxBackoff)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// tagSource adapts the worker's Source (the gateway's HTTP-FLV, or the hub)
// to the snapshot/motion input: the same pull, with the worker's 404 = "not
// live" rule and connect timeouts, classified as snapshot.OpenHTTPFLV's does.
type tagSource struct{ r TagReader }

func (t tagSource) Next(ctx context.Context) (snapshot.Packet, error) {
	for {
		if err := ctx.Err(); err != nil {
			return snapshot.Packet{}, err
		}
		tag, err := t.r.Next()
		if err != nil {
			return snapshot.Packet{}, err
		}
		if p, ok := snapshot.Classify(tag.Type, tag.Timestamp, tag.Data); ok {
			return p, nil
		}
	}
}

func (t tagSource) Close() error { return t.r.Close() }
