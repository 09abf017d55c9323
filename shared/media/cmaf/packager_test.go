package cmaf

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hls/hlstest"
)

// clip is the MPEG-TS package's fixture: 4 s of 160x120 25 fps H.264 (B-frames,
// keyframe every second) and AAC-LC 44.1 kHz mono.
func clip(t testing.TB) []flv.Tag {
	t.Helper()
	f, err := os.Open("../hls/testdata/clip.flv")
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
		if tag.Type != flv.TagScript {
			tags = append(tags, tag)
		}
	}
	return tags
}

func get(t testing.TB, p *Packager, target string) *httptest.ResponseRecorder {
	t.Helper()
	u, q, _ := strings.Cut(target, "?")
	r := httptest.NewRequest(http.MethodGet, "/k/"+target, nil)
	r.URL.RawQuery = q
	w := httptest.NewRecorder()
	p.ServeFile(w, r, u)
	return w
}

func feed(p *Packager, tags []flv.Tag, base uint32) {
	for _, tag := range tags {
		p.WriteTag(tag.Type, base+tag.Timestamp, tag.Data)
	}
}

func TestLLHLSPlaylistPartsAndSegments(t *testing.T) {
	tags := clip(t)
	p := New("k", "tk", Config{SegmentDuration: time.Second, ListSize: 10})
	feed(p, tags, 0)
	p.End()

	w := get(t, p, MediaFile)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, TypePlaylist, w.Header().Get("Content-Type"))
	m, err := hlstest.ParseMedia(w.Body.Bytes())
	require.NoError(t, err, w.Body.String())
	require.NoError(t, m.Validate(), w.Body.String())
	require.True(t, m.EndList)
	// 25 fps, every interval 40 ms: 5 frames, plus 1 ms of headroom per frame
	require.Equal(t, 0.205, m.PartTarget)
	require.Len(t, m.Segments, 4)
	require.InDelta(t, 4.0, m.Duration(), 0.041)

	init := get(t, p, strings.TrimPrefix(m.Segments[0].Map, ""))
	require.Equal(t, http.StatusOK, init.Code, m.Segments[0].Map)
	var in fmp4.Init
	require.NoError(t, in.Unmarshal(bytes.NewReader(init.Body.Bytes())))
	require.Len(t, in.Tracks, 2)

	videoSamples, audioSamples := 0, 0
	for _, seg := range m.Segments {
		whole := get(t, p, seg.URI)
		require.Equal(t, http.StatusOK, whole.Code)
		require.Equal(t, "public, max-age=86400, immutable", whole.Header().Get("Cache-Control"))
		var cat []byte
		// the last two segments list their parts
		for i, pt := range seg.Parts {
			r := get(t, p, pt.URI)
			require.Equal(t, http.StatusOK, r.Code, pt.URI)
			cat = append(cat, r.Body.Bytes()...)
			var parts fmp4.Parts
			require.NoError(t, parts.Unmarshal(r.Body.Bytes()))
			require.Len(t, parts, 1)
			require.Equal(t, i == 0, !parts[0].Tracks[0].Samples[0].IsNonSyncSample, "only a segment's first part starts on a keyframe")
		}
		if len(seg.Parts) > 0 {
			require.Equal(t, whole.Body.Bytes(), cat, "segment = its parts")
		}
		var parts fmp4.Parts
		require.NoError(t, parts.Unmarshal(whole.Body.Bytes()))
		var vdur uint64
		for _, pt := range parts {
			for _, tr := range pt.Tracks {
				switch tr.ID {
				case videoTrackID:
					videoSamples += len(tr.Samples)
					for _, s := range tr.Samples {
						vdur += uint64(s.Duration)
					}
				case audioTrackID:
					audioSamples += len(tr.Samples)
				}
			}
		}
		require.InDelta(t, seg.Duration, float64(vdur)/videoScale, 0.001, seg.URI)
	}
	require.Equal(t, 100, videoSamples)
	require.Greater(t, audioSamples, 160)
}

func TestCDNModeHasNoParts(t *testing.T) {
	p := New("k", "tk", Config{SegmentDuration: time.Second, CDN: true})
	feed(p, clip(t), 0)
	w := get(t, p, MediaFile)
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "public, max-age=1", w.Header().Get("Cache-Control"))
	body := w.Body.String()
	require.NotContains(t, body, "EXT-X-PART")
	require.NotContains(t, body, "CAN-BLOCK-RELOAD")
	require.NotContains(t, body, "PRELOAD-HINT")
	m, err := hlstest.ParseMedia(w.Body.Bytes())
	require.NoError(t, err)
	require.NoError(t, m.Validate())
	require.Len(t, m.Segments, 3) // the fourth is still open
}

