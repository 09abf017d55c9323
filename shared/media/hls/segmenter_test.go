package hls

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hls/hlstest"
)

// clip is testdata/clip.flv: 4 s of testsrc2 160x120 25 fps H.264 High with
// B-frames and a keyframe every second, AAC-LC 44.1 kHz mono (see testdata/README.md).
func clip(t testing.TB) []flv.Tag {
	t.Helper()
	f, err := os.Open("testdata/clip.flv")
	require.NoError(t, err)
	defer f.Close()
	r := flv.NewReader(f, 0)
	var tags []flv.Tag
	for {
		tag, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		tags = append(tags, tag)
	}
	require.NotEmpty(t, tags)
	return tags
}

type tsFrames struct {
	videoDTS []int64 // 90 kHz
	videoPTS []int64
	keys     int
	audioAUs int
	audioPTS []int64
}

// demux decodes a segment with mediacommon's MPEG-TS reader (independent of our muxer).
func demux(t testing.TB, data []byte) tsFrames {
	t.Helper()
	require.Zero(t, len(data)%188, "segment length is not a multiple of 188")
	r := &mpegts.Reader{R: bytes.NewReader(data)}
	require.NoError(t, r.Initialize())
	var out tsFrames
	var decodeErr error
	r.OnDecodeError(func(err error) { decodeErr = err })
	for _, tr := range r.Tracks() {
		switch tr.Codec.(type) {
		case *codecs.H264:
			r.OnDataH264(tr, func(pts, dts int64, au [][]byte) error {
				out.videoDTS = append(out.videoDTS, dts)
				out.videoPTS = append(out.videoPTS, pts)
				for _, n := range au {
					if n[0]&0x1f == 5 {
						out.keys++
						break
					}
				}
				return nil
			})
		case *codecs.MPEG4Audio:
			r.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) error {
				out.audioAUs += len(aus)
				out.audioPTS = append(out.audioPTS, pts)
				return nil
			})
		default:
			t.Fatalf("unexpected track %T", tr.Codec)
		}
	}
	for {
		err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
	}
	require.NoError(t, decodeErr)
	return out
}

func segmentAll(t testing.TB, tags []flv.Tag, target time.Duration) []Segment {
	var segs []Segment
	s := NewSegmenter("k", "k", target, 0, func(seg Segment) { segs = append(segs, seg) })
	for _, tag := range tags {
		s.WriteTag(tag.Type, tag.Timestamp, tag.Data)
	}
	s.Flush()
	require.Zero(t, s.Errors)
	return segs
}

func TestSegmenterCutsOnKeyframes(t *testing.T) {
	tags := clip(t)
	videoFrames, audioFrames := 0, 0
	for _, tag := range tags {
		if tag.Type == flv.TagVideo {
			if v, _ := flv.ParseVideo(tag.Data); v.PacketType == flv.VideoFrames {
				videoFrames++
			}
		}
		if tag.Type == flv.TagAudio {
			if a, _ := flv.ParseAudio(tag.Data); a.PacketType == flv.AudioFrames {
				audioFrames++
			}
		}
	}
	for _, tc := range []struct {
		target time.Duration
		want   int
	}{
		{time.Second, 4},
		{2 * time.Second, 2},
		{1500 * time.Millisecond, 2}, // cut on the first keyframe at or after 1.5 s: 2 s
		{10 * time.Second, 1},
	} {
		t.Run(tc.target.String(), func(t *testing.T) {
			segs := segmentAll(t, tags, tc.target)
			require.Len(t, segs, tc.want)
			var total time.Duration
			gotVideo, gotAudio := 0, 0
			for i, seg := range segs {
				require.Equal(t, uint64(i), seg.Seq)
				require.Equal(t, total, seg.Start, "segment %d start", i)
				require.False(t, seg.Discontinuity)
				total += seg.Duration
				fr := demux(t, seg.Bytes())
				require.NotEmpty(t, fr.videoDTS)
				require.Equal(t, int(seg.Duration.Round(time.Second)/time.Second), fr.keys, "segment %d keyframes (one a second)", i)
				// the first frame is the keyframe; its DTS is the segment start
				require.Equal(t, int64(seg.Start/time.Millisecond)*90+tsOffset, fr.videoDTS[0])
				for j := 1; j < len(fr.videoDTS); j++ {
					require.Greater(t, fr.videoDTS[j], fr.videoDTS[j-1])
					require.GreaterOrEqual(t, fr.videoPTS[j], fr.videoDTS[j])
				}
				gotVideo += len(fr.videoDTS)
				gotAudio += fr.audioAUs
			}
			require.Equal(t, videoFrames, gotVideo, "video frames")
			require.Equal(t, audioFrames, gotAudio, "audio frames")
			require.InDelta(t, 4.0, total.Seconds(), 0.041, "media time")
		})
	}
}

