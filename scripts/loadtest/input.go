package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
)

// input is the FLV the publisher loops: the headers it sends once and the
// media tags it sends at the pace of their timestamps.
type input struct {
	Path     string
	Metadata []byte // onMetaData script body, nil if absent
	Video    []byte // AVC sequence header
	Audio    []byte // AAC sequence header, nil if the file has no audio
	Media    []flv.Tag
	// Period is the timestamp distance from one pass to the next (ms): the
	// media duration plus one frame, so looping keeps the cadence.
	Period uint32
	// Bytes is the FLV size of one pass of media tags (tag header, payload,
	// PreviousTagSize), what a viewer receives per pass.
	Bytes         int64
	VideoFrames   int
	Keyframes     int
	Width, Height int
}

// Bitrate is the FLV bitrate of the media in bit/s.
func (in *input) Bitrate() float64 {
	return float64(in.Bytes) * 8 / (float64(in.Period) / 1000)
}

// FPS is the video frame rate.
func (in *input) FPS() float64 {
	return float64(in.VideoFrames) / (float64(in.Period) / 1000)
}

func (in *input) String() string {
	return fmt.Sprintf("%s: %dx%d %.1f fps, keyframe every %.1f s, %.2f Mbit/s FLV, %.1f s loop",
		filepath.Base(in.Path), in.Width, in.Height, in.FPS(),
		float64(in.VideoFrames)/in.FPS()/float64(max(in.Keyframes, 1)),
		in.Bitrate()/1e6, float64(in.Period)/1000)
}

// inputPreset is an input the harness encodes once with ffmpeg.
type inputPreset struct {
	Name          string // in the cache file name
	Width, Height int
	FPS           int
	VideoKbps     int // CBR
	AudioKbps     int
	GOP           int // frames between keyframes
}

var (
	// viewerInput is the stream docs/performance.md uses for fan-out and
	// latency: 720p30 H.264 CBR 2.5 Mbit/s, a keyframe every 2 s, AAC 128 kbit/s.
	viewerInput = inputPreset{Name: "720p30-2500k", Width: 1280, Height: 720, FPS: 30, VideoKbps: 2500, AudioKbps: 128, GOP: 60}
	// cameraInput is a camera or device pushing to be recorded: about 1 Mbit/s
	// of FLV (720p30 H.264 CBR 900 kbit/s, a keyframe every 2 s, AAC 96 kbit/s).
	cameraInput = inputPreset{Name: "720p30-1000k", Width: 1280, Height: 720, FPS: 30, VideoKbps: 900, AudioKbps: 96, GOP: 60}
)

// defaultInputPath is where the generated input is cached.
func defaultInputPath(p inputPreset, seconds int) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "livestack", fmt.Sprintf("loadtest-%s-%ds.flv", p.Name, seconds))
}

// ffmpegArgs is the encode of preset p: H.264 CBR with a fixed GOP (no scene
// cuts) and stereo AAC at 44.1 kHz.
func ffmpegArgs(p inputPreset, seconds int, out string) []string {
	vb := strconv.Itoa(p.VideoKbps) + "k"
	gop := strconv.Itoa(p.GOP)
	return []string{
		"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", p.Width, p.Height, p.FPS),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		"-b:v", vb, "-maxrate", vb, "-bufsize", vb, "-x264-params", "nal-hrd=cbr",
		"-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
		"-c:a", "aac", "-b:a", strconv.Itoa(p.AudioKbps) + "k", "-ar", "44100", "-ac", "2",
		"-f", "flv", out,
	}
}

