package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/gateway"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store/boltstore"
)

// needFFmpeg skips (or, under make test, fails) when ffmpeg is missing.
func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("LIVESTACK_E2E") == "1" {
				t.Fatalf("%s is required for end-to-end tests: %v", bin, err)
			}
			t.Skipf("%s not installed; run `make test` to install it", bin)
		}
	}
}

// testGateway is a real gateway (RTMP + HTTP) on loopback with the local
// authorizer, a bbolt store and a push key.
type testGateway struct {
	gw     *gateway.Gateway
	st     *boltstore.Store
	signer *signing.Signer
	rtmp   string
	http   string
	hooks  *hookRecorder
}

// hookRecorder records the streams the gateway's StreamStarted hooks saw.
type hookRecorder struct {
	mu   sync.Mutex
	keys []string
}

func (h *hookRecorder) StreamStarted(_ context.Context, _ *channel.Channel, s *hub.Stream) {
	h.mu.Lock()
	h.keys = append(h.keys, s.Key())
	h.mu.Unlock()
}

func (h *hookRecorder) started() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.keys...)
}

func startGateway(t *testing.T) *testGateway {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "gw.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	signer, err := signing.New(bytes.Repeat([]byte{7}, signing.MinKeySize))
	require.NoError(t, err)
	hooks := &hookRecorder{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: testLogLevel()}))
	}
	gw, err := gateway.New(gateway.Config{
		RTMPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Hub:    hub.Config{ReconnectWindow: 3 * time.Second},
		Logger: log,
	}, gateway.Deps{Authorizer: &ingest.Local{Store: st, Signer: signer}, Hooks: hooks, SourceToken: signer.SourceToken})
	require.NoError(t, err)
	require.NoError(t, gw.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	a := gw.Addrs()
	return &testGateway{gw: gw, st: st, signer: signer, rtmp: a.RTMP, http: a.HTTP, hooks: hooks}
}

func (g *testGateway) addChannel(t *testing.T, ch *channel.Channel) {
	t.Helper()
	ch.Enabled = true
	ch.Normalize()
	require.NoError(t, ch.Validate())
	require.NoError(t, g.st.CreateChannel(context.Background(), ch))
}

func (g *testGateway) pushURL(id string) string {
	return "rtmp://" + g.rtmp + "/stream/" + id + "?sign=" + g.signer.Sign(id, time.Now().Add(time.Hour))
}

// pushPattern publishes an ffmpeg test pattern (real time) until ctx ends or
// the duration passes; it returns the running command.
func pushPattern(t *testing.T, ctx context.Context, url, size string, fps, gopFrames int, seconds int) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size="+size+":rate="+strconv.Itoa(fps),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", strconv.Itoa(gopFrames),
		"-keyint_min", strconv.Itoa(gopFrames), "-sc_threshold", "0", "-b:v", "3000k",
		"-c:a", "aac", "-b:a", "64k", "-f", "flv", url)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// capture saves an HTTP-FLV stream into a file until it holds gops whole
// GOPs (gops+1 video keyframes) or timeout passes, whichever comes first: a
// loaded machine may run the ladder slower than real time.
func capture(t *testing.T, url string, gops int, timeout time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	p := filepath.Join(t.TempDir(), "capture.flv")
	f, err := os.Create(p)
	require.NoError(t, err)
	defer f.Close()
	r := flv.NewReader(io.TeeReader(resp.Body, f), 0)
	keys := 0
	for keys <= gops {
		tag, err := r.Next()
		if err != nil {
			break
		}
		if tag.Type == flv.TagVideo {
			if v, err := flv.ParseVideo(tag.Data); err == nil && v.PacketType == flv.VideoFrames && v.Keyframe {
				keys++
			}
		}
	}
	return p
}

// probeResult is what ffprobe says about a capture's video.
type probeResult struct {
	Width, Height int
	Codec         string
	// KeyTimes are keyframe timestamps in ms; Bitrate is the video bitrate.
	KeyTimes []int64
	Bitrate  float64
	Frames   int
}

func ffprobe(t *testing.T, path string) probeResult {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=width,height,codec_name:packet=dts_time,duration_time,size,flags",
		"-of", "json", path).Output()
	require.NoError(t, err, "ffprobe %s", path)
	var doc struct {
		Streams []struct {
			Width, Height int
			CodecName     string `json:"codec_name"`
		}
		Packets []struct {
			DTS   string `json:"dts_time"`
			Dur   string `json:"duration_time"`
			Size  string `json:"size"`
			Flags string `json:"flags"`
		}
	}
	require.NoError(t, json.Unmarshal(out, &doc))
	require.Len(t, doc.Streams, 1, "one video stream in %s", path)
	r := probeResult{Width: doc.Streams[0].Width, Height: doc.Streams[0].Height, Codec: doc.Streams[0].CodecName}
	type pkt struct {
		ms   int64
		size int64
		key  bool
	}
	var pkts []pkt
	for _, p := range doc.Packets {
		ts, _ := strconv.ParseFloat(p.DTS, 64)
		n, _ := strconv.ParseInt(p.Size, 10, 64)
		k := len(p.Flags) > 0 && p.Flags[0] == 'K'
		pkts = append(pkts, pkt{int64(ts*1000 + 0.5), n, k})
		if k {
			r.KeyTimes = append(r.KeyTimes, int64(ts*1000+0.5))
		}
	}
	r.Frames = len(pkts)
	// Bitrate over whole GOPs: from the first keyframe to the last one.
	if len(r.KeyTimes) >= 2 {
		from, to := r.KeyTimes[0], r.KeyTimes[len(r.KeyTimes)-1]
		var bytes int64
		for _, p := range pkts {
			if p.ms >= from && p.ms < to {
				bytes += p.size
			}
		}
		r.Bitrate = float64(bytes*8) / (float64(to-from) / 1000)
	}
	return r
}

func testLogLevel() slog.Level {
	if os.Getenv("LIVESTACK_TEST_DEBUG") != "" {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

func startGatewayless(t *testing.T) *signing.Signer {
	t.Helper()
	s, err := signing.New(bytes.Repeat([]byte{9}, signing.MinKeySize))
	require.NoError(t, err)
	return s
}