func TestSegmenterProbesWithFFprobe(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		if os.Getenv("LIVESTACK_E2E") == "1" {
			t.Fatal("ffprobe required")
		}
		t.Skip("ffprobe not installed")
	}
	segs := segmentAll(t, clip(t), time.Second)
	dir := t.TempDir()
	for i, seg := range segs {
		p := filepath.Join(dir, strconv.Itoa(i)+".ts")
		require.NoError(t, os.WriteFile(p, seg.Bytes(), 0o600))
		out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,duration", "-of", "csv=p=0", p).CombinedOutput()
		require.NoError(t, err, "%s", out)
		durs := map[string]float64{}
		for _, l := range strings.Fields(string(out)) {
			name, ds, _ := strings.Cut(l, ",")
			d, err := strconv.ParseFloat(ds, 64)
			require.NoError(t, err, "%s", out)
			durs[name] = d
		}
		require.Contains(t, durs, "h264", "%s", out)
		require.Contains(t, durs, "aac", "%s", out)
		require.InDelta(t, seg.Duration.Seconds(), durs["h264"], 0.041, "segment %d: video duration ±1 frame", i)
		require.InDelta(t, seg.Duration.Seconds(), durs["aac"], 0.1, "segment %d: audio duration", i)
		// count decoded frames: 25 per second
		out, err = exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", p).CombinedOutput()
		require.NoError(t, err, "%s", out)
		n, err := strconv.Atoi(strings.Fields(string(out))[0])
		require.NoError(t, err)
		require.InDelta(t, seg.Duration.Seconds()*25, float64(n), 0.5, "segment %d: decoded frames", i)
	}
}

func TestSegmenterCodecChangeIsDiscontinuity(t *testing.T) {
	tags := clip(t)
	var segs []Segment
	s := NewSegmenter("k", "k", time.Second, 0, func(seg Segment) { segs = append(segs, seg) })
	feed := func(base uint32, headers bool) {
		for _, tag := range tags {
			if tag.Type == flv.TagScript {
				continue
			}
			s.WriteTag(tag.Type, base+tag.Timestamp, tag.Data)
		}
	}
	feed(0, true)
	// same headers again (a reconnect with an identical encoder): no discontinuity
	feed(4000, true)
	n := len(segs)
	// a different AVC configuration (an encoder with other settings)
	for _, tag := range tags {
		if tag.Type == flv.TagVideo {
			if v, _ := flv.ParseVideo(tag.Data); v.PacketType == flv.VideoSequenceHeader {
				changed := bytes.Clone(tag.Data)
				changed[len(changed)-1] ^= 0x01 // PPS byte: different parameters, same SPS
				s.WriteTag(flv.TagVideo, 8000, changed)
			}
		}
	}
	feed(8000, false)
	s.Flush()
	require.Greater(t, len(segs), n)
	for i, seg := range segs {
		require.Equal(t, uint64(i), seg.Seq)
		require.Equal(t, i == n, seg.Discontinuity, "segment %d", i)
	}
}

