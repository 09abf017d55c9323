package recording

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testSPS = []byte{ // 1920x1080 baseline (mediacommon's test SPS)
	0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02,
	0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04,
	0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9,
	0x20,
}

// testInit is the init block of H.264 video and stereo AAC-LC at rate Hz.
func testInit(rate int) *fmp4.Init {
	return &fmp4.Init{Tracks: []*fmp4.InitTrack{
		{ID: videoTrackID, TimeScale: videoTimeScale, Codec: &codecs.H264{SPS: testSPS, PPS: []byte{0x08}}},
		{ID: audioTrackID, TimeScale: uint32(rate), Codec: &codecs.MPEG4Audio{Config: mpeg4audio.AudioSpecificConfig{
			Type: mpeg4audio.ObjectTypeAACLC, SampleRate: rate, ChannelConfig: 2}}},
	}}
}

// syntheticJournal writes a journal of frags fragments (1 s of 25 fps video
// and 44.1 kHz AAC each) and returns its bytes and the fragment end offsets.
func syntheticJournal(t testing.TB, frags int) ([]byte, []int64, []int) {
	path := filepath.Join(t.TempDir(), "j.mp4.journal")
	j, err := createJournal(path, testInit(44100), nil)
	require.NoError(t, err)
	var ends []int64
	var samples []int
	vt, at := uint64(0), uint64(0)
	total := 0
	for f := range frags {
		var v, a []*fmp4.Sample
		for i := range 25 {
			v = append(v, &fmp4.Sample{Duration: 3600, IsNonSyncSample: i != 0, Payload: bytes.Repeat([]byte{byte(f), byte(i)}, 50+i)})
		}
		for i := range 43 {
			a = append(a, &fmp4.Sample{Duration: 1024, Payload: bytes.Repeat([]byte{0xaa, byte(i)}, 20)})
		}
		require.NoError(t, j.writePart([]*fmp4.PartTrack{{ID: videoTrackID, BaseTime: vt, Samples: v}, {ID: audioTrackID, BaseTime: at, Samples: a}}))
		vt += 25 * 3600
		at += 43 * 1024
		total += 25 + 43
		ends = append(ends, j.bytes)
		samples = append(samples, total)
	}
	require.NoError(t, j.close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b, ends, samples
}

// checkFinished parses the finished MP4 at path with mediacommon's reader
// (which shares no code with the writer) and checks that it holds the first
// frags fragments of syntheticJournal, payloads included.
func checkFinished(t *testing.T, path string, frags int) {
	t.Helper()
	fh, err := os.Open(path)
	require.NoError(t, err)
	defer fh.Close()
	var p pmp4.Presentation
	require.NoError(t, p.Unmarshal(fh))
	require.Len(t, p.Tracks, 2)
	v, a := p.Tracks[0], p.Tracks[1]
	require.Len(t, v.Samples, 25*frags)
	require.Len(t, a.Samples, 43*frags)
	for n, s := range v.Samples {
		f, i := n/25, n%25
		pl, err := s.GetPayload()
		require.NoError(t, err)
		require.Equal(t, bytes.Repeat([]byte{byte(f), byte(i)}, 50+i), pl, "video sample %d", n)
		require.Equal(t, uint32(3600), s.Duration)
		require.Equal(t, i != 0, s.IsNonSyncSample, "video sample %d", n)
	}
	for n, s := range a.Samples {
		pl, err := s.GetPayload()
		require.NoError(t, err)
		require.Equal(t, bytes.Repeat([]byte{0xaa, byte(n % 43)}, 20), pl, "audio sample %d", n)
		require.Equal(t, uint32(1024), s.Duration)
	}
}

// A journal torn anywhere finishes into a valid MP4 of its complete
// fragments, or reports that it holds none.
func TestJournalTornAnywhere(t *testing.T) {
	b, ends, samples := syntheticJournal(t, 3)
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst.mp4")
	for cut := int64(0); cut <= int64(len(b)); cut += 173 {
		if cut+173 > int64(len(b)) {
			cut = int64(len(b))
		}
		require.NoError(t, os.WriteFile(src, b[:cut], 0o644))
		st, err := finishJournal(src, dst, nil, nil)
		want, frags := 0, 0
		for i, e := range ends {
			if cut >= e {
				want, frags = samples[i], i+1
			}
		}
		if want == 0 {
			require.ErrorIs(t, err, errEmptyJournal, "cut at %d", cut)
			continue
		}
		require.NoError(t, err, "cut at %d", cut)
		assert.Equal(t, want, st.Samples, "cut at %d", cut)
		assert.Equal(t, !slices.Contains(ends, cut), st.Truncated, "a torn tail is reported (cut at %d)", cut)
		checkFinished(t, dst, frags)
		fi, err := os.Stat(dst)
		require.NoError(t, err)
		assert.Equal(t, fi.Size(), st.Bytes)
		assert.InDelta(t, float64(want/68), st.Duration.Seconds(), 0.05)
		if cut == int64(len(b)) {
			break
		}
	}
}

// finishSynthetic finishes a 3-fragment syntheticJournal and returns its
// bytes, the journal and finished paths and the stats.
func finishSynthetic(t *testing.T) (journal []byte, src, dst string, st finishStats) {
	t.Helper()
	journal, _, _ = syntheticJournal(t, 3)
	dir := t.TempDir()
	src, dst = filepath.Join(dir, "src"), filepath.Join(dir, "dst.mp4")
	require.NoError(t, os.WriteFile(src, journal, 0o644))
	st, err := finishJournal(src, dst, nil, nil)
	require.NoError(t, err)
	return journal, src, dst, st
}

// Finishing again, after a crash anywhere in or after the first finish (a
// torn moov, or a journal finished but never renamed), gives the same file.
func TestFinishJournalIsIdempotent(t *testing.T) {
	b, src, dst, st := finishSynthetic(t)
	want, err := os.ReadFile(dst)
	require.NoError(t, err)
	require.Len(t, want, int(st.Bytes))
	checkFinished(t, dst, 3)
	for _, cut := range []int{len(b), len(b) + 8, len(want) - 1, len(want)} {
		require.NoError(t, os.WriteFile(src, want[:cut], 0o644))
		require.NoError(t, os.Remove(dst))
		st2, err := finishJournal(src, dst, nil, nil)
		require.NoError(t, err, "cut at %d", cut)
		got, err := os.ReadFile(dst)
		require.NoError(t, err)
		assert.Equal(t, want, got, "cut at %d", cut)
		assert.False(t, st2.Truncated)
	}
	// dst left over from the first finish (same inode) is replaced.
	require.NoError(t, os.WriteFile(src, b, 0o644))
	_, err = finishJournal(src, dst, nil, nil)
	require.NoError(t, err)
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// The finished file is what ffprobe reads as H.264 + AAC of the right
// duration, with the moov after the mdat.
func TestFinishedJournalProbes(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed")
	}
	_, _, dst, _ := finishSynthetic(t)
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,duration:format=duration",
		"-of", "compact", dst).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "codec_name=h264|duration=3.000000")
	assert.Contains(t, string(out), "codec_name=aac|duration=2.995")
	assert.Contains(t, string(out), "format|duration=3.000000")
}

