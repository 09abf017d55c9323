// Package browser holds livestack's browser tests: a built standalone binary,
// an ffmpeg test pattern pushed over RTMP, and headless Debian Chromium
// (driven by playwright-core through play.mjs) playing the stream with hls.js.
// They check that playback really advances, not only that playlists exist,
// and log how far behind live hls.js plays.
//
// They need ffmpeg, node, /usr/bin/chromium and `npm ci` in this folder
// (scripts/install-test-deps.sh does all of it). Without them the tests skip,
// and fail when LIVESTACK_E2E=1 (scripts/test.sh sets it).
package browser

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// chromiumPath is Debian's chromium; CHROMIUM overrides it.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// need skips the test when a tool is missing, or fails it under LIVESTACK_E2E=1.
func need(t *testing.T) {
	t.Helper()
	var missing []string
	for _, tool := range []string{"ffmpeg", "node"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if _, err := os.Stat(chromiumPath()); err != nil {
		missing = append(missing, "chromium ("+chromiumPath()+")")
	}
	for _, mod := range []string{"playwright-core", "hls.js"} {
		if _, err := os.Stat(filepath.Join("node_modules", mod, "package.json")); err != nil {
			missing = append(missing, "node_modules/"+mod+" (npm ci in tests/browser)")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "browser test needs " + strings.Join(missing, ", ") + "; scripts/install-test-deps.sh installs them"
	if os.Getenv("LIVESTACK_E2E") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// server is a standalone binary on free loopback ports with a temporary data
// dir and admin token; one is shared by the tests of this package.
type server struct {
	cmd     *exec.Cmd
	dir     string
	logPath string
	base    string // http://127.0.0.1:PORT
	token   string
	exited  chan struct{}
}

var (
	shared    *server
	sharedErr error
	sharedMu  sync.Mutex
)

func TestMain(m *testing.M) {
	code := m.Run()
	sharedMu.Lock()
	if shared != nil {
		shared.stop()
	}
	sharedMu.Unlock()
	os.Exit(code)
}

// standalone returns the package's server, building and starting it once.
func standalone(t *testing.T) *server {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		shared, sharedErr = startServer()
	}
	if sharedErr != nil {
		t.Fatalf("standalone: %v", sharedErr)
	}
	select {
	case <-shared.exited:
		t.Fatalf("the standalone server exited; its log ends:\n%s", shared.logTail(30))
	default:
	}
	return shared
}

func startServer() (*server, error) {
	dir, err := os.MkdirTemp("", "livestack-browser-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, exited: make(chan struct{}), logPath: filepath.Join(dir, "server.log")}
	bin := filepath.Join(dir, "standalone")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/livestack/livestack/containers/standalone").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("go build: %w: %s", err, out)
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	var tok [16]byte
	_, _ = rand.Read(tok[:])
	s.token = hex.EncodeToString(tok[:])
	s.base = "http://127.0.0.1:" + ports[1]
	lf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	s.cmd = exec.Command(bin, "--rtmp-addr", "127.0.0.1:"+ports[0], "--http-addr", "127.0.0.1:"+ports[1],
		"--data-dir", filepath.Join(dir, "data"), "--public-host", "127.0.0.1", "--log-level", "info")
	s.cmd.Env = append(os.Environ(), "LIVESTACK_ADMIN_TOKEN="+s.token)
	s.cmd.Stdout, s.cmd.Stderr = lf, lf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start standalone: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("standalone exited at start:\n%s", s.logTail(20))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("standalone not healthy in 30 s:\n%s", s.logTail(20))
		}
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(12 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	os.RemoveAll(s.dir)
}

func (s *server) logTail(n int) string {
	b, _ := os.ReadFile(s.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func freePorts(n int) ([]string, error) {
	var ports []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		_, p, _ := net.SplitHostPort(l.Addr().String())
		ports = append(ports, p)
	}
	return ports, nil
}

// api calls /api/v1 with the admin token and decodes the JSON answer into out.
func (s *server) api(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// channel creates a channel from the given JSON fields and returns its signed push URL.
func (s *server) channel(t *testing.T, id string, fields map[string]any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body := map[string]any{"id": id, "name": id, "enabled": true}
	for k, v := range fields {
		body[k] = v
	}
	if err := s.api(ctx, http.MethodPost, "/api/v1/channels", body, nil); err != nil {
		t.Fatalf("create channel: %v", err)
	}
	var urls struct {
		Push string `json:"push"`
	}
	if err := s.api(ctx, http.MethodGet, "/api/v1/channels/"+url.PathEscape(id)+"/urls", nil, &urls); err != nil {
		t.Fatalf("channel urls: %v", err)
	}
	if urls.Push == "" {
		t.Fatal("channel urls: no push URL")
	}
	return urls.Push
}

// push publishes an ffmpeg test pattern (testsrc2 + sine, H.264 with a
// keyframe every second, AAC) at real-time pace until the test ends.
func push(t *testing.T, pushURL, size string, rate int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d", size, rate),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "180", // bound: no test here runs that long
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
		"-g", fmt.Sprint(rate), "-keyint_min", fmt.Sprint(rate), "-sc_threshold", "0", "-b:v", "800k",
		"-c:a", "aac", "-b:a", "64k", "-ar", "44100",
		"-f", "flv", pushURL)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("ffmpeg: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if s := strings.TrimSpace(stderr.String()); s != "" && !strings.Contains(s, "Broken pipe") {
			t.Logf("ffmpeg publisher: %s", s)
		}
	})
}

// waitPlaylist polls a playlist URL until it answers 200 and lists a
// complete segment; for a multivariant playlist, until its first variant's
// media playlist does (a viewer joins a running stream). It returns the
// playlist's body.
func waitPlaylist(t *testing.T, s *server, u string, d time.Duration) (string, error) {
	t.Helper()
	deadline := time.Now().Add(d)
	last, master := "", ""
	media := u
	for {
		resp, err := http.Get(media)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			body := string(b)
			switch {
			case resp.StatusCode == http.StatusOK && strings.Contains(body, "#EXT-X-STREAM-INF"):
				master = body
				v, err := firstVariant(u, body)
				if err != nil {
					return "", err
				}
				media = v
				continue
			case resp.StatusCode == http.StatusOK && strings.Contains(body, "#EXTINF"):
				if master != "" {
					return master, nil
				}
				return body, nil
			}
			last = fmt.Sprintf("%s: %.300q", resp.Status, body)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s has no complete segment after %s (last answer of %s: %s); server log ends:\n%s", u, d, media, last, s.logTail(20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// firstVariant resolves the URI of the first variant of a multivariant playlist.
func firstVariant(base, body string) (string, error) {
	lines := strings.Split(body, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "#EXT-X-STREAM-INF") {
			for _, n := range lines[i+1:] {
				if n = strings.TrimSpace(n); n != "" && !strings.HasPrefix(n, "#") {
					b, _ := url.Parse(base)
					r, err := url.Parse(n)
					if err != nil {
						return "", fmt.Errorf("variant URI %q: %w", n, err)
					}
					return b.ResolveReference(r).String(), nil
				}
			}
		}
	}
	return "", fmt.Errorf("%s: no variant URI", base)
}

// playResult is play.mjs's JSON.
type playResult struct {
	OK         bool    `json:"ok"`
	Error      string  `json:"error"`
	Browser    string  `json:"browser"`
	HLSVersion string  `json:"hlsVersion"`
	StartupMS  float64 `json:"startupMs"`
	// AudioWarmMS: how long starting the browser's audio output took before
	// playing (play.mjs warms it up; 0 with --cold-audio).
	AudioWarmMS float64 `json:"audioWarmMs"`
	// Startup: ms since the player started, of each step to the first frame.
	Startup struct {
		ManifestMS      *float64 `json:"manifestMs"`
		LevelMS         *float64 `json:"levelMs"`
		FirstFragmentMS *float64 `json:"firstFragmentMs"`
		MetadataMS      *float64 `json:"metadataMs"`
		BufferedMS      *float64 `json:"bufferedMs"`
		SeekingMS       *float64 `json:"seekingMs"`
		SeekedMS        *float64 `json:"seekedMs"`
		PlayingMS       *float64 `json:"playingMs"`
	} `json:"startup"`
	Windows []struct {
		Label            string    `json:"label"`
		WallSeconds      float64   `json:"wallSeconds"`
		AdvancedSeconds  float64   `json:"advancedSeconds"`
		Stalls           int       `json:"stalls"`
		HLSLatency       *quantile `json:"hlsLatency"`
		WallClockLatency *quantile `json:"wallClockLatency"`
	} `json:"windows"`
	HLSLatency       *quantile      `json:"hlsLatency"`
	WallClockLatency *quantile      `json:"wallClockLatency"`
	TargetLatency    float64        `json:"targetLatency"`
	PartTarget       float64        `json:"partTarget"`
	PartHoldBack     float64        `json:"partHoldBack"`
	PartsBuffered    int            `json:"partsBuffered"`
	Levels           []level        `json:"levels"`
	Switches         []levelSwitch  `json:"switches"`
	FragLevels       map[string]int `json:"fragLevels"`
	SwitchTarget     int            `json:"switchTarget"`
	Errors           []string       `json:"errors"`
}

type quantile struct {
	P50, P90, Min, Max, Last float64
	Samples                  int
}

func (q *quantile) String() string {
	if q == nil {
		return "n/a"
	}
	return fmt.Sprintf("p50 %.2f s, p90 %.2f s, max %.2f s (%d samples)", q.P50, q.P90, q.Max, q.Samples)
}

type level struct {
	Index   int    `json:"index"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Bitrate int    `json:"bitrate"`
	Codecs  string `json:"codecs"`
}

type levelSwitch struct {
	Level int     `json:"level"`
	AtMS  float64 `json:"atMs"`
}

// play runs play.mjs on u and returns its result; play.mjs's log goes to the test log.
func play(t *testing.T, u string, args ...string) *playResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if os.Getenv("LIVESTACK_PLAY_DEBUG") == "1" {
		args = append(args, "--debug") // hls.js's debug log into the test log
	}
	cmd := exec.CommandContext(ctx, "node", append([]string{"play.mjs", "--url", u, "--chromium", chromiumPath()}, args...)...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("node play.mjs: %v", err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		t.Log(sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("node play.mjs: %v\n%s", err, stdout.String())
	}
	var r playResult
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil {
		t.Fatalf("play.mjs output %q: %v", stdout.String(), err)
	}
	t.Logf("%s (hls.js %s) played %s: startup %.0f ms (audio output started %.0f ms before)", r.Browser, r.HLSVersion, u, r.StartupMS, r.AudioWarmMS)
	ms := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf("%.0f", *v)
	}
	st := r.Startup
	t.Logf("startup steps (ms since start): master %s, media playlist %s, first part %s, metadata %s, first buffered %s, seek %s-%s, playing %s",
		ms(st.ManifestMS), ms(st.LevelMS), ms(st.FirstFragmentMS), ms(st.MetadataMS), ms(st.BufferedMS), ms(st.SeekingMS), ms(st.SeekedMS), ms(st.PlayingMS))
	return &r
}

// requireAdvanced fails unless every window advanced at least half its wall time.
func requireAdvanced(t *testing.T, r *playResult) {
	t.Helper()
	if r.Error != "" || !r.OK {
		t.Fatalf("playback failed: %s (non-fatal hls.js errors: %v)", r.Error, r.Errors)
	}
	if len(r.Windows) == 0 {
		t.Fatal("play.mjs measured no window")
	}
	for _, w := range r.Windows {
		t.Logf("%s: currentTime advanced %.2f s in %.2f s of wall clock, %d stalls", w.Label, w.AdvancedSeconds, w.WallSeconds, w.Stalls)
	}
	for _, p := range notAdvancing(r) {
		t.Error(p)
	}
	if len(r.Errors) > 0 {
		t.Logf("non-fatal hls.js errors: %v", r.Errors)
	}
}

// notAdvancing lists the windows that did not last 3 s or did not advance at
// least half their wall time.
func notAdvancing(r *playResult) []string {
	var out []string
	for _, w := range r.Windows {
		if w.WallSeconds < 3 {
			out = append(out, fmt.Sprintf("%s: window of %.2f s, want at least 3 s", w.Label, w.WallSeconds))
		}
		if w.AdvancedSeconds < w.WallSeconds/2 {
			out = append(out, fmt.Sprintf("%s: playback advanced %.2f s in %.2f s: not playing", w.Label, w.AdvancedSeconds, w.WallSeconds))
		}
	}
	return out
}

// playLowLatency plays u with play and returns the result of an attempt whose
// windows all advanced (requireAdvanced), or fails. An attempt that did not
// keep playing is logged in full and played once more in a fresh browser:
// hls.js 1.7.4 in low-latency mode can miss the last part of the segment it
// starts in, when the playlist lists that segment complete before hls.js has
// appended the parts it loaded first (slow on a loaded machine: its worker and
// SourceBuffers are created then). It then records the segment as fully
// buffered and stalls until the segment leaves the playlist's part list, 2-4 s
// (docs/hls.md). The packager keeps a completed segment listed open until the
// next part, which covers appends up to a part's duration late, not a start-up
// that takes a second. A stream that does not play fails both attempts.
func playLowLatency(t *testing.T, u string, args ...string) *playResult {
	t.Helper()
	r := play(t, u, args...)
	if p := notAdvancing(r); r.Error == "" && r.OK && len(p) > 0 {
		t.Logf("attempt 1 did not keep playing: %v (non-fatal hls.js errors: %v); playing again in a fresh browser", p, r.Errors)
		r = play(t, u, args...)
	}
	requireAdvanced(t, r)
	return r
}

// uniqueID is a channel id unique to this run.
func uniqueID(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// TestLLHLSPlaysInChromium plays the CMAF stream (/{id}/master.m3u8) with
// hls.js in low-latency mode and reports how far behind live it plays.
func TestLLHLSPlaysInChromium(t *testing.T) {
	need(t)
	s := standalone(t)
	id := uniqueID("llhls")
	pushURL := s.channel(t, id, map[string]any{"outputs": map[string]any{"hls": true, "cmaf": true, "hlsSegmentSeconds": 2}})
	push(t, pushURL, "320x240", 25)
	u := s.base + "/" + id + "/master.m3u8"
	if _, err := waitPlaylist(t, s, u, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	r := playLowLatency(t, u, "--low-latency", "--seconds", "5", "--catch-up", "1.5")
	if r.PartTarget <= 0 {
		t.Errorf("hls.js saw no EXT-X-PART-INF PART-TARGET in the media playlist: not LL-HLS")
	}
	if r.PartsBuffered == 0 {
		t.Errorf("hls.js in low-latency mode buffered no partial segment")
	}
	t.Logf("LL-HLS: PART-TARGET %.3f s, PART-HOLD-BACK %.3f s, hls.js target latency %.2f s, %d parts buffered",
		r.PartTarget, r.PartHoldBack, r.TargetLatency, r.PartsBuffered)
	for _, w := range r.Windows {
		t.Logf("LL-HLS, %s: hls.js plays behind the live edge (hls.latency): %s", w.Label, w.HLSLatency)
		t.Logf("LL-HLS, %s: hls.js plays behind wall clock (EXT-X-PROGRAM-DATE-TIME): %s", w.Label, w.WallClockLatency)
		if q := w.HLSLatency; q != nil && q.P50 > 1.5 {
			t.Logf("LL-HLS, %s: hls.latency p50 %.2f s is above the 1.5 s target", w.Label, q.P50)
		}
	}
}

// TestHLSPlaysInChromium plays the MPEG-TS stream (/{id}/live.m3u8).
func TestHLSPlaysInChromium(t *testing.T) {
	need(t)
	s := standalone(t)
	id := uniqueID("tshls")
	pushURL := s.channel(t, id, map[string]any{"outputs": map[string]any{"hls": true, "hlsSegmentSeconds": 1}})
	push(t, pushURL, "320x240", 25)
	u := s.base + "/" + id + "/live.m3u8"
	if _, err := waitPlaylist(t, s, u, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	r := play(t, u, "--seconds", "4")
	requireAdvanced(t, r)
	t.Logf("HLS (TS): hls.js plays behind the live edge (hls.latency): %s", r.HLSLatency)
	t.Logf("HLS (TS): hls.js plays behind wall clock (EXT-X-PROGRAM-DATE-TIME): %s", r.WallClockLatency)
}

// TestABRMasterSwitchesLevels turns the transcode ladder on (the standalone's
// in-process worker makes 360p and 480p from an 854x480 source), plays the ABR
// master (/{id}/index.m3u8) and forces hls.js to another level: it must
// switch (LEVEL_SWITCHED) and buffer fragments of at least two levels while
// playback keeps advancing.
func TestABRMasterSwitchesLevels(t *testing.T) {
	need(t)
	s := standalone(t)
	id := uniqueID("abr")
	pushURL := s.channel(t, id, map[string]any{
		"outputs":   map[string]any{"hls": true, "hlsSegmentSeconds": 1},
		"transcode": map[string]any{"enabled": true, "renditions": []string{"360p", "480p"}},
	})
	push(t, pushURL, "854x480", 25)
	u := s.base + "/" + id + "/index.m3u8"
	// The master lists each rendition once it is live: wait for both.
	deadline := time.Now().Add(90 * time.Second)
	for {
		body, err := waitPlaylist(t, s, u, time.Until(deadline))
		if err != nil {
			t.Fatal(err)
		}
		n := strings.Count(body, "#EXT-X-STREAM-INF")
		if n >= 2 {
			t.Logf("ABR master:\n%s", body)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ABR master lists %d variant(s) after 90 s, want at least 2:\n%s\nserver log ends:\n%s", n, body, s.logTail(20))
		}
		time.Sleep(500 * time.Millisecond)
	}
	r := play(t, u, "--abr", "--seconds", "4", "--timeout", "60")
	requireAdvanced(t, r)
	var levels []string
	for _, l := range r.Levels {
		levels = append(levels, fmt.Sprintf("%dx%d@%d", l.Width, l.Height, l.Bitrate))
	}
	t.Logf("ABR: levels %v, switches %v, fragments per level %v", levels, r.Switches, r.FragLevels)
	if len(r.Levels) < 2 {
		t.Fatalf("hls.js found %d level(s), want at least 2", len(r.Levels))
	}
	played := 0
	for _, n := range r.FragLevels {
		if n > 0 {
			played++
		}
	}
	if played < 2 {
		t.Errorf("fragments buffered from %d level(s), want at least 2: %v", played, r.FragLevels)
	}
	switched := false
	for _, sw := range r.Switches {
		if sw.Level == r.SwitchTarget {
			switched = true
		}
	}
	if !switched {
		t.Errorf("no LEVEL_SWITCHED to the forced level %d: %v", r.SwitchTarget, r.Switches)
	}
}

// TestRecordedMP4PlaysInChromium plays a recording's first MP4 file from
// /vod/ in a plain <video> element. The file's moov comes after its mdat
// (recording finishes files in place, docs/recording.md), so the browser
// must find it with a Range request; the test fails unless playback advances
// and the browser reads the file's real duration.
func TestRecordedMP4PlaysInChromium(t *testing.T) {
	need(t)
	s := standalone(t)
	id := uniqueID("recmp4")
	pushURL := s.channel(t, id, map[string]any{"recording": map[string]any{"mp4": true, "mp4SegmentSeconds": 4}})
	push(t, pushURL, "320x240", 25)

	// The first file is stored at its cut, while the broadcast goes on.
	var rec struct {
		ID   string   `json:"id"`
		Keys []string `json:"keys"`
	}
	deadline := time.Now().Add(40 * time.Second)
	for len(rec.Keys) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no MP4 file stored in 40 s; server log ends:\n%s", s.logTail(20))
		}
		time.Sleep(250 * time.Millisecond)
		var page struct {
			Recordings []struct {
				ID   string   `json:"id"`
				Kind string   `json:"kind"`
				Keys []string `json:"keys"`
			} `json:"recordings"`
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.api(ctx, http.MethodGet, "/api/v1/recordings?channel="+url.QueryEscape(id), nil, &page)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Recordings {
			if r.Kind == "mp4" {
				rec.ID, rec.Keys = r.ID, r.Keys
			}
		}
	}
	u := s.base + "/vod/" + rec.ID + "/" + rec.Keys[0][strings.LastIndexByte(rec.Keys[0], '/')+1:]

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "playmp4.mjs", "--url", u, "--seconds", "3", "--chromium", chromiumPath())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node playmp4.mjs: %v\n%s", err, stderr.String())
	}
	var r struct {
		OK       bool    `json:"ok"`
		Error    string  `json:"error"`
		Duration float64 `json:"duration"`
		Width    int     `json:"width"`
		Height   int     `json:"height"`
		Start    float64 `json:"start"`
		End      float64 `json:"end"`
		Requests []struct {
			Range string `json:"range"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
		t.Fatalf("playmp4.mjs output %q: %v", out, err)
	}
	t.Logf("Chromium played %s: duration %.3f s, %dx%d, currentTime %.2f → %.2f, %d requests %v", u, r.Duration, r.Width, r.Height, r.Start, r.End, len(r.Requests), r.Requests)
	if !r.OK {
		t.Fatalf("playback failed: %s", r.Error)
	}
	if r.Duration < 3.9 || r.Duration > 4.2 {
		t.Errorf("the browser reads a duration of %.3f s, want the 4 s file", r.Duration)
	}
	if r.Width != 320 || r.Height != 240 {
		t.Errorf("video %dx%d, want 320x240", r.Width, r.Height)
	}
}
