package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/rtmpclient"
)

// publisher pushes the input to the server at the pace of its timestamps,
// looping it with timestamps that keep increasing, and logs when each video
// frame left.
type publisher struct {
	URL   string
	Input *input
	Log   *sendLog

	started atomic.Int64 // nanotime the first media tag was sent, 0 before
	bytes   atomic.Int64 // FLV bytes of media sent
	frames  atomic.Int64 // video frames sent
	late    atomic.Int64 // frames sent more than 100 ms after their due time
}

// Run publishes until ctx ends or the connection fails.
func (p *publisher) Run(ctx context.Context) error {
	conn, err := dialPublish(ctx, p.URL)
	if err != nil {
		return err
	}
	defer conn.Close()

	in := p.Input
	if in.Metadata != nil {
		if err := conn.WriteTag(flv.TagScript, 0, in.Metadata); err != nil {
			return err
		}
	}
	if err := conn.WriteTag(flv.TagVideo, 0, in.Video); err != nil {
		return err
	}
	if in.Audio != nil {
		if err := conn.WriteTag(flv.TagAudio, 0, in.Audio); err != nil {
			return err
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := nanotime()
	p.started.Store(start)
	for pass := uint32(0); ; pass++ {
		base := pass * in.Period
		for i := range in.Media {
			t := &in.Media[i]
			ts := base + t.Timestamp
			due := start + int64(ts)*int64(time.Millisecond)
			now := nanotime()
			if wait := due - now; wait > 0 {
				timer.Reset(time.Duration(wait))
				select {
				case <-ctx.Done():
					return nil
				case <-timer.C:
				}
				now = nanotime()
			} else if -wait > int64(100*time.Millisecond) && t.Type == flv.TagVideo {
				p.late.Add(1)
			}
			if ctx.Err() != nil {
				return nil
			}
			if t.Type == flv.TagVideo {
				p.Log.Put(ts, now)
			}
			if err := conn.WriteTag(t.Type, ts, t.Data); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("publisher: %w", err)
			}
			p.bytes.Add(int64(flv.TagHeaderSize + len(t.Data) + flv.PrevSizeLength))
			if t.Type == flv.TagVideo {
				p.frames.Add(1)
			}
		}
	}
}

// dialPublish connects with the project's RTMP client (shared/rtmpclient): it
// waits for NetStream.Publish.Start, so a refused publish fails here, and every
// step has a deadline.
func dialPublish(ctx context.Context, raw string) (*rtmpclient.Publisher, error) {
	p, err := rtmpclient.Publish(ctx, raw, rtmpclient.Config{})
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", redact(raw), err)
	}
	return p, nil
}
