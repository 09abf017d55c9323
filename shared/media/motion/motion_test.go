package motion

import (
	"context"
	"image/jpeg"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/blob/fsblob"
	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/snapshot"
	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/boltstore"
)

func needFFmpeg(t testing.TB) {
	t.Helper()
	for _, b := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(b); err != nil {
			if os.Getenv("LIVESTACK_E2E") == "1" {
				t.Fatalf("%s is required: %v", b, err)
			}
			t.Skipf("%s not installed; run `make test` to install it", b)
		}
	}
}

// MotionSource is the ffmpeg input of a scene that is still for 3 s, has a
// white box moving across it from 3 s to 6 s (then gone), and is still again.
var MotionSource = []string{
	"-f", "lavfi", "-i", "color=c=0x404040:s=320x240:r=25",
	"-f", "lavfi", "-i", "color=c=white:s=80x80:r=25",
	"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
	"-filter_complex", "[0:v][1:v]overlay=x='20+(t-3)*60':y=80:enable='between(t,3,6)'[v]",
	"-map", "[v]", "-map", "2:a",
}

// pacedSource replays packets at speed times real time.
type pacedSource struct {
	pkts  []snapshot.Packet
	i     int
	speed float64
	start time.Time
}

func (p *pacedSource) Next(ctx context.Context) (snapshot.Packet, error) {
	if p.i >= len(p.pkts) {
		return snapshot.Packet{}, io.EOF
	}
	pkt := p.pkts[p.i]
	p.i++
	if p.start.IsZero() {
		p.start = time.Now()
	}
	if d := time.Until(p.start.Add(time.Duration(float64(pkt.Time)/p.speed) * time.Millisecond)); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return snapshot.Packet{}, ctx.Err()
		}
	}
	return pkt, nil
}

func (p *pacedSource) Close() error { return nil }

func readFLV(t *testing.T, path string) []snapshot.Packet {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	src := snapshot.NewFLVSource(f, 0)
	var out []snapshot.Packet
	for {
		p, err := src.Next(t.Context())
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		out = append(out, p)
	}
}

func ffprobeDuration(t *testing.T, path string) float64 {
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	require.NoError(t, err, "%s", out)
	return d
}

