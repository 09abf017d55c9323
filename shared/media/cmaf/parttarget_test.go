package cmaf

import (
	"bytes"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hls/hlstest"
)

// synthTags builds a stream from the fixture's codec configuration: video frames
// (keyframe every gop frames) at the millisecond timestamps vts(i) for
// dur, and AAC frames of 1024 samples at audioRate Hz (0: none) stamped the way
// an encoder does, rounded to the millisecond. Without video it is audio-only.
func synthTags(t *testing.T, vts func(i int) int64, gop int, audioRate int, dur time.Duration) []flv.Tag {
	t.Helper()
	var avcHeader, aacHeader, key, inter, aac []byte
	for _, tag := range clip(t) {
		switch {
		case tag.Type == flv.TagVideo && tag.Data[1] == 0 && avcHeader == nil:
			avcHeader = tag.Data
		case tag.Type == flv.TagVideo && tag.Data[1] == 1 && tag.Data[0]>>4 == 1 && key == nil:
			key = bytes.Clone(tag.Data)
		case tag.Type == flv.TagVideo && tag.Data[1] == 1 && tag.Data[0]>>4 == 2 && inter == nil:
			inter = bytes.Clone(tag.Data)
		case tag.Type == flv.TagAudio && tag.Data[1] == 0 && aacHeader == nil:
			aacHeader = tag.Data
		case tag.Type == flv.TagAudio && tag.Data[1] == 1 && aac == nil:
			aac = tag.Data
		}
	}
	require.NotNil(t, avcHeader)
	require.NotNil(t, aacHeader)
	require.NotNil(t, key)
	require.NotNil(t, inter)
	require.NotNil(t, aac)
	for _, b := range [][]byte{key, inter} {
		b[2], b[3], b[4] = 0, 0, 0 // composition time 0: PTS = DTS
	}
	switch audioRate {
	case 0, 44100: // the fixture's AudioSpecificConfig: AAC-LC 44.1 kHz mono
	case 48000:
		aacHeader = []byte{0xaf, 0, 0x11, 0x88} // AAC-LC, 48 kHz, mono
	default:
		t.Fatalf("no AudioSpecificConfig for %d Hz", audioRate)
	}
	end := dur.Milliseconds()
	var tags []flv.Tag
	if vts != nil {
		tags = append(tags, flv.Tag{Type: flv.TagVideo, Data: avcHeader})
	}
	if audioRate > 0 {
		tags = append(tags, flv.Tag{Type: flv.TagAudio, Data: aacHeader})
	}
	var media []flv.Tag
	if vts != nil {
		for i := 0; vts(i) < end; i++ {
			d := inter
			if i%gop == 0 {
				d = key
			}
			media = append(media, flv.Tag{Type: flv.TagVideo, Timestamp: uint32(vts(i)), Data: d})
		}
	}
	if audioRate > 0 {
		for k := 0; ; k++ {
			ts := int64(math.Round(float64(k) * 1024 * 1000 / float64(audioRate)))
			if ts >= end {
				break
			}
			media = append(media, flv.Tag{Type: flv.TagAudio, Timestamp: uint32(ts), Data: aac})
		}
	}
	sort.SliceStable(media, func(i, j int) bool { return media[i].Timestamp < media[j].Timestamp })
	return append(tags, media...)
}

// every returns the timestamps of a constant frame rate num/den fps on a
// millisecond clock, rounded (as ffmpeg's FLV muxer does) or truncated.
func every(num, den float64, truncate bool) func(int) int64 {
	return func(i int) int64 {
		ms := float64(i) * 1000 * den / num
		if truncate {
			return int64(ms)
		}
		return int64(math.Round(ms))
	}
}

// intervals returns timestamps whose successive intervals come from next.
func intervals(next func(i int) int64) func(int) int64 {
	var ts []int64
	return func(i int) int64 {
		for len(ts) <= i {
			if len(ts) == 0 {
				ts = append(ts, 0)
				continue
			}
			ts = append(ts, ts[len(ts)-1]+next(len(ts)))
		}
		return ts[i]
	}
}