func TestBlockingReloadReturnsWhenPartAppears(t *testing.T) {
	tags := clip(t)
	p := New("k", "tk", Config{SegmentDuration: time.Second})
	// publish the first 1.5 s
	i := 0
	for ; i < len(tags) && tags[i].Timestamp < 1500; i++ {
		p.WriteTag(tags[i].Type, tags[i].Timestamp, tags[i].Data)
	}
	w := get(t, p, MediaFile)
	require.Equal(t, http.StatusOK, w.Code)
	m, err := hlstest.ParseMedia(w.Body.Bytes())
	require.NoError(t, err, w.Body.String())
	require.NoError(t, m.Validate(), w.Body.String())
	msn := m.MediaSequence + uint64(len(m.Segments))
	next := len(m.Trailing)
	require.Equal(t, fmt.Sprintf("ctk-%d.%d.m4s", msn, next), m.PreloadHint)

	type result struct {
		w   *httptest.ResponseRecorder
		dur time.Duration
	}
	done := make(chan result, 2)
	start := time.Now()
	go func() {
		done <- result{get(t, p, fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", MediaFile, msn, next)), time.Since(start)}
	}()
	hint := make(chan *httptest.ResponseRecorder, 1)
	go func() { hint <- get(t, p, m.PreloadHint) }()
	select {
	case r := <-done:
		t.Fatalf("blocking reload returned before the part existed: %d %s", r.w.Code, r.w.Body.String())
	case <-time.After(300 * time.Millisecond):
	}
	for ; i < len(tags) && tags[i].Timestamp < 2500; i++ {
		p.WriteTag(tags[i].Type, tags[i].Timestamp, tags[i].Data)
	}
	r := <-done
	require.Equal(t, http.StatusOK, r.w.Code, r.w.Body.String())
	require.GreaterOrEqual(t, r.dur, 300*time.Millisecond)
	m2, err := hlstest.ParseMedia(r.w.Body.Bytes())
	require.NoError(t, err)
	require.NoError(t, m2.Validate())
	require.NoError(t, hlstest.CheckProgress(m, m2))
	require.Contains(t, r.w.Body.String(), fmt.Sprintf("ctk-%d.%d.m4s", msn, next))
	h := <-hint
	require.Equal(t, http.StatusOK, h.Code)
	var parts fmp4.Parts
	require.NoError(t, parts.Unmarshal(h.Body.Bytes()))

	// too far ahead is a 400, malformed directives too
	require.Equal(t, http.StatusBadRequest, get(t, p, fmt.Sprintf("%s?_HLS_msn=%d", MediaFile, msn+5)).Code)
	require.Equal(t, http.StatusBadRequest, get(t, p, MediaFile+"?_HLS_part=1").Code)
	require.Equal(t, http.StatusBadRequest, get(t, p, MediaFile+"?_HLS_msn=x").Code)
}

func TestBlockingReloadTimesOut(t *testing.T) {
	p := New("k", "tk", Config{SegmentDuration: time.Second, BlockTimeout: 200 * time.Millisecond})
	feed(p, clip(t)[:60], 0)
	m, err := hlstest.ParseMedia(get(t, p, MediaFile).Body.Bytes())
	require.NoError(t, err)
	msn := m.MediaSequence + uint64(len(m.Segments))
	w := get(t, p, fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", MediaFile, msn, len(m.Trailing)+1))
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
}

type mpdDoc struct {
	XMLName xml.Name `xml:"MPD"`
	Type    string   `xml:"type,attr"`
	AST     string   `xml:"availabilityStartTime,attr"`
	Period  struct {
		AdaptationSet struct {
			Representation struct {
				Codecs   string `xml:"codecs,attr"`
				Template struct {
					Timescale   int    `xml:"timescale,attr"`
					Init        string `xml:"initialization,attr"`
					Media       string `xml:"media,attr"`
					StartNumber uint64 `xml:"startNumber,attr"`
					Timeline    struct {
						S []struct {
							T int64 `xml:"t,attr"`
							D int64 `xml:"d,attr"`
						} `xml:"S"`
					} `xml:"SegmentTimeline"`
				} `xml:"SegmentTemplate"`
			} `xml:"Representation"`
		} `xml:"AdaptationSet"`
	} `xml:"Period"`
}

func TestDASHManifestResolves(t *testing.T) {
	p := New("k", "tk", Config{SegmentDuration: time.Second, ListSize: 3})
	feed(p, clip(t), 0)
	feed(p, clip(t), 4000)
	w := get(t, p, MPDFile)
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, TypeMPD, w.Header().Get("Content-Type"))
	var doc mpdDoc
	require.NoError(t, xml.Unmarshal(w.Body.Bytes(), &doc), w.Body.String())
	require.Equal(t, "dynamic", doc.Type)
	_, err := time.Parse(time.RFC3339, doc.AST)
	require.NoError(t, err)
	rep := doc.Period.AdaptationSet.Representation
	require.Equal(t, "avc1.64000b,mp4a.40.2", rep.Codecs)
	tpl := rep.Template
	require.Len(t, tpl.Timeline.S, 3)
	require.Equal(t, http.StatusOK, get(t, p, tpl.Init).Code)
	for i, s := range tpl.Timeline.S {
		if i > 0 {
			prev := tpl.Timeline.S[i-1]
			require.Equal(t, prev.T+prev.D, s.T, "timeline is contiguous")
		}
		name := strings.ReplaceAll(tpl.Media, "$Number$", strconv.FormatUint(tpl.StartNumber+uint64(i), 10))
		r := get(t, p, name)
		require.Equal(t, http.StatusOK, r.Code, name)
		var parts fmp4.Parts
		require.NoError(t, parts.Unmarshal(r.Body.Bytes()))
		// the segment's first video sample starts at the timeline's t
		for _, tr := range parts[0].Tracks {
			if tr.ID == videoTrackID {
				require.Equal(t, uint64(s.T*90), tr.BaseTime, name)
			}
		}
	}
}

func TestFMP4ProbesWithFFprobe(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		if os.Getenv("LIVESTACK_E2E") == "1" {
			t.Fatal("ffprobe required")
		}
		t.Skip("ffprobe not installed")
	}
	p := New("k", "tk", Config{SegmentDuration: time.Second, ListSize: 10})
	feed(p, clip(t), 0)
	p.End()
	m, err := hlstest.ParseMedia(get(t, p, MediaFile).Body.Bytes())
	require.NoError(t, err)
	init := get(t, p, m.Segments[0].Map).Body.Bytes()
	dir := t.TempDir()
	for i, seg := range m.Segments {
		file := filepath.Join(dir, strconv.Itoa(i)+".mp4")
		require.NoError(t, os.WriteFile(file, append(bytes.Clone(init), get(t, p, seg.URI).Body.Bytes()...), 0o600))
		out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", file).CombinedOutput()
		require.NoError(t, err, "%s", out)
		s := string(out)
		require.Contains(t, s, "h264,")
		require.Contains(t, s, "aac,")
		for _, l := range strings.Fields(s) {
			if n, ok := strings.CutPrefix(l, "h264,"); ok {
				frames, err := strconv.Atoi(n)
				require.NoError(t, err)
				require.InDelta(t, seg.Duration*25, float64(frames), 0.5, "segment %d: frames", i)
			}
		}
	}
}

func TestAudioOnlyLLHLS(t *testing.T) {
	var audio []flv.Tag
	for _, tag := range clip(t) {
		if tag.Type == flv.TagAudio {
			audio = append(audio, tag)
		}
	}
	p := New("k", "tk", Config{SegmentDuration: time.Second, ListSize: 10})
	feed(p, audio, 0)
	p.End()
	w := get(t, p, MediaFile)
	require.Equal(t, http.StatusOK, w.Code)
	m, err := hlstest.ParseMedia(w.Body.Bytes())
	require.NoError(t, err, w.Body.String())
	require.NoError(t, m.Validate(), w.Body.String())
	require.InDelta(t, 3.0, m.Duration(), 0.1)
	mv := get(t, p, MasterFile)
	require.Contains(t, mv.Body.String(), `CODECS="mp4a.40.2"`)
	require.NotContains(t, mv.Body.String(), "RESOLUTION")
	var in fmp4.Init
	require.NoError(t, in.Unmarshal(bytes.NewReader(get(t, p, m.Segments[0].Map).Body.Bytes())))
	require.Len(t, in.Tracks, 1)
}

// hls.js (and any LL-HLS client) starts a live stream on the last part marked
// INDEPENDENT=YES before its start position, then seeks to that position. With
// segments longer than the GOP, the parts that start on a mid-segment keyframe
// must be marked too, or the client starts up to a segment back. Checked on the
// live playlist (the open segment's parts) and on the finished one; the marks
// must match the media: a part is independent exactly when its first video
// sample is a sync sample.
func TestLLHLSMarksEveryKeyframePartIndependent(t *testing.T) {
	tags := clip(t) // keyframe every second
	for _, tc := range []struct {
		name  string
		until uint32 // feed tags before this time (ms); 0: all, then End
		// independent parts expected in the playlist, by start time (ms)
		want []int
	}{
		{"live, open segment", 3500, []int{0, 1000, 2000, 3000}},
		{"ended", 0, []int{0, 1000, 2000, 3000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New("k", "tk", Config{SegmentDuration: 2 * time.Second, ListSize: 10})
			for _, tag := range tags {
				if tc.until > 0 && tag.Timestamp >= tc.until {
					break
				}
				p.WriteTag(tag.Type, tag.Timestamp, tag.Data)
			}
			if tc.until == 0 {
				p.End()
			}
			w := get(t, p, MediaFile)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			m, err := hlstest.ParseMedia(w.Body.Bytes())
			require.NoError(t, err, w.Body.String())
			require.NoError(t, m.Validate(), w.Body.String())
			require.InDelta(t, 3*m.PartTarget, m.PartHoldBack, 1e-9, "PART-HOLD-BACK: 3 x PART-TARGET (RFC 8216bis 4.4.3.8)")

			var parts []hlstest.Part
			for _, s := range m.Segments {
				require.NotEmpty(t, s.Parts, "every segment of 2 lists its parts: %s", w.Body.String())
				parts = append(parts, s.Parts...)
			}
			parts = append(parts, m.Trailing...)
			if tc.until > 0 {
				require.NotEmpty(t, m.Trailing, "the open segment's parts")
			}
			var got []int
			at := 0.0
			for _, pt := range parts {
				body := get(t, p, pt.URI)
				require.Equal(t, http.StatusOK, body.Code, pt.URI)
				var fp fmp4.Parts
				require.NoError(t, fp.Unmarshal(body.Body.Bytes()))
				require.Len(t, fp, 1)
				var video *fmp4.PartTrack
				for _, tr := range fp[0].Tracks {
					if tr.ID == videoTrackID {
						video = tr
					}
				}
				require.NotNil(t, video, pt.URI)
				require.Equal(t, !video.Samples[0].IsNonSyncSample, pt.Independent,
					"%s at %.3f s: INDEPENDENT=YES exactly when the part starts on a keyframe", pt.URI, at)
				if pt.Independent {
					got = append(got, int(at*1000+0.5))
				}
				at += pt.Duration
			}
			require.Equal(t, tc.want, got, "independent parts by start time (ms)")
		})
	}
}

// A completed segment is listed complete (EXTINF) only with the next segment's
// first part; until then the playlist lists it as the open segment with all its
// parts and hints the next segment's first part (see Packager.holdable: hls.js
// skips a segment's last part when the playlist that lists it also completes
// the segment and the client is slow to append). A segment whose last part is
// under 85 % of PART-TARGET may not be listed open, and is listed complete at
// once. Every playlist seen, after every tag, must validate and follow the one
// before it.
func TestCompletedSegmentListedWithNextPart(t *testing.T) {
	for _, tc := range []struct {
		name string
		part time.Duration
		held bool // the last part of every segment is a whole part
	}{
		{"whole last part held", 200 * time.Millisecond, true},      // 5 parts of 5 frames
		{"short last part not held", 300 * time.Millisecond, false}, // 3 parts of 7 frames and one of 4
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New("k", "tk", Config{SegmentDuration: time.Second, PartDuration: tc.part, ListSize: 10})
			var prev *hlstest.Media
			held, completed := map[uint64]bool{}, 0
			for _, tag := range clip(t) {
				p.WriteTag(tag.Type, tag.Timestamp, tag.Data)
				if !p.snap.Load().ready() {
					continue // no part yet (a request would wait for one)
				}
				w := get(t, p, MediaFile)
				require.Equal(t, http.StatusOK, w.Code, w.Body.String())
				m, err := hlstest.ParseMedia(w.Body.Bytes())
				require.NoError(t, err, w.Body.String())
				require.NoError(t, m.Validate(), w.Body.String())
				if prev != nil {
					require.NoError(t, hlstest.CheckProgress(prev, m), w.Body.String())
				}
				next := m.MediaSequence + uint64(len(m.Segments))
				if prev != nil && len(m.Segments) > len(prev.Segments) {
					completed++
					// a segment became complete: with the next one's first part
					// when held; at once (no part of the next yet) when not
					if tc.held {
						require.NotEmpty(t, m.Trailing, "segment listed complete before the next segment's first part\n%s", w.Body.String())
					} else {
						require.Empty(t, m.Trailing, "short last part: the segment is listed complete at once\n%s", w.Body.String())
					}
				}
				if sg := p.snap.Load(); sg.held {
					require.True(t, tc.held, "held a segment whose last part is short\n%s", w.Body.String())
					last := sg.done[len(sg.done)-1]
					held[last.msn] = true
					require.Len(t, m.Trailing, len(last.parts), "the held segment lists all its parts\n%s", w.Body.String())
					require.Equal(t, fmt.Sprintf("ctk-%d.0.m4s", next+1), m.PreloadHint, "the hint names the next segment's first part")
				} else if len(m.Trailing) > 0 {
					require.Equal(t, fmt.Sprintf("ctk-%d.%d.m4s", next, len(m.Trailing)), m.PreloadHint)
				}
				prev = m
			}
			require.Equal(t, 3, completed, "segments completed while live (the fourth ends with the stream)")
			if tc.held {
				require.Len(t, held, 3, "each completed segment held until the next part")
			} else {
				require.Empty(t, held)
			}
			p.End()
			m, err := hlstest.ParseMedia(get(t, p, MediaFile).Body.Bytes())
			require.NoError(t, err)
			require.NoError(t, m.Validate())
			require.True(t, m.EndList)
			require.Len(t, m.Segments, 4)
			require.Empty(t, m.Trailing)
		})
	}
}