// makeInput encodes the input with ffmpeg unless path exists.
func makeInput(ctx context.Context, p inputPreset, path string, seconds int, log io.Writer) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		return errors.New("ffmpeg is needed to make the input (apt-get install -y ffmpeg), or pass -input FILE")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".part"
	fmt.Fprintf(log, "loadtest: encoding %d s of %s input into %s (once)\n", seconds, p.Name, path)
	start := time.Now()
	cmd := exec.CommandContext(ctx, ff, ffmpegArgs(p, seconds, tmp)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("ffmpeg: %w", err)
	}
	fmt.Fprintf(log, "loadtest: encoded in %s\n", time.Since(start).Round(time.Second))
	return os.Rename(tmp, path)
}

// loadInput reads an FLV with H.264 video (and usually AAC audio).
func loadInput(path string) (*input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readInput(f, path)
}

func readInput(r io.Reader, path string) (*input, error) {
	in := &input{Path: path}
	fr := flv.NewReader(r, 0)
	var lastVideo, lastAudio, firstTS uint32
	var videoStep uint32
	audioFrames := 0
	first := true
	for {
		t, err := fr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		switch t.Type {
		case flv.TagScript:
			if in.Metadata == nil {
				in.Metadata = t.Data
			}
			continue
		case flv.TagVideo:
			v, err := flv.ParseVideo(t.Data)
			if err != nil {
				return nil, fmt.Errorf("%s: video tag at %d ms: %w", path, t.Timestamp, err)
			}
			if v.Codec != "h264" {
				return nil, fmt.Errorf("%s: video codec %s, want h264", path, v.Codec)
			}
			if v.PacketType == flv.VideoSequenceHeader {
				if in.Video == nil {
					in.Video = t.Data
					if c, err := flv.ParseAVCConfig(v.Payload); err == nil {
						in.Width, in.Height = c.Width, c.Height
					}
				}
				continue
			}
			if v.PacketType != flv.VideoFrames {
				continue // ffmpeg ends the file with an end-of-sequence tag: not for a loop
			}
			if in.VideoFrames == 0 && !v.Keyframe {
				return nil, fmt.Errorf("%s: the first video frame is not a keyframe", path)
			}
			if v.Keyframe {
				in.Keyframes++
			}
			if in.VideoFrames > 0 {
				if t.Timestamp <= lastVideo {
					return nil, fmt.Errorf("%s: video timestamps do not increase at %d ms", path, t.Timestamp)
				}
				videoStep = t.Timestamp - lastVideo
			}
			in.VideoFrames++
			lastVideo = t.Timestamp
		case flv.TagAudio:
			a, err := flv.ParseAudio(t.Data)
			if err != nil {
				return nil, fmt.Errorf("%s: audio tag at %d ms: %w", path, t.Timestamp, err)
			}
			if a.PacketType == flv.AudioSequenceHeader {
				if in.Audio == nil {
					in.Audio = t.Data
				}
				continue
			}
			if audioFrames > 0 {
				if t.Timestamp < lastAudio {
					return nil, fmt.Errorf("%s: audio timestamps go back at %d ms", path, t.Timestamp)
				}
			}
			audioFrames++
			lastAudio = t.Timestamp
		}
		if first || t.Timestamp < firstTS {
			firstTS, first = t.Timestamp, false
		}
		in.Media = append(in.Media, t)
		in.Bytes += int64(flv.TagHeaderSize + len(t.Data) + flv.PrevSizeLength)
	}
	if in.Video == nil || in.VideoFrames < 2 {
		return nil, fmt.Errorf("%s: no H.264 sequence header or fewer than two frames", path)
	}
	// Rebase to 0 so the first pass starts at timestamp 0. The loop follows
	// the video cadence; audio past the last video frame (a few AAC frames at
	// most) is dropped so the next pass continues without a video gap.
	in.Period = lastVideo + videoStep - firstTS
	media := in.Media[:0]
	for _, t := range in.Media {
		t.Timestamp -= firstTS
		if t.Timestamp >= in.Period {
			in.Bytes -= int64(flv.TagHeaderSize + len(t.Data) + flv.PrevSizeLength)
			continue
		}
		media = append(media, t)
	}
	in.Media = media
	return in, nil
}