// TestLLHLSPartsFitPartTarget feeds common frame rates and checks every
// playlist the packager publishes against RFC 8216bis 4.4.4.9: each part lasts
// at most PART-TARGET and, unless INDEPENDENT=YES or the last of its segment, at
// least 85 % of it (held here for the INDEPENDENT=YES parts too: they are whole
// parts as well, and audio-only parts are all independent); PART-TARGET never changes, is within one frame of the
// configured part duration, and PART-HOLD-BACK is 3 x PART-TARGET. Each part's
// DURATION is also the duration of its leading track's samples in the fMP4.
func TestLLHLSPartsFitPartTarget(t *testing.T) {
	vfr := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name      string
		vts       func(int) int64 // nil: audio-only
		fps       float64
		audioRate int
		part      time.Duration
		want      float64 // advertised PART-TARGET, s (0: not fixed by the case)
		// rate changes mid-stream: only the upper bound can hold
		ceilingOnly bool
	}{
		{name: "23.976 fps", vts: every(24000, 1001, false), fps: 24000.0 / 1001, audioRate: 44100, want: 0.210},
		{name: "24 fps", vts: every(24, 1, false), fps: 24, audioRate: 48000, want: 0.210},
		{name: "25 fps", vts: every(25, 1, false), fps: 25, audioRate: 44100, want: 0.205},
		{name: "29.97 fps", vts: every(30000, 1001, false), fps: 30000.0 / 1001, audioRate: 44100, want: 0.204},
		{name: "29.97 fps truncated timestamps", vts: every(30000, 1001, true), fps: 30000.0 / 1001, audioRate: 48000, want: 0.204},
		{name: "30 fps", vts: every(30, 1, false), fps: 30, audioRate: 48000, want: 0.204},
		{name: "50 fps", vts: every(50, 1, false), fps: 50, audioRate: 48000, want: 0.210},
		{name: "59.94 fps", vts: every(60000, 1001, false), fps: 60000.0 / 1001, audioRate: 48000, want: 0.204},
		{name: "60 fps", vts: every(60, 1, false), fps: 60, audioRate: 44100, want: 0.204},
		{name: "60 fps, no audio", vts: every(60, 1, false), fps: 60, want: 0.204},
		{name: "variable frame rate 33/34 ms", vts: intervals(func(int) int64 { return 33 + vfr.Int64N(2) }), fps: 30, audioRate: 44100},
		{name: "audio-only 44.1 kHz", audioRate: 44100, want: 0.209},
		{name: "audio-only 48 kHz", audioRate: 48000, want: 0.192},
		{name: "29.97 fps, 500 ms parts", vts: every(30000, 1001, false), fps: 30000.0 / 1001, audioRate: 44100, part: 500 * time.Millisecond, want: 0.510},
		{name: "25 fps, 100 ms parts", vts: every(25, 1, false), fps: 25, audioRate: 44100, part: 100 * time.Millisecond, want: 0.082},
		{name: "30 fps then 24 fps", fps: 30, audioRate: 44100, ceilingOnly: true,
			vts: intervals(func(i int) int64 {
				if i < 90 {
					return int64(33 + i%3/2) // 33, 34, 33...
				}
				return int64(41 + i%3/2)
			})},
		{name: "30 fps with 3 ms of jitter", fps: 30, audioRate: 44100, ceilingOnly: true,
			vts: intervals(func(int) int64 { return 30 + vfr.Int64N(7) })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := 1 / tc.fps // s
			gop := int(math.Round(tc.fps))
			if tc.vts == nil {
				frame = 1024 / float64(tc.audioRate)
			}
			tags := synthTags(t, tc.vts, gop, tc.audioRate, 9*time.Second)
			p := New("k", "tk", Config{PartDuration: tc.part, SegmentDuration: 2 * time.Second, ListSize: 10})
			want := p.cfg.PartDuration.Seconds()

			target := 0.0
			durations := map[string]float64{} // part URI -> DURATION
			checked, served := 0, 0
			check := func(body []byte) {
				t.Helper()
				m, err := hlstest.ParseMedia(body)
				require.NoError(t, err, "%s", body)
				if err := m.Validate(); err != nil && !(tc.ceilingOnly && strings.Contains(err.Error(), "below 85 %")) {
					require.NoError(t, err, "%s", body)
				}
				served++
				if target == 0 {
					target = m.PartTarget
					if tc.want > 0 {
						require.Equal(t, tc.want, target, "PART-TARGET")
					}
					require.InDelta(t, want, target, frame+1e-9, "PART-TARGET within one frame of the configured %v", want)
				}
				require.Equal(t, target, m.PartTarget, "PART-TARGET must not change during the stream:\n%s", body)
				require.InDelta(t, 3*target, m.PartHoldBack, 1e-9, "PART-HOLD-BACK = 3 x PART-TARGET")
				var parts []hlstest.Part
				var exempt []bool
				for _, s := range m.Segments {
					for i, pt := range s.Parts {
						parts = append(parts, pt)
						exempt = append(exempt, i == len(s.Parts)-1)
					}
				}
				// the open segment's parts are never its last: that one is
				// published together with the completed segment
				for _, pt := range m.Trailing {
					parts = append(parts, pt)
					exempt = append(exempt, false)
				}
				for i, pt := range parts {
					require.LessOrEqual(t, pt.Duration, target, "%s: DURATION above PART-TARGET\n%s", pt.URI, body)
					if !exempt[i] && !tc.ceilingOnly {
						require.GreaterOrEqual(t, pt.Duration, 0.85*target, "%s: DURATION below 85%% of PART-TARGET\n%s", pt.URI, body)
						checked++
					}
					if d, ok := durations[pt.URI]; ok {
						require.Equal(t, d, pt.Duration, "%s: DURATION changed", pt.URI)
					}
					durations[pt.URI] = pt.Duration
				}
			}
			var last *snapshot
			for _, tag := range tags {
				p.WriteTag(tag.Type, tag.Timestamp, tag.Data)
				if s := p.snap.Load(); s != last && s.ready() {
					last = s
					check(s.mediaPlaylist())
				}
			}
			live := get(t, p, MediaFile)
			require.Equal(t, http.StatusOK, live.Code)
			check(live.Body.Bytes())
			p.End()
			check(get(t, p, MediaFile).Body.Bytes())
			require.Greater(t, served, 15, "playlists checked")
			if !tc.ceilingOnly {
				require.Greater(t, checked, 15, "parts held to the 85 %% floor")
			}

			// DURATION is the leading track's sample durations in the fMP4 part
			for uri, d := range durations {
				w := get(t, p, uri)
				require.Equal(t, http.StatusOK, w.Code, uri)
				var fp fmp4.Parts
				require.NoError(t, fp.Unmarshal(w.Body.Bytes()), uri)
				require.Len(t, fp, 1, uri)
				leadID, scale, tol := videoTrackID, float64(videoScale), 1e-9
				if tc.vts == nil {
					// audio: sample clock positions rounded to the millisecond
					leadID, scale, tol = audioTrackID, float64(tc.audioRate), 0.001
				}
				var sum uint64
				found := false
				for _, tr := range fp[0].Tracks {
					if tr.ID == leadID {
						found = true
						for _, s := range tr.Samples {
							sum += uint64(s.Duration)
						}
					}
				}
				require.True(t, found, "%s: no leading track", uri)
				require.InDelta(t, d, float64(sum)/scale, tol+1e-9, "%s: DURATION vs samples", uri)
			}
		})
	}
}

