package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"

	"github.com/livestack/livestack/shared/media/flv"
)

// publisher pushes the input to the server at the pace of its timestamps,
// looping it with timestamps that keep increasing, and logs when each video
// frame left.
type publisher struct {
	URL   string
	Input *input
	Log   *sendLog

	bytes  atomic.Int64 // FLV bytes of media sent
	frames atomic.Int64 // video frames sent
	late   atomic.Int64 // frames sent more than 100 ms after their due time
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

// Chunk stream ids and chunk size of the media the publisher sends (what OBS uses).
const (
	csidData      = 4
	csidAudio     = 6
	csidVideo     = 7
	pushChunkSize = 4096
)

// rtmpPublish is one publishing connection made with go-rtmp's client.
type rtmpPublish struct {
	cc     *rtmp.ClientConn
	stream *rtmp.Stream
	stop   func() bool
}

// dialPublish connects to rtmp://host:port/app/name?query, creates a stream
// and publishes name?query on it. The connection closes when ctx ends.
func dialPublish(ctx context.Context, raw string) (*rtmpPublish, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	app, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if u.Scheme != "rtmp" || !ok || app == "" || name == "" {
		return nil, fmt.Errorf("push URL %s is not rtmp://host:port/app/name", redact(raw))
	}
	if u.RawQuery != "" {
		name += "?" + u.RawQuery
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "1935")
	}
	cc, err := rtmp.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "rtmp", addr, &rtmp.ConnConfig{})
	if err != nil {
		return nil, fmt.Errorf("publish: dial %s: %w", addr, err)
	}
	// go-rtmp's calls take no context: closing the connection unblocks them.
	p := &rtmpPublish{cc: cc, stop: context.AfterFunc(ctx, func() { cc.Close() })}
	fail := func(step string, err error) (*rtmpPublish, error) {
		p.Close()
		return nil, fmt.Errorf("publish: %s: %w", step, err)
	}
	if err := cc.Connect(&message.NetConnectionConnect{Command: message.NetConnectionConnectCommand{
		App: app, Type: "nonprivate", FlashVer: "FMLE/3.0 (compatible; livestack-loadtest)",
		TCURL: "rtmp://" + u.Host + "/" + app,
	}}); err != nil {
		return fail("connect", err)
	}
	if p.stream, err = cc.CreateStream(nil, pushChunkSize); err != nil {
		return fail("create stream", err)
	}
	if err := p.stream.Publish(&message.NetStreamPublish{PublishingName: name, PublishingType: "live"}); err != nil {
		return fail("publish", err)
	}
	return p, nil
}

// WriteTag sends one FLV tag body; a script body goes out as @setDataFrame.
func (p *rtmpPublish) WriteTag(typ flv.TagType, ts uint32, data []byte) error {
	if err := p.cc.LastError(); err != nil {
		return fmt.Errorf("connection closed: %w", err)
	}
	var err error
	switch typ {
	case flv.TagAudio:
		err = p.stream.Write(csidAudio, ts, &message.AudioMessage{Payload: bytes.NewReader(data)})
	case flv.TagVideo:
		err = p.stream.Write(csidVideo, ts, &message.VideoMessage{Payload: bytes.NewReader(data)})
	case flv.TagScript:
		err = p.stream.Write(csidData, ts, &message.DataMessage{Name: "@setDataFrame", Encoding: message.EncodingTypeAMF0, Body: bytes.NewReader(data)})
	default:
		err = fmt.Errorf("tag type %d", typ)
	}
	if err != nil {
		return fmt.Errorf("write %s tag: %w", typ, err)
	}
	return nil
}

// Close ends the publish.
func (p *rtmpPublish) Close() error {
	p.stop()
	return p.cc.Close()
}
