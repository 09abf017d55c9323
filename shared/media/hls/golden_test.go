package hls

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
)

// updateGolden rewrites testdata/golden_ts.txt from the current muxer:
//
//	go test -run TestSegmenterGolden -update-golden ./shared/media/hls/
var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden_ts.txt")

const goldenFile = "testdata/golden_ts.txt"

// goldenScenario feeds one stream to a segmenter.
type goldenScenario struct {
	name   string
	target time.Duration
	feed   func(s tagWriter, tags []flv.Tag)
}

// media drops script tags.
func media(tags []flv.Tag) []flv.Tag {
	var out []flv.Tag
	for _, t := range tags {
		if t.Type != flv.TagScript {
			out = append(out, t)
		}
	}
	return out
}

func feedTags(s tagWriter, tags []flv.Tag, base uint32) {
	for _, t := range tags {
		s.WriteTag(t.Type, t.Timestamp+base, t.Data)
	}
}

// seqHeader returns the clip's sequence header of type typ.
func seqHeader(tags []flv.Tag, typ flv.TagType) []byte {
	for _, t := range tags {
		switch typ {
		case flv.TagVideo:
			if v, err := flv.ParseVideo(t.Data); t.Type == typ && err == nil && v.PacketType == flv.VideoSequenceHeader {
				return t.Data
			}
		case flv.TagAudio:
			if a, err := flv.ParseAudio(t.Data); t.Type == typ && err == nil && a.PacketType == flv.AudioSequenceHeader {
				return t.Data
			}
		}
	}
	panic("no sequence header")
}

// goldenScenarios cover what the TS bytes depend on: cuts, continuity counters
// over many segments, codec changes (tables rebuilt, discontinuities), single-track
// streams, a track appearing mid-stream, malformed frames (dropped, counted) and a
// NAL unit length size changing inside a segment.
func goldenScenarios() []goldenScenario {
	return []goldenScenario{
		{"clip-1s", time.Second, func(s tagWriter, tags []flv.Tag) { feedTags(s, tags, 0) }},
		{"clip-2s-loop10", 2 * time.Second, func(s tagWriter, tags []flv.Tag) {
			m := media(tags)
			for i := range 10 {
				feedTags(s, m, uint32(i)*4000)
			}
		}},
		{"codec-change", time.Second, func(s tagWriter, tags []flv.Tag) {
			m := media(tags)
			feedTags(s, m, 0)
			feedTags(s, m, 4000)
			changed := bytes.Clone(seqHeader(tags, flv.TagVideo))
			changed[len(changed)-1] ^= 0x01 // PPS byte: other parameters, same SPS
			s.WriteTag(flv.TagVideo, 8000, changed)
			feedTags(s, m, 8000)
		}},
		{"audio-only", time.Second, func(s tagWriter, tags []flv.Tag) {
			for _, t := range tags {
				if t.Type == flv.TagAudio {
					s.WriteTag(t.Type, t.Timestamp, t.Data)
				}
			}
		}},
		{"video-only", time.Second, func(s tagWriter, tags []flv.Tag) {
			for _, t := range tags {
				if t.Type == flv.TagVideo {
					s.WriteTag(t.Type, t.Timestamp, t.Data)
				}
			}
		}},
		{"malformed", time.Second, func(s tagWriter, tags []flv.Tag) {
			badP := []byte{0x27, 1, 0, 0, 0, 0, 0, 0, 99, 0x41}  // NAL unit of 99 bytes, 1 there
			badK := []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 200, 0x65} // a keyframe, as broken
			for _, t := range tags {
				s.WriteTag(t.Type, t.Timestamp, t.Data)
				if t.Type == flv.TagVideo && t.Timestamp == 520 {
					s.WriteTag(flv.TagVideo, 530, badP)
				}
				if t.Type == flv.TagVideo && t.Timestamp == 2440 {
					s.WriteTag(flv.TagVideo, 2450, badK)
				}
			}
		}},
		{"discontinuity", time.Second, func(s tagWriter, tags []flv.Tag) {
			for i, t := range tags {
				s.WriteTag(t.Type, t.Timestamp, t.Data)
				if i == 50 {
					s.Discontinuity()
				}
			}
		}},
		{"audio-config-change", 2 * time.Second, func(s tagWriter, tags []flv.Tag) {
			stereo := bytes.Clone(seqHeader(tags, flv.TagAudio))
			stereo[3] = stereo[3]&^0x78 | 2<<3 // channel configuration 2
			done := false
			for _, t := range tags {
				if !done && t.Timestamp >= 700 {
					s.WriteTag(flv.TagAudio, t.Timestamp, stereo)
					done = true
				}
				s.WriteTag(t.Type, t.Timestamp, t.Data)
			}
		}},
		{"audio-late", time.Second, func(s tagWriter, tags []flv.Tag) {
			asc := seqHeader(tags, flv.TagAudio)
			sent := false
			for _, t := range tags {
				if t.Type == flv.TagAudio && t.Timestamp < 1500 {
					continue
				}
				if t.Type == flv.TagAudio && !sent {
					s.WriteTag(flv.TagAudio, t.Timestamp, asc)
					sent = true
				}
				s.WriteTag(t.Type, t.Timestamp, t.Data)
			}
		}},
		{"video-late", time.Second, func(s tagWriter, tags []flv.Tag) {
			avc := seqHeader(tags, flv.TagVideo)
			sent := false
			for _, t := range tags {
				if t.Type == flv.TagVideo && t.Timestamp < 1500 {
					continue
				}
				if t.Type == flv.TagVideo && !sent {
					s.WriteTag(flv.TagVideo, t.Timestamp, avc)
					sent = true
				}
				s.WriteTag(t.Type, t.Timestamp, t.Data)
			}
		}},
		{"avc-length-change", 2 * time.Second, func(s tagWriter, tags []flv.Tag) {
			orig := seqHeader(tags, flv.TagVideo)
			// The clip's 4-byte lengths of NAL units under 64 KB read as a zero-length
			// unit and the real one with 2-byte lengths; the crafted frame parses only
			// with 2-byte lengths, the 3-byte configuration makes every frame malformed.
			two, three := bytes.Clone(orig), bytes.Clone(orig)
			two[5+4], three[5+4] = 0xFC|1, 0xFC|2 // lengthSizeMinusOne
			for _, t := range tags {
				s.WriteTag(t.Type, t.Timestamp, t.Data)
				if t.Type == flv.TagVideo && t.Timestamp == 400 {
					s.WriteTag(flv.TagVideo, 400, two)
					s.WriteTag(flv.TagVideo, 410, []byte{0x27, 1, 0, 0, 0, 0, 2, 0x41, 0x9A})
				}
				if t.Type == flv.TagVideo && t.Timestamp == 1600 {
					s.WriteTag(flv.TagVideo, 1600, three)
				}
				if t.Type == flv.TagVideo && t.Timestamp == 2600 {
					s.WriteTag(flv.TagVideo, 2600, orig)
				}
			}
		}},
	}
}

