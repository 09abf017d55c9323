package worker

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/blob/fsblob"
	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/snapshot"
	"github.com/livestack/livestack/shared/store"
)

// stillsSource answers Open from a script: an error, or a reader that
// yields its tags then io.EOF.
type stillsSource struct {
	mu    sync.Mutex
	steps []func() (TagReader, error)
	opens int
}

func (s *stillsSource) Open(context.Context) (TagReader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opens++
	if len(s.steps) == 0 {
		return nil, ErrSourceGone
	}
	step := s.steps[0]
	s.steps = s.steps[1:]
	return step()
}

type stillsReader struct {
	tags   []flv.Tag
	closed bool
}

func (r *stillsReader) Next() (flv.Tag, error) {
	if len(r.tags) == 0 {
		return flv.Tag{}, io.EOF
	}
	t := r.tags[0]
	r.tags = r.tags[1:]
	return t, nil
}
func (r *stillsReader) Tracks() (bool, bool) { return false, true }
func (r *stillsReader) Close() error         { r.closed = true; return nil }

// TestPullLoop checks the snapshot/motion input's life: a failed open backs
// off and retries, a pull that ends is reopened, and the loop ends (nil) once
// the gateway answers that the stream is gone, or with an error after
// MaxSourceFailures consecutive failed opens.
func TestPullLoop(t *testing.T) {
	refused := func() (TagReader, error) { return nil, errors.New("connection refused") }
	// An AVC keyframe (frame type 1, codec 7, NALU packet) and a tag that does
	// not classify (unknown type): only the first reaches run.
	key := flv.Tag{Type: flv.TagVideo, Timestamp: 40, Data: []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 1}}
	junk := flv.Tag{Type: 99, Data: []byte{1}}
	for _, tc := range []struct {
		name       string
		steps      int // refused opens before the readers
		readers    int
		maxFail    int
		runErr     error
		wantErr    string
		wantRuns   int
		wantOpens  int
		wantPacket bool
	}{
		{name: "gone at once", wantOpens: 1},
		{name: "retries then reads then gone", steps: 2, readers: 1, maxFail: 5, wantRuns: 1, wantOpens: 4, wantPacket: true},
		{name: "pull drops while live", readers: 3, maxFail: 5, wantRuns: 3, wantOpens: 4, wantPacket: true},
		{name: "run fails and resumes", readers: 2, maxFail: 5, runErr: errors.New("decoder died"), wantRuns: 2, wantOpens: 3, wantPacket: true},
		{name: "gives up", steps: 3, maxFail: 3, wantErr: "source unavailable after 3 attempts", wantOpens: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &stillsSource{}
			var readers []*stillsReader
			for range tc.steps {
				src.steps = append(src.steps, refused)
			}
			for range tc.readers {
				r := &stillsReader{tags: []flv.Tag{junk, key}}
				readers = append(readers, r)
				src.steps = append(src.steps, func() (TagReader, error) { return r, nil })
			}
			cfg := Config{ChannelID: "cam", Source: src, PublishURL: func(string) (string, error) { return "", nil },
				MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, MaxSourceFailures: tc.maxFail,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			require.NoError(t, cfg.setDefaults())
			w := &worker{cfg: cfg, log: cfg.Logger, ch: &channel.Channel{ID: "cam"}}
			runs := 0
			err := w.pullLoop(context.Background(), "snapshots", func(ctx context.Context, s snapshot.Source) error {
				runs++
				p, err := s.Next(ctx)
				require.NoError(t, err)
				require.Equal(t, tc.wantPacket, p.Keyframe)
				require.Equal(t, uint32(40), p.Time)
				_, err = s.Next(ctx)
				require.ErrorIs(t, err, io.EOF)
				return tc.runErr
			})
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.wantRuns, runs)
			require.Equal(t, tc.wantOpens, src.opens)
			for _, r := range readers {
				require.True(t, r.closed, "every opened reader is closed")
			}
		})
	}
}