// TestMotionClip: a still-moving-still scene yields exactly one clip that
// starts PreRoll before the motion and ends Timeout after it, plus its JPG.
func TestMotionClip(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "motion.flv")
	args := append([]string{"-hide_banner", "-loglevel", "error"}, MotionSource...)
	args = append(args, "-t", "12", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-keyint_min", "25",
		"-sc_threshold", "0", "-c:a", "aac", "-f", "flv", in)
	out, err := exec.Command("ffmpeg", args...).CombinedOutput()
	require.NoError(t, err, "%s", out)

	bs, err := fsblob.New(filepath.Join(dir, "blobs"))
	require.NoError(t, err)
	st, err := boltstore.Open(filepath.Join(dir, "db"))
	require.NoError(t, err)
	defer st.Close()
	var (
		mu    sync.Mutex
		clips []Clip
	)
	cfg := Config{
		ChannelID: "cam1", BroadcastID: "2026-12-06T00-00-00Z",
		Settings: channel.Motion{Enabled: true, Percent: 1, Diff: 20, TimeoutSeconds: 2, DurationMillis: 1000},
		PreRoll:  2 * time.Second, SpoolDir: filepath.Join(dir, "spool"), Blob: bs, Index: st,
		OnClip: func(c Clip) { mu.Lock(); clips = append(clips, c); mu.Unlock() },
	}
	var counters Counters
	cfg.Counters = &counters
	require.NoError(t, Run(t.Context(), cfg, &pacedSource{pkts: readFLV(t, in), speed: 3}))

	require.Len(t, clips, 1, "exactly one motion clip")
	c := clips[0]
	t.Logf("clip %+v", c)
	require.EqualValues(t, 1, counters.Events.Load())
	require.Zero(t, counters.ClipsFailed.Load())
	require.Greater(t, counters.Frames.Load(), int64(40), "about 5 detection frames a second for 12 s")
	// motion seen from about 3 s to about 6 s (the box leaves at 6 s)
	require.InDelta(t, 3000, float64(c.MotionStart), 450)
	require.InDelta(t, 6000, float64(c.MotionEnd), 450)
	// the clip starts on the keyframe 2 s before the motion (keyframes every second)
	require.InDelta(t, 1000, float64(c.StreamStart), 450)

	mp4 := filepath.Join(dir, "clip.mp4")
	rc, info, err := bs.Get(t.Context(), c.Key)
	require.NoError(t, err)
	require.Equal(t, "video/mp4", info.ContentType)
	b, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(mp4, b, 0o600))
	// pre-roll 2 s + motion 3 s + timeout 2 s = 7 s; ±0.7 s for the detection
	// frame step (0.2 s), the keyframe grid (1 s GOP, start rounded down to a
	// keyframe within 0.45 s above) and the box leaving at 6 s.
	d := ffprobeDuration(t, mp4)
	require.InDelta(t, 7.0, d, 0.7, "clip duration %.2f s", d)
	streams, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", mp4).CombinedOutput()
	require.NoError(t, err)
	require.Equal(t, "h264\naac", strings.TrimSpace(string(streams)))

	require.Equal(t, strings.TrimSuffix(c.Key, ".mp4")+".jpg", c.PictureKey)
	rc, info, err = bs.Get(t.Context(), c.PictureKey)
	require.NoError(t, err)
	require.Equal(t, "image/jpeg", info.ContentType)
	img, err := jpeg.Decode(rc)
	rc.Close()
	require.NoError(t, err)
	require.Equal(t, 320, img.Bounds().Dx())
	require.Equal(t, 240, img.Bounds().Dy())

	recs, err := st.ListRecordings(t.Context(), store.RecordingQuery{ChannelID: "cam1", Kind: store.KindMotion})
	require.NoError(t, err)
	require.Len(t, recs.Recordings, 1)
	r := recs.Recordings[0]
	require.Equal(t, []string{c.Key, c.PictureKey}, r.Keys)
	require.Equal(t, store.StatusComplete, r.Status)
	require.InDelta(t, 7000, float64(r.DurationMillis), 700)
	require.True(t, strings.HasPrefix(c.Key, "motion/cam1/2026-12-06T00-00-00Z/"))
}

// TestMotionStill: a scene without motion records nothing.
func TestMotionStill(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "still.flv")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=0x404040:s=320x240:r=25",
		"-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-f", "flv", in).CombinedOutput()
	require.NoError(t, err, "%s", out)
	bs, err := fsblob.New(filepath.Join(dir, "blobs"))
	require.NoError(t, err)
	var counters Counters
	require.NoError(t, Run(t.Context(), Config{ChannelID: "cam1", BroadcastID: "b",
		Settings: channel.Motion{Percent: 1, Diff: 20, TimeoutSeconds: 1}, SpoolDir: filepath.Join(dir, "spool"),
		Blob: bs, Counters: &counters}, &pacedSource{pkts: readFLV(t, in), speed: 4}))
	require.Zero(t, counters.Events.Load())
	require.Greater(t, counters.Frames.Load(), int64(10))
	page, err := bs.List(t.Context(), blob.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, page.Items)
	spool, err := os.ReadDir(filepath.Join(dir, "spool"))
	require.NoError(t, err)
	require.Empty(t, spool, "no spool files left")
}

// Clip keys live under the prefix the AWS bucket's lifecycle rule and the
// workers' IAM policy name (terraform/modules/storage, modules/processing).
func TestClipKey(t *testing.T) {
	require.Equal(t, "motion/", KeyPrefix)
	require.Equal(t, "motion/cam1/b-20261206/1796540400", ClipKey("cam1", "b-20261206", 1796540400))
}