// goldenRun segments one scenario and describes every segment: sequence, times,
// discontinuity, size and SHA-256 of the TS bytes.
func goldenRun(t *testing.T, sc goldenScenario, tags []flv.Tag) (lines []string, segs []Segment) {
	t.Helper()
	s := NewSegmenter("k", "k", sc.target, 0, func(seg Segment) { segs = append(segs, seg) })
	sc.feed(s, tags)
	s.Flush()
	lines = append(lines, fmt.Sprintf("%s errors=%d segments=%d", sc.name, s.Errors, len(segs)))
	for _, seg := range segs {
		data := seg.Bytes()
		sum := sha256.Sum256(data)
		lines = append(lines, fmt.Sprintf("%s %d start=%d dur=%d disc=%t size=%d sha256=%s", sc.name, seg.Seq,
			seg.Start.Milliseconds(), seg.Duration.Milliseconds(), seg.Discontinuity, len(data), hex.EncodeToString(sum[:])))
	}
	return lines, segs
}

// TestSegmenterGolden checks the TS bytes of every scenario against
// testdata/golden_ts.txt, written by the eager muxer (every frame muxed as it
// arrived) before segments were muxed on demand: same bytes, segment by segment.
func TestSegmenterGolden(t *testing.T) {
	tags := clip(t)
	var all []string
	for _, sc := range goldenScenarios() {
		lines, _ := goldenRun(t, sc, tags)
		all = append(all, lines...)
	}
	got := strings.Join(all, "\n") + "\n"
	if *updateGolden {
		require.NoError(t, os.WriteFile(goldenFile, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(goldenFile)
	require.NoError(t, err)
	wantLines := strings.Split(strings.TrimSpace(string(want)), "\n")
	gotLines := strings.Split(strings.TrimSpace(got), "\n")
	for i := range max(len(wantLines), len(gotLines)) {
		var w, g string
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if i < len(gotLines) {
			g = gotLines[i]
		}
		require.Equal(t, w, g, "line %d", i+1)
	}
}
