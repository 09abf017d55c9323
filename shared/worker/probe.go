package worker

import (
	"context"
	"errors"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
)

// SourceInfo is what the worker learned from the first seconds of the source.
type SourceInfo struct {
	Width  int     `json:"width"`
	Height int     `json:"height"`
	FPS    float64 `json:"fps"`
	// KeyframeInterval between the first two keyframes; 0 if not seen.
	KeyframeInterval time.Duration `json:"keyframeInterval"`
	// VideoBitrate measured over the first GOP, bit/s; 0 if unknown.
	VideoBitrate int    `json:"videoBitrate"`
	VideoCodec   string `json:"videoCodec"`
	AudioCodec   string `json:"audioCodec,omitempty"`
}

// probeLimits bound the probe: it ends at the second keyframe, after
// probeMaxMedia of media, or after the wall-clock timeout.
const probeMaxMedia = 10 * time.Second

type tagOrErr struct {
	tag flv.Tag
	err error
}

// readTags runs r.Next in a goroutine so the probe can be bounded in time;
// the channel is closed after the first error.
func readTags(ctx context.Context, r TagReader) <-chan tagOrErr {
	ch := make(chan tagOrErr, 256)
	go func() {
		defer close(ch)
		for {
			t, err := r.Next()
			select {
			case ch <- tagOrErr{t, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// errNoVideo: the source has no video to transcode.
var errNoVideo = errors.New("source has no video")

// probe reads tags until it knows the picture size and has seen the given
// number of keyframes (two give the keyframe interval) or a limit is hit, and returns the tags read so far so
// they can be replayed to ffmpeg. A read error ends the probe early with it.
func probe(ctx context.Context, tags <-chan tagOrErr, timeout time.Duration, keyframes int) (SourceInfo, []flv.Tag, error) {
	var (
		info       SourceInfo
		buf        []flv.Tag
		keyTimes   []uint32
		gopBytes   int
		gopFrames  int
		haveConfig bool
		spsFPS     float64
		firstTS    uint32
		haveFirst  bool
	)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	finish := func() (SourceInfo, []flv.Tag, error) {
		if !haveConfig {
			return info, buf, errNoVideo
		}
		if len(keyTimes) >= 2 {
			d := time.Duration(keyTimes[1]-keyTimes[0]) * time.Millisecond
			info.KeyframeInterval = d
			if d > 0 {
				info.VideoBitrate = int(float64(gopBytes*8) / d.Seconds())
				info.FPS = float64(gopFrames) / d.Seconds()
			}
		}
		if info.FPS <= 0 {
			info.FPS = spsFPS
		}
		return info, buf, nil
	}
	for {
		select {
		case <-ctx.Done():
			return info, buf, ctx.Err()
		case <-timer.C:
			return finish()
		case te, ok := <-tags:
			if !ok {
				return finish()
			}
			if te.err != nil {
				return info, buf, te.err
			}
			t := te.tag
			buf = append(buf, t)
			switch t.Type {
			case flv.TagAudio:
				if a, err := flv.ParseAudio(t.Data); err == nil && info.AudioCodec == "" {
					info.AudioCodec = a.Codec
				}
			case flv.TagVideo:
				v, err := flv.ParseVideo(t.Data)
				if err != nil {
					continue
				}
				info.VideoCodec = v.Codec
				switch v.PacketType {
				case flv.VideoSequenceHeader:
					haveConfig = true
					if c, err := flv.ParseAVCConfig(v.Payload); err == nil {
						info.Width, info.Height, spsFPS = c.Width, c.Height, c.FPS
					}
				case flv.VideoFrames:
					if v.Keyframe {
						keyTimes = append(keyTimes, t.Timestamp)
						if len(keyTimes) >= keyframes && haveConfig {
							return finish()
						}
					}
					if len(keyTimes) == 1 {
						gopBytes += len(t.Data)
						gopFrames++
					}
				}
			}
			if t.Type != flv.TagScript {
				if !haveFirst {
					firstTS, haveFirst = t.Timestamp, true
				} else if t.Timestamp > firstTS && time.Duration(t.Timestamp-firstTS)*time.Millisecond > probeMaxMedia {
					return finish()
				}
			}
		}
	}
}