// TestPullLoopStopsWithContext: a loop waiting out its backoff returns nil
// when ctx ends.
func TestPullLoopStopsWithContext(t *testing.T) {
	src := &stillsSource{}
	for range 100 {
		src.steps = append(src.steps, func() (TagReader, error) { return nil, errors.New("refused") })
	}
	cfg := Config{ChannelID: "cam", Source: src, PublishURL: func(string) (string, error) { return "", nil },
		MinBackoff: time.Hour, MaxSourceFailures: 100, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	require.NoError(t, cfg.setDefaults())
	w := &worker{cfg: cfg, log: cfg.Logger, ch: &channel.Channel{ID: "cam"}}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.NoError(t, w.pullLoop(ctx, "motion capture", func(context.Context, snapshot.Source) error {
		t.Fatal("run called without a source")
		return nil
	}))
	require.Equal(t, 1, src.opens)
}

// TestPixelsSelection: TranscodeOnly (the standalone's local worker) never
// takes snapshots or motion clips, so a channel with only those needs no
// worker; AllPixels without a blob store is a configuration error.
func TestPixelsSelection(t *testing.T) {
	ch := &channel.Channel{ID: "cam", Recording: channel.Recording{Snapshots: true, SnapshotSeconds: 2}}
	src := &stillsSource{}
	base := Config{ChannelID: "cam", Channel: ch, Source: src, PublishURL: func(string) (string, error) { return "", nil },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	require.NoError(t, Run(context.Background(), base))
	require.Zero(t, src.opens, "TranscodeOnly does not pull a snapshot-only channel")

	all := base
	all.Pixels = AllPixels
	require.ErrorContains(t, Run(context.Background(), all), "no blob store")
	require.Zero(t, src.opens)
}

// TestStillsFromGateway is the AWS worker's snapshot path end to end: a real
// gateway, an ffmpeg test pattern pushed to a channel with snapshots every
// 2 s and no ladder, and a worker with AllPixels pulling the gateway's
// HTTP-FLV. JPGs appear under snapshots/{channel}/{broadcast}/, each decodes
// at the stream's size and is indexed as a snapshot recording, and the
// worker returns nil once the stream ends.
func TestStillsFromGateway(t *testing.T) {
	needFFmpeg(t)
	g := startGateway(t)
	g.addChannel(t, &channel.Channel{ID: "cam", Recording: channel.Recording{Snapshots: true, SnapshotSeconds: 2}})
	srcCtx, stopSrc := context.WithCancel(context.Background())
	defer stopSrc()
	src := pushPattern(t, srcCtx, g.pushURL("cam"), "320x240", 15, 15, 7)
	require.Eventually(t, func() bool { s := g.gw.Hub.Stream("cam"); return s != nil && s.Live() }, 10*time.Second, 50*time.Millisecond)

	blobs, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
	require.NoError(t, err)
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	go func() {
		done <- Run(ctx, Config{
			ChannelID: "cam", LoadChannel: g.st.GetChannel, Gateway: g.http,
			PublishURL: SignedPublishURL(g.rtmp, g.signer, "cam", time.Minute),
			Pixels:     AllPixels, Blob: blobs, Index: g.st, BroadcastID: "b-1",
			TempDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	require.NoError(t, src.Wait(), "the test pattern ran to its end")
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("worker did not return after the stream ended")
	}

	page, err := blobs.List(context.Background(), blob.ListOptions{Prefix: "snapshots/cam/b-1/"})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(page.Items), 2, "a 7 s stream gives a picture every 2 s")
	keys := map[string]bool{}
	for _, it := range page.Items {
		require.True(t, strings.HasSuffix(it.Key, ".jpg"), it.Key)
		keys[it.Key] = true
		rc, _, err := blobs.Get(context.Background(), it.Key)
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err)
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
		require.NoError(t, err, it.Key)
		require.Equal(t, [2]int{320, 240}, [2]int{cfg.Width, cfg.Height})
	}
	recs, err := g.st.ListRecordings(context.Background(), store.RecordingQuery{ChannelID: "cam", Kind: store.KindSnapshot})
	require.NoError(t, err)
	require.Len(t, recs.Recordings, len(page.Items), "every picture is indexed")
	for _, r := range recs.Recordings {
		require.Equal(t, "b-1", r.BroadcastID)
		require.Equal(t, store.StatusComplete, r.Status)
		require.True(t, keys[r.Prefix], "indexed key %s is stored", r.Prefix)
	}
}

// TestMotionFromGateway is the AWS worker's motion path end to end: testsrc2
// moves all the time, so a channel with a low threshold records one clip that
// is finished and stored when the stream ends, under
// motion/{channel}/{broadcast}/ and indexed as a motion recording.
func TestMotionFromGateway(t *testing.T) {
	needFFmpeg(t)
	g := startGateway(t)
	g.addChannel(t, &channel.Channel{ID: "yard", Recording: channel.Recording{
		Motion: channel.Motion{Enabled: true, Percent: 1, Diff: 20, TimeoutSeconds: 1, DurationMillis: 1000}}})
	srcCtx, stopSrc := context.WithCancel(context.Background())
	defer stopSrc()
	src := pushPattern(t, srcCtx, g.pushURL("yard"), "320x240", 15, 15, 5)
	require.Eventually(t, func() bool { s := g.gw.Hub.Stream("yard"); return s != nil && s.Live() }, 10*time.Second, 50*time.Millisecond)

	blobs, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
	require.NoError(t, err)
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	go func() {
		done <- Run(ctx, Config{
			ChannelID: "yard", LoadChannel: g.st.GetChannel, Gateway: g.http,
			PublishURL: SignedPublishURL(g.rtmp, g.signer, "yard", time.Minute),
			Pixels:     AllPixels, Blob: blobs, Index: g.st, BroadcastID: "b-2",
			TempDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	require.NoError(t, src.Wait(), "the test pattern ran to its end")
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("worker did not return after the stream ended")
	}

	recs, err := g.st.ListRecordings(context.Background(), store.RecordingQuery{ChannelID: "yard", Kind: store.KindMotion})
	require.NoError(t, err)
	require.NotEmpty(t, recs.Recordings, "a moving pattern records a clip")
	for _, r := range recs.Recordings {
		require.Equal(t, "b-2", r.BroadcastID)
		require.NotEmpty(t, r.Keys)
		require.True(t, strings.HasPrefix(r.Keys[0], "motion/yard/b-2/") && strings.HasSuffix(r.Keys[0], ".mp4"), r.Keys[0])
		info, err := blobs.Stat(context.Background(), r.Keys[0])
		require.NoError(t, err)
		require.Positive(t, info.Size)
	}
}