func TestLivePlaylistValidates(t *testing.T) {
	segs := segmentAll(t, clip(t), time.Second)
	l := newTSLive(3, time.Second, "tok")
	var prev *hlstest.Media
	for i, seg := range segs {
		l.add(seg)
		snap := l.snap.Load()
		m, err := hlstest.ParseMedia(snap.playlist)
		require.NoError(t, err, "%s", snap.playlist)
		require.NoError(t, m.Validate(), "%s", snap.playlist)
		require.LessOrEqual(t, len(m.Segments), 3)
		require.Equal(t, seg.Seq, m.Segments[len(m.Segments)-1].Seq)
		require.Equal(t, "stok-"+strconv.Itoa(i)+".ts", m.Segments[len(m.Segments)-1].URI)
		if prev != nil {
			require.NoError(t, hlstest.CheckProgress(prev, m))
		}
		prev = m
		for _, ms := range m.Segments {
			got, ok := snap.segment(ms.Seq)
			require.True(t, ok)
			require.InDelta(t, got.Duration.Seconds(), ms.Duration, 0.0005)
		}
	}
	require.False(t, prev.EndList)
	l.end()
	m, err := hlstest.ParseMedia(l.snap.Load().playlist)
	require.NoError(t, err)
	require.True(t, m.EndList)
}

func TestTargetDurationCoversLongSegments(t *testing.T) {
	l := newTSLive(6, 2*time.Second, "t")
	now := time.Now()
	for i, d := range []time.Duration{2 * time.Second, 3600 * time.Millisecond, 2 * time.Second} {
		l.add(Segment{Seq: uint64(i), Duration: d, ProgramDateTime: now}.WithBytes([]byte{0}))
		now = now.Add(d)
	}
	m, err := hlstest.ParseMedia(l.snap.Load().playlist)
	require.NoError(t, err)
	require.NoError(t, m.Validate())
	require.Equal(t, 4, m.TargetDuration)
}

func TestParseSegmentName(t *testing.T) {
	for _, tc := range []struct {
		name string
		seq  uint64
		ok   bool
	}{
		{"sab-0.ts", 0, true},
		{"sab-17.ts", 17, true},
		{"sab-017.ts", 0, false},
		{"sab-.ts", 0, false},
		{"sxx-1.ts", 0, false},
		{"sab-1.m4s", 0, false},
		{"sab--1.ts", 0, false},
		{"sab-99999999999999999999.ts", 0, false},
	} {
		seq, ok := parseSegmentName(tc.name, "ab")
		require.Equal(t, tc.ok, ok, tc.name)
		if ok {
			require.Equal(t, tc.seq, seq)
		}
	}
}

func TestSegmenterSingleTrack(t *testing.T) {
	tags := clip(t)
	for _, tc := range []struct {
		name string
		keep flv.TagType
	}{{"audio only", flv.TagAudio}, {"video only", flv.TagVideo}} {
		t.Run(tc.name, func(t *testing.T) {
			var only []flv.Tag
			for _, tag := range tags {
				if tag.Type == tc.keep {
					only = append(only, tag)
				}
			}
			segs := segmentAll(t, only, time.Second)
			require.NotEmpty(t, segs)
			var total time.Duration
			for _, seg := range segs {
				total += seg.Duration
				fr := demux(t, seg.Bytes())
				if tc.keep == flv.TagAudio {
					require.Empty(t, fr.videoDTS)
					require.NotZero(t, fr.audioAUs)
				} else {
					require.Zero(t, fr.audioAUs)
					require.NotEmpty(t, fr.videoDTS)
				}
			}
			if tc.keep == flv.TagAudio {
				// audio waits one second for a video configuration that never comes
				require.InDelta(t, 3.0, total.Seconds(), 0.1)
			} else {
				require.InDelta(t, 4.0, total.Seconds(), 0.041)
			}
		})
	}
}