// While a completed segment is held, a blocking reload for the part after its
// last (what a client asks for next) and a request for the hinted part are
// answered when the next segment's first part is published, with the segment
// listed complete.
func TestBlockingReloadAcrossHeldSegment(t *testing.T) {
	tags := clip(t)
	p := New("k", "tk", Config{SegmentDuration: time.Second})
	i := 0
	for ; i < len(tags) && !p.snap.Load().held; i++ {
		p.WriteTag(tags[i].Type, tags[i].Timestamp, tags[i].Data)
	}
	require.True(t, p.snap.Load().held, "no segment was held")
	m, err := hlstest.ParseMedia(get(t, p, MediaFile).Body.Bytes())
	require.NoError(t, err)
	require.Empty(t, m.Segments)
	require.Len(t, m.Trailing, 5)
	require.Equal(t, "ctk-1.0.m4s", m.PreloadHint)

	reload := make(chan *httptest.ResponseRecorder, 1)
	go func() { reload <- get(t, p, MediaFile+"?_HLS_msn=0&_HLS_part=5") }()
	hint := make(chan *httptest.ResponseRecorder, 1)
	go func() { hint <- get(t, p, m.PreloadHint) }()
	select {
	case <-reload:
		t.Fatal("blocking reload answered while the segment was held")
	case <-hint:
		t.Fatal("hinted part answered before it existed")
	case <-time.After(200 * time.Millisecond):
	}
	for ; i < len(tags) && p.snap.Load().held; i++ {
		p.WriteTag(tags[i].Type, tags[i].Timestamp, tags[i].Data)
	}
	r := <-reload
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	m2, err := hlstest.ParseMedia(r.Body.Bytes())
	require.NoError(t, err)
	require.NoError(t, m2.Validate(), r.Body.String())
	require.NoError(t, hlstest.CheckProgress(m, m2))
	require.Len(t, m2.Segments, 1, r.Body.String())
	require.Len(t, m2.Trailing, 1, r.Body.String())
	h := <-hint
	require.Equal(t, http.StatusOK, h.Code, h.Body.String())
	require.Equal(t, get(t, p, m2.Trailing[0].URI).Body.Bytes(), h.Body.Bytes())
}
