package recording

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/blob/fsblob"
	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hls"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/boltstore"
)

func needFFmpeg(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("LIVESTACK_E2E") == "1" {
				t.Fatalf("%s is required: %v", tool, err)
			}
			t.Skipf("%s not installed; run `make test` to install it", tool)
		}
	}
}

var (
	fixtureMu   sync.Mutex
	fixtureTags = map[string][]flv.Tag{}
)

// fixture encodes seconds of 320x240 H.264 (keyframe every gop frames at 25
// fps) + AAC with ffmpeg and returns its FLV tags.
func fixture(t testing.TB, seconds, gop int, extra ...string) []flv.Tag {
	t.Helper()
	needFFmpeg(t)
	name := fmt.Sprintf("%d-%d-%s", seconds, gop, strings.Join(extra, "_"))
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if tags, ok := fixtureTags[name]; ok {
		return tags
	}
	p := filepath.Join(t.TempDir(), "fx.flv")
	args := []string{"-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-preset", "ultrafast",
		"-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop), "-sc_threshold", "0"}
	args = append(args, extra...)
	args = append(args, "-c:a", "aac", "-b:a", "64k", "-f", "flv", p)
	out, err := exec.Command("ffmpeg", args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	r := flv.NewReader(f, 0)
	require.NoError(t, r.ReadHeader())
	var tags []flv.Tag
	for {
		tag, err := r.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		tag.Data = append([]byte(nil), tag.Data...)
		tags = append(tags, tag)
	}
	fixtureTags[name] = tags
	return tags
}

type probe struct {
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
	Streams []struct {
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		NbFrames  string `json:"nb_frames"`
		StartTime string `json:"start_time"`
		Duration  string `json:"duration"`
	} `json:"streams"`
}

// ffprobe reads a file (or URL) and returns its duration and codecs; it
// fails the test when ffprobe reports a decode error.
func ffprobe(t *testing.T, path string) (time.Duration, []string, probe) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", path).Output()
	require.NoError(t, err, "ffprobe %s", path)
	var p probe
	require.NoError(t, json.Unmarshal(out, &p))
	secs, err := strconv.ParseFloat(p.Format.Duration, 64)
	require.NoError(t, err, "duration of %s: %s", path, out)
	var codecs []string
	for _, s := range p.Streams {
		codecs = append(codecs, s.CodecName)
	}
	return time.Duration(secs * float64(time.Second)), codecs, p
}

// decodeCheck decodes the whole file with ffmpeg and fails on any error.
func decodeCheck(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Empty(t, strings.TrimSpace(string(out)), "ffmpeg decode of %s", path)
}

type env struct {
	t     testing.TB
	hub   *hub.Hub
	blob  *fsblob.Store
	store *boltstore.Store
	rec   *Recorder
	spool string
	ready chan store.Recording
}

func newEnv(t testing.TB, spool string, tweak func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	if spool == "" {
		spool = filepath.Join(dir, "spool")
	}
	bs, err := fsblob.New(filepath.Join(dir, "blob"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = bs.Close() })
	st, err := boltstore.Open(filepath.Join(dir, "db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	e := &env{t: t, blob: bs, store: st, spool: spool, ready: make(chan store.Recording, 16)}
	// A recorder must never be skipped in these tests, even when the machine is slow.
	e.hub = hub.New(hub.Config{ReconnectWindow: -1, MaxLag: time.Hour})
	cfg := Config{
		SpoolDir: spool, Blob: bs, Store: st, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		FragmentDuration: 500 * time.Millisecond, HLSEndGrace: 500 * time.Millisecond,
		OnReady: func(_ context.Context, r store.Recording) { e.ready <- r },
	}
	if tweak != nil {
		tweak(&cfg)
	}
	e.rec, err = New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.rec.Close(ctx)
	})
	return e
}

func testChannel(id string, mp4Secs int, hlsVod bool) *channel.Channel {
	ch := &channel.Channel{ID: id, Name: id, Enabled: true}
	ch.Recording.MP4 = mp4Secs > 0
	ch.Recording.MP4SegmentSeconds = mp4Secs
	ch.Recording.HLSVOD = hlsVod
	ch.Normalize()
	return ch
}

// publish writes tags into the hub as one publish session; stop (if > 0)
// ends after that much media.
func publish(t testing.TB, p *hub.Publisher, tags []flv.Tag, tsBase uint32, stop time.Duration) {
	t.Helper()
	for _, tag := range tags {
		if stop > 0 && tag.Type != flv.TagScript && time.Duration(tag.Timestamp)*time.Millisecond >= stop {
			return
		}
		var err error
		switch tag.Type {
		case flv.TagVideo:
			err = p.WriteVideo(tag.Timestamp+tsBase, tag.Data)
		case flv.TagAudio:
			err = p.WriteAudio(tag.Timestamp+tsBase, tag.Data)
		case flv.TagScript:
			err = p.WriteMetadata(tag.Data)
		}
		require.NoError(t, err)
	}
}

func (e *env) waitReady(n int) []store.Recording {
	e.t.Helper()
	var out []store.Recording
	for len(out) < n {
		select {
		case r := <-e.ready:
			out = append(out, r)
		case <-time.After(20 * time.Second):
			e.t.Fatalf("only %d of %d recordings became ready", len(out), n)
		}
	}
	return out
}

func (e *env) file(key string) string {
	return filepath.Join(e.blobDir(), "objects", filepath.FromSlash(key))
}

func (e *env) blobDir() string {
	return filepath.Join(filepath.Dir(e.spool), "blob")
}

func TestMP4FilesCutOnKeyframes(t *testing.T) {
	tags := fixture(t, 12, 25)
	e := newEnv(t, "", nil)
	ch := testChannel("cam1", 5, false)
	pub, err := e.hub.Publish(ch.ID, hub.PublishOptions{})
	require.NoError(t, err)
	e.rec.StreamStarted(context.Background(), ch, pub.Stream())
	publish(t, pub, tags, 0, 0)
	pub.Close("done")

	recs := e.waitReady(1)
	r := recs[0]
	assert.Equal(t, store.KindMP4, r.Kind)
	assert.Equal(t, store.StatusComplete, r.Status)
	assert.Equal(t, "cam1", r.ChannelID)
	require.Len(t, r.Keys, 3, "12 s in 5 s files: 5 + 5 + 2")
	assert.True(t, strings.HasPrefix(r.Prefix, "recordings/cam1/"+r.ID+"/"), r.Prefix)
	var total time.Duration
	var bytes int64
	for i, key := range r.Keys {
		assert.Equal(t, fmt.Sprintf("%s%06d.mp4", r.Prefix, i+1), key)
		d, codecs, p := ffprobe(t, e.file(key))
		assert.ElementsMatch(t, []string{"h264", "aac"}, codecs)
		for _, s := range p.Streams {
			st, _ := strconv.ParseFloat(s.StartTime, 64)
			sd, _ := strconv.ParseFloat(s.Duration, 64)
			assert.InDelta(t, 0, st, 0.05, "%s starts at 0 in file %d", s.CodecName, i+1)
			assert.InDelta(t, d.Seconds(), sd, 0.1, "%s lasts as long as the file %d", s.CodecName, i+1)
		}
		if i < 2 {
			assert.InDelta(t, 5.0, d.Seconds(), 0.1, "file %d", i+1)
		}
		total += d
		fi, err := os.Stat(e.file(key))
		require.NoError(t, err)
		bytes += fi.Size()
		info, err := e.blob.Stat(context.Background(), key)
		require.NoError(t, err)
		assert.Equal(t, "video/mp4", info.ContentType)
	}
	decodeCheck(t, e.file(r.Keys[0]))
	assert.InDelta(t, 12.0, total.Seconds(), 0.15)
	assert.InDelta(t, 12000, r.DurationMillis, 150)
	assert.Equal(t, bytes, r.Bytes)
	require.NotNil(t, r.EndedAt)

	got, err := e.store.GetRecording(context.Background(), r.ID)
	require.NoError(t, err)
	assert.Equal(t, r.Keys, got.Keys)
	assert.Equal(t, store.StatusComplete, got.Status)
	entries, _ := os.ReadDir(e.spool)
	assert.Empty(t, entries, "the spool is emptied")
	assert.Equal(t, int64(3), e.rec.Counters.UploadsOK.Load())
	assert.Equal(t, 0, e.rec.Active())
}

// A stream with B-frames keeps its composition offsets and plays from 0.
func TestMP4BFrames(t *testing.T) {
	tags := fixture(t, 4, 50, "-bf", "2", "-x264-params", "b-adapt=0")
	e := newEnv(t, "", nil)
	ch := testChannel("bf", 60, false)
	pub, err := e.hub.Publish(ch.ID, hub.PublishOptions{})
	require.NoError(t, err)
	e.rec.StreamStarted(context.Background(), ch, pub.Stream())
	publish(t, pub, tags, 0, 0)
	pub.Close("done")
	r := e.waitReady(1)[0]
	require.Len(t, r.Keys, 1)
	d, _, p := ffprobe(t, e.file(r.Keys[0]))
	assert.InDelta(t, 4.0, d.Seconds(), 0.15)
	assert.Equal(t, "100", p.Streams[0].NbFrames)
	decodeCheck(t, e.file(r.Keys[0]))
}

// HLS VOD: segments handed over by the packager become objects and a VOD playlist.
func TestHLSVODPlaylist(t *testing.T) {
	e := newEnv(t, "", nil)
	ch := testChannel("vod1", 0, true)
	pub, err := e.hub.Publish(ch.ID, hub.PublishOptions{})
	require.NoError(t, err)
	e.rec.StreamStarted(context.Background(), ch, pub.Stream())
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range 4 {
		e.rec.SegmentReady(context.Background(), hls.Segment{
			StreamKey: "vod1", ChannelID: "vod1", Seq: uint64(10 + i), Start: time.Duration(i) * 2 * time.Second,
			Duration: 2*time.Second + time.Duration(i)*100*time.Millisecond, Discontinuity: i == 2,
			ProgramDateTime: start.Add(time.Duration(i) * 2 * time.Second),
		}.WithBytes([]byte(fmt.Sprintf("segment %d", i))))
	}
	// another stream's segments are not recorded here
	e.rec.SegmentReady(context.Background(), hls.Segment{StreamKey: "other"}.WithBytes([]byte("x")))
	pub.Close("done")
	e.rec.StreamEnded(context.Background(), "vod1")

	r := e.waitReady(1)[0]
	assert.Equal(t, store.KindHLS, r.Kind)
	assert.Equal(t, store.StatusComplete, r.Status)
	assert.Equal(t, r.Prefix+"index.m3u8", r.Playlist)
	assert.True(t, strings.HasPrefix(r.Prefix, "vod/vod1/"))
	assert.Equal(t, int64(2000+2100+2200+2300), r.DurationMillis)
	pl, err := os.ReadFile(e.file(r.Playlist))
	require.NoError(t, err)
	want := "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n" +
		"#EXT-X-PROGRAM-DATE-TIME:2026-12-01T10:00:00.000Z\n#EXTINF:2.000,\n000001.ts\n" +
		"#EXT-X-PROGRAM-DATE-TIME:2026-12-01T10:00:02.000Z\n#EXTINF:2.100,\n000002.ts\n" +
		"#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-12-01T10:00:04.000Z\n#EXTINF:2.200,\n000003.ts\n" +
		"#EXT-X-PROGRAM-DATE-TIME:2026-12-01T10:00:06.000Z\n#EXTINF:2.300,\n000004.ts\n#EXT-X-ENDLIST\n"
	assert.Equal(t, want, string(pl))
	b, err := os.ReadFile(e.file(r.Prefix + "000003.ts"))
	require.NoError(t, err)
	assert.Equal(t, "segment 2", string(b))
	info, err := e.blob.Stat(context.Background(), r.Playlist)
	require.NoError(t, err)
	assert.Equal(t, "application/vnd.apple.mpegurl", info.ContentType)
}

// Without the packager's StreamEnded the HLS VOD recording ends HLSEndGrace
// after the stream; a recording that got no media is removed, not indexed.
func TestHLSEndsWithoutPackagerAndEmptyRecordingIsRemoved(t *testing.T) {
	e := newEnv(t, "", nil)
	ch := testChannel("quiet", 0, true)
	pub, err := e.hub.Publish(ch.ID, hub.PublishOptions{})
	require.NoError(t, err)
	e.rec.StreamStarted(context.Background(), ch, pub.Stream())
	e.rec.SegmentReady(context.Background(), hls.Segment{StreamKey: "quiet", Duration: time.Second}.WithBytes([]byte("s")))
	pub.Close("done")
	r := e.waitReady(1)[0]
	assert.Equal(t, int64(1000), r.DurationMillis)

	ch2 := testChannel("empty", 0, true)
	pub, err = e.hub.Publish(ch2.ID, hub.PublishOptions{})
	require.NoError(t, err)
	e.rec.StreamStarted(context.Background(), ch2, pub.Stream())
	require.Eventually(t, func() bool {
		page, err := e.store.ListRecordings(context.Background(), store.RecordingQuery{ChannelID: "empty"})
		return err == nil && len(page.Recordings) == 1 && page.Recordings[0].Status == store.StatusRecording
	}, 5*time.Second, 10*time.Millisecond, "a recording in progress is listed")
	pub.Close("done")
	require.Eventually(t, func() bool {
		page, err := e.store.ListRecordings(context.Background(), store.RecordingQuery{ChannelID: "empty"})
		return err == nil && len(page.Recordings) == 0 && e.rec.Active() == 0
	}, 5*time.Second, 10*time.Millisecond)
}

// flaky fails the first n Puts, as S3 does when it throttles or a link drops.
type flaky struct {
	*fsblob.Store
	mu   sync.Mutex
	left int
}

func (f *flaky) Put(ctx context.Context, key string, body io.Reader, size int64, ct string) error {
	f.mu.Lock()
	fail := f.left != 0
	if f.left > 0 {
		f.left--
	}
	f.mu.Unlock()
	if fail {
		_, _ = io.CopyN(io.Discard, body, 100)
		return fmt.Errorf("put %s: injected failure", key)
	}
	return f.Store.Put(ctx, key, body, size, ct)
}

func TestUploadFailuresAreRetried(t *testing.T) {
	tags := fixture(t, 12, 25)
	var fb *flaky
	e := newEnv(t, "", nil)
	// rebuild the recorder on a flaky blob store
	require.NoError(t, e.rec.Close(context.Background()))
	fb = &flaky{Store: e.blob, left: 5}
	var err error
	e.rec, err = New(Config{SpoolDir: e.spool, Blob: fb, Store: e.store, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		OnReady: func(_ context.Context, r store.Recording) { e.ready <- r }})
	require.NoError(t, err)
	ch := testChannel("flaky", 5, false)
	pub, err := e.hub.Publish(ch.ID, hub.PublishOptions{})
	require.NoError(t, err)
	e.rec.StreamStarted(context.Background(), ch, pub.Stream())
	publish(t, pub, tags, 0, 0)
	pub.Close("done")
	r := e.waitReady(1)[0]
	require.Len(t, r.Keys, 3)
	for _, k := range r.Keys {
		_, err := e.blob.Stat(context.Background(), k)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(5), e.rec.Counters.UploadsFailed.Load())
	assert.Equal(t, int64(5), e.rec.Counters.UploadRetries.Load())
	assert.Equal(t, int64(3), e.rec.Counters.UploadsOK.Load())
	require.NoError(t, e.rec.Close(context.Background()))
}

// The blob store is down when the process stops: the files stay in the spool
// and the next start uploads them; the recording ended cleanly, so it is complete.
func TestSpoolSurvivesShutdownWithStoreDown(t *testing.T) {
	tags := fixture(t, 12, 25)
	e := newEnv(t, "", nil)
	require.NoError(t, e.rec.Close(context.Background()))
	down := &flaky{Store: e.blob, left: -1}
	var err error
	e.rec, err = New(Config{SpoolDir: e.spool, Blob: down, Store: e.store, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	require.NoError(t, err)
	ch := testChannel("down", 5, true)
	pub, err := e.hub.Publish(ch.ID, hub.PublishOptions{})
	require.NoError(t, err)
	e.rec.StreamStarted(context.Background(), ch, pub.Stream())
	publish(t, pub, tags, 0, 0)
	e.rec.SegmentReady(context.Background(), hls.Segment{StreamKey: "down", Duration: 2 * time.Second}.WithBytes([]byte("ts")))
	pub.Close("done")
	e.rec.StreamEnded(context.Background(), "down")
	require.Eventually(t, func() bool { n, _ := e.rec.SpoolPending(); return n == 4 }, 10*time.Second, 10*time.Millisecond,
		"3 MP4 files and 1 segment wait in the spool")
	_, pendingBytes := e.rec.SpoolPending()
	assert.Greater(t, pendingBytes, int64(100_000))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	require.Error(t, e.rec.Close(ctx), "Close reports what it could not upload")
	page, err := e.store.ListRecordings(context.Background(), store.RecordingQuery{ChannelID: "down"})
	require.NoError(t, err)
	require.Len(t, page.Recordings, 2)
	for _, r := range page.Recordings {
		assert.Equal(t, store.StatusRecording, r.Status, "not finished while files wait")
	}

	e.rec, err = New(Config{SpoolDir: e.spool, Blob: e.blob, Store: e.store, MinBackoff: 5 * time.Millisecond,
		OnReady: func(_ context.Context, r store.Recording) { e.ready <- r }})
	require.NoError(t, err)
	recs := e.waitReady(2)
	for _, r := range recs {
		assert.Equal(t, store.StatusComplete, r.Status, "%s ended cleanly before the stop", r.Kind)
		if r.Kind == store.KindMP4 {
			assert.Len(t, r.Keys, 3)
			assert.InDelta(t, 12000, r.DurationMillis, 150)
		} else {
			assert.Equal(t, int64(2000), r.DurationMillis)
		}
	}
	assert.Equal(t, int64(4), e.rec.Counters.FilesRecovered.Load())
}

// A crash (the process dies mid-recording) is simulated by copying the spool
// and the blob store while a recording runs, tearing the journal being
// written, and starting a recorder on the copies.
func TestCrashRecoveryFromSpool(t *testing.T) {
	tags := fixture(t, 12, 25)
	e := newEnv(t, "", nil)
	ch := testChannel("crash", 5, false)
	pub, err := e.hub.Publish(ch.ID, hub.PublishOptions{})
	require.NoError(t, err)
	e.rec.StreamStarted(context.Background(), ch, pub.Stream())
	publish(t, pub, tags, 0, 8*time.Second) // 5 s in file 1, 3 s in file 2, still live

	// Wait until file 1 is uploaded and file 2's journal holds its fragments.
	var journal string
	require.Eventually(t, func() bool {
		n, _ := e.rec.SpoolPending()
		m, _ := filepath.Glob(filepath.Join(e.spool, "*", "000002.mp4.journal"))
		if n != 0 || len(m) != 1 {
			return false
		}
		journal = m[0]
		fi, err := os.Stat(journal)
		return err == nil && fi.Size() > 100_000
	}, 10*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)

	crash := t.TempDir()
	require.NoError(t, exec.Command("cp", "-a", e.spool, filepath.Join(crash, "spool")).Run())
	require.NoError(t, exec.Command("cp", "-a", e.blobDir(), filepath.Join(crash, "blob")).Run())
	cj := filepath.Join(crash, "spool", filepath.Base(filepath.Dir(journal)), "000002.mp4.journal")
	fi, err := os.Stat(cj)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(cj, fi.Size()-777), "a torn last fragment")
	// and a torn line at the end of the file log
	lf, err := os.OpenFile(filepath.Join(filepath.Dir(cj), logName), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, _ = lf.WriteString(`{"seq":3,"name":"000003.m`)
	require.NoError(t, lf.Close())

	bs, err := fsblob.New(filepath.Join(crash, "blob"))
	require.NoError(t, err)
	defer bs.Close()
	st, err := boltstore.Open(filepath.Join(crash, "db"))
	require.NoError(t, err)
	defer st.Close()
	ready := make(chan store.Recording, 1)
	rec2, err := New(Config{SpoolDir: filepath.Join(crash, "spool"), Blob: bs, Store: st, MinBackoff: 5 * time.Millisecond,
		OnReady: func(_ context.Context, r store.Recording) { ready <- r }})
	require.NoError(t, err)
	defer rec2.Close(context.Background())
	var r store.Recording
	select {
	case r = <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("the recovered recording never became ready")
	}
	assert.Equal(t, store.StatusIncomplete, r.Status)
	require.Len(t, r.Keys, 2)
	var total time.Duration
	for _, k := range r.Keys {
		p := filepath.Join(crash, "blob", "objects", filepath.FromSlash(k))
		d, codecs, _ := ffprobe(t, p)
		assert.ElementsMatch(t, []string{"h264", "aac"}, codecs)
		decodeCheck(t, p)
		total += d
	}
	// file 1 whole (5 s) + file 2 up to its last complete fragment (0.5 s
	// fragments; the torn one and the samples not yet flushed are lost)
	assert.Greater(t, total.Seconds(), 6.5)
	assert.LessOrEqual(t, total.Seconds(), 8.05)
	assert.InDelta(t, total.Milliseconds(), r.DurationMillis, 100)
	require.NotNil(t, r.EndedAt)
	assert.False(t, r.EndedAt.Before(r.StartedAt))
	entries, _ := os.ReadDir(filepath.Join(crash, "spool"))
	assert.Empty(t, entries)

	pub.Close("done")
	e.waitReady(1)
}

// A publisher that reconnects inside the reconnect window continues the same
// recording: one broadcast, one recording, continuous files.
func TestReconnectContinuesRecording(t *testing.T) {
	tags := fixture(t, 12, 25)
	e := newEnv(t, "", nil)
	e.hub = hub.New(hub.Config{ReconnectWindow: 2 * time.Second, MaxLag: time.Hour})
	ch := testChannel("rc", 5, false)
	pub, err := e.hub.Publish(ch.ID, hub.PublishOptions{})
	require.NoError(t, err)
	e.rec.StreamStarted(context.Background(), ch, pub.Stream())
	publish(t, pub, tags, 0, 4*time.Second)
	pub.Close("network drop")
	time.Sleep(200 * time.Millisecond)
	pub2, err := e.hub.Publish(ch.ID, hub.PublishOptions{})
	require.NoError(t, err)
	require.Same(t, pub.Stream(), pub2.Stream(), "the hub continued the stream")
	publish(t, pub2, tags, 90_000, 4*time.Second) // an encoder whose clock restarted elsewhere
	pub2.Close("done")
	r := e.waitReady(1)[0]
	page, err := e.store.ListRecordings(context.Background(), store.RecordingQuery{ChannelID: "rc"})
	require.NoError(t, err)
	require.Len(t, page.Recordings, 1, "one recording per broadcast")
	require.Len(t, r.Keys, 2)
	var total time.Duration
	for _, k := range r.Keys {
		d, _, _ := ffprobe(t, e.file(k))
		total += d
	}
	assert.InDelta(t, 8.0, total.Seconds(), 0.3)
}

// A recorder the hub makes skip (it fell behind the live edge) cuts its file
// at the gap: every file stays a valid MP4, nothing is bridged.
func TestMP4SurvivesSkips(t *testing.T) {
	tags := fixture(t, 12, 25)
	e := newEnv(t, "", nil)
	e.hub = hub.New(hub.Config{ReconnectWindow: -1, MaxLag: 1500 * time.Millisecond, MaxSkips: 1000})
	ch := testChannel("skippy", 4, false)
	pub, err := e.hub.Publish(ch.ID, hub.PublishOptions{})
	require.NoError(t, err)
	e.rec.StreamStarted(context.Background(), ch, pub.Stream())
	// 12 s of media at once: the recorder falls behind and is moved to the
	// latest keyframe, past the sequence headers it never read.
	// The stream ends at once: on a loaded machine the recorder reads its
	// first packets only after that, and the hub still gives it the headers
	// it skipped over.
	publish(t, pub, tags, 0, 0)
	pub.Close("done")
	r := e.waitReady(1)[0]
	require.NotEmpty(t, r.Keys)
	var total time.Duration
	for _, k := range r.Keys {
		d, codecs, _ := ffprobe(t, e.file(k))
		assert.Contains(t, codecs, "h264")
		total += d
	}
	assert.LessOrEqual(t, total.Seconds(), 12.1)
	assert.InDelta(t, total.Milliseconds(), r.DurationMillis, 100)
	t.Logf("%d files, %.2f s recorded of 12 s", len(r.Keys), total.Seconds())
}

// A broadcast longer than a recording may list continues in a new recording
// of the same broadcast.
func TestMP4RollsOverToNewRecording(t *testing.T) {
	tags := fixture(t, 12, 25)
	e := newEnv(t, "", func(c *Config) { c.MaxFiles = 2 })
	ch := testChannel("long", 3, false)
	pub, err := e.hub.Publish(ch.ID, hub.PublishOptions{})
	require.NoError(t, err)
	e.rec.StreamStarted(context.Background(), ch, pub.Stream())
	publish(t, pub, tags, 0, 0)
	pub.Close("done")
	recs := e.waitReady(2)
	slices.SortFunc(recs, func(a, b store.Recording) int { return a.StartedAt.Compare(b.StartedAt) })
	require.Len(t, recs[0].Keys, 2)
	require.Len(t, recs[1].Keys, 2, "12 s in 3 s files: 2 + 2")
	assert.Equal(t, recs[0].BroadcastID, recs[1].BroadcastID)
	assert.NotEqual(t, recs[0].ID, recs[1].ID)
	assert.True(t, strings.HasSuffix(recs[1].ID, "-mp4-2"), recs[1].ID)
	assert.Equal(t, recs[1].Prefix+"000001.mp4", recs[1].Keys[0], "the new recording numbers its files from 1")
	for _, r := range recs {
		assert.Equal(t, store.StatusComplete, r.Status)
		assert.InDelta(t, 6000, r.DurationMillis, 100)
	}
}

func TestRenderPlaylistStopsAtPending(t *testing.T) {
	h := header{TargetSeconds: 2}
	files := []*fileEntry{
		{Seq: 1, Name: "000001.ts", State: stateUploaded, DurationMillis: 2000},
		{Seq: 2, Name: "000002.ts", State: stateDropped},
		{Seq: 3, Name: "000003.ts", State: stateUploaded, DurationMillis: 4400, Discontinuity: true},
		{Seq: 4, Name: "000004.ts", State: stateReady, DurationMillis: 2000},
		{Seq: 5, Name: "000005.ts", State: stateUploaded, DurationMillis: 2000},
	}
	got := renderPlaylist(h, files, false)
	want := "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-TARGETDURATION:5\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n" +
		"#EXTINF:2.000,\n000001.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:4.400,\n000003.ts\n"
	assert.Equal(t, want, got, "a segment not stored yet ends the list; the target covers the longest segment")
	files[3].State = stateUploaded
	got = renderPlaylist(h, files, true)
	assert.Contains(t, got, "#EXT-X-PLAYLIST-TYPE:VOD\n")
	assert.Contains(t, got, "000005.ts\n#EXT-X-ENDLIST\n")
}