func TestPartTargetFor(t *testing.T) {
	for _, tc := range []struct {
		d           []int64
		want, limit int64
		target      int64
	}{
		{[]int64{33, 34, 33, 33, 34}, 200, 2000, 204},             // 29.97: 6 x 34
		{[]int64{42, 41, 42, 42}, 200, 2000, 210},                 // 23.976: 5 x 42
		{[]int64{40, 40, 40, 40, 40}, 200, 2000, 205},             // 25: 5 x (40 + 1)
		{[]int64{33, 34, 67, 33, 33, 34}, 200, 2000, 204},         // a dropped frame is ignored
		{[]int64{17, 16, 17, 17, 16, 17, 17, 16}, 200, 2000, 204}, // 59.94: 12 x 17
		{[]int64{40, 40}, 100, 2000, 82},                          // 2.5 frames: the shorter
		{[]int64{1000}, 200, 2000, 1001},                          // 1 fps: one frame
		{[]int64{33, 34, 33}, 1000, 1000, 986},                    // not above the segment target
		{nil, 200, 2000, 200},
	} {
		require.Equal(t, tc.target, partTargetFor(tc.d, tc.want, tc.limit), "%v", tc.d)
	}
	require.Equal(t, int64(209), audioPartTargetFor(1024, 44100, 200, 2000))
	require.Equal(t, int64(192), audioPartTargetFor(1024, 48000, 200, 2000))
	require.Equal(t, int64(200), audioPartTargetFor(960, 48000, 200, 2000)) // 10 x 20 ms
	require.Equal(t, int64(47), audioPartTargetFor(1024, 44100, 50, 2000))
	require.Equal(t, int64(1), closestFrames(10, 40))
}