// FuzzFinishJournal feeds arbitrary journal bytes (a spool torn or damaged
// on disk) to finishJournal: it never panics, and what it writes parses.
func FuzzFinishJournal(f *testing.F) {
	b, ends, _ := syntheticJournal(f, 2)
	f.Add(b)
	f.Add(b[:ends[0]])
	f.Add(b[:ends[0]+100])
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst.mp4")
		require.NoError(t, os.WriteFile(src, data, 0o644))
		_ = os.Remove(dst)
		st, err := finishJournal(src, dst, nil, nil)
		if err != nil {
			_, statErr := os.Stat(dst)
			assert.True(t, os.IsNotExist(statErr), "no output after an error")
			return
		}
		require.Positive(t, st.Samples)
		fh, err := os.Open(dst)
		require.NoError(t, err)
		defer fh.Close()
		var p pmp4.Presentation
		assert.NoError(t, p.Unmarshal(fh))
	})
}

// FuzzReadSpool feeds arbitrary recording.json and files.log contents to the
// spool reader: it never panics and returns only valid file names.
func FuzzReadSpool(f *testing.F) {
	f.Add([]byte(`{"version":1,"id":"a-mp4","kind":"mp4","prefix":"recordings/c/a-mp4/","startedAt":"2026-12-01T10:00:00Z"}`),
		[]byte("\n{\"seq\":1,\"name\":\"000001.mp4\",\"state\":\"ready\"}\n{\"seq\":2,\"name\":\"000002.m"))
	f.Add([]byte(`{}`), []byte(`{"seq":-1,"name":"../x"}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, hdr, log []byte) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, headerName), hdr, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, logName), log, 0o644))
		_, files, err := readSpool(dir)
		if err != nil {
			return
		}
		for _, fe := range files {
			assert.True(t, validFileName(fe.Name), "%q", fe.Name)
			assert.Positive(t, fe.Seq)
		}
	})
}

// A journal whose "writing" line never reached files.log is still found.
func TestReadSpoolFindsUnloggedJournals(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, headerName),
		[]byte(`{"version":1,"id":"a-mp4","kind":"mp4","prefix":"recordings/c/a-mp4/","startedAt":"2026-12-01T10:00:00Z"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, logName),
		[]byte("\n{\"seq\":3,\"name\":\"000003.mp4\",\"state\":\"closed\"}\n{\"seq\":1,\"name\":\"000001.mp4\",\"state\":\"uploaded\"}\n"), 0o644))
	for _, name := range []string{"000002.mp4.journal", "000003.mp4.journal", "x.journal", ".hidden.mp4.journal", "000004.mp4"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o644))
	}
	_, files, err := readSpool(dir)
	require.NoError(t, err)
	var got []string
	for _, f := range files {
		got = append(got, fmt.Sprintf("%d %s %s", f.Seq, f.Name, f.State))
	}
	assert.Equal(t, []string{"1 000001.mp4 uploaded", "2 000002.mp4 writing", "3 000003.mp4 closed"}, got)
}

// A journal this process wrote is finished from the index kept while writing
// it, reading none of it back, into the very file a scan of the journal
// gives; a fragment written only in part is cut off the same way.
func TestJournalIndexFinishesLikeAScan(t *testing.T) {
	for _, tc := range []struct {
		name string
		torn bool
	}{{"whole", false}, {"torn write", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "j.mp4.journal")
			j, err := createJournal(path, testInit(48000), nil)
			require.NoError(t, err)
			require.NotNil(t, j.idx)
			vt, at := uint64(0), uint64(0)
			for f := range 4 {
				var v, a []*fmp4.Sample
				for i := range 30 {
					// B-frames: composition offsets that vary, a keyframe per fragment
					v = append(v, &fmp4.Sample{Duration: 3000 + uint32(i%2), PTSOffset: int32(i%3) * 3000,
						IsNonSyncSample: i != 0, Payload: bytes.Repeat([]byte{byte(f), byte(i)}, 40+i)})
				}
				for i := range 47 {
					a = append(a, &fmp4.Sample{Duration: 1024, Payload: bytes.Repeat([]byte{0xbb, byte(i)}, 15)})
				}
				tracks := []*fmp4.PartTrack{{ID: videoTrackID, BaseTime: vt, Samples: v}, {ID: audioTrackID, BaseTime: at, Samples: a}}
				if tc.torn && f == 3 {
					// The last fragment is written in part and then fails.
					whole := appendPart(nil, fmp4.Part{SequenceNumber: j.seq + 1, Tracks: tracks})
					_, err := j.f.Write(whole[:len(whole)/2])
					require.NoError(t, err)
					j.bytes += int64(len(whole) / 2)
					require.NoError(t, j.f.Close())
					require.Error(t, j.writePart(tracks))
					require.True(t, j.idx.torn)
					break
				}
				require.NoError(t, j.writePart(tracks))
				vt += 30 * 3000
				at += 47 * 1024
			}
			if !tc.torn {
				require.NoError(t, j.close())
			}
			journal, err := os.ReadFile(path)
			require.NoError(t, err)
			finish := func(name string, idx *journalIndex) ([]byte, finishStats) {
				src, dst := filepath.Join(dir, name), filepath.Join(dir, name+".mp4")
				require.NoError(t, os.WriteFile(src, journal, 0o644))
				st, err := finishJournal(src, dst, nil, idx)
				require.NoError(t, err)
				b, err := os.ReadFile(dst)
				require.NoError(t, err)
				return b, st
			}
			scanned, scanSt := finish("scanned", nil)
			indexed, idxSt := finish("indexed", j.idx)
			assert.Equal(t, scanSt, idxSt)
			assert.Equal(t, tc.torn, idxSt.Truncated)
			frags := 4
			if tc.torn {
				frags = 3
			}
			assert.Equal(t, frags*(30+47), idxSt.Samples)
			assert.True(t, bytes.Equal(scanned, indexed), "the same file either way")
			// Finishing again from the index (a retry after an I/O error)
			// gives the same file too.
			src := filepath.Join(dir, "indexed")
			require.NoError(t, os.Remove(src+".mp4"))
			_, err = finishJournal(src, src+".mp4", nil, j.idx)
			require.NoError(t, err)
			again, err := os.ReadFile(src + ".mp4")
			require.NoError(t, err)
			assert.True(t, bytes.Equal(scanned, again))
		})
	}
}
