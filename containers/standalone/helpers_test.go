package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/rtmpclient"
)

// fixture is a short real H.264/AAC FLV made once per test binary with ffmpeg.
type fixture struct {
	path string
	tags []flv.Tag
	// duration of one pass, ms
	duration uint32
}

var (
	fixtureOnce sync.Once
	fixtureVal  *fixture
	fixtureErr  error
)

// needFFmpeg skips (or, under make test, fails) when ffmpeg is missing.
func needFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("LIVESTACK_E2E") == "1" {
			t.Fatalf("ffmpeg is required for end-to-end tests: %v", err)
		}
		t.Skip("ffmpeg not installed; run `make test` to install it")
	}
}

// media returns the shared fixture: 320x240 25 fps H.264 with a keyframe every
// second, AAC 44.1 kHz, 6 s.
func media(t *testing.T) *fixture {
	t.Helper()
	needFFmpeg(t)
	fixtureOnce.Do(func() {
		dir, err := os.MkdirTemp("", "livestack-fixture")
		if err != nil {
			fixtureErr = err
			return
		}
		p := filepath.Join(dir, "clip.flv")
		out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
			"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
			"-t", "6", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
			"-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-b:v", "400k",
			"-c:a", "aac", "-b:a", "64k", "-f", "flv", p).CombinedOutput()
		if err != nil {
			fixtureErr = fmt.Errorf("ffmpeg fixture: %v: %s", err, out)
			return
		}
		f, err := os.Open(p)
		if err != nil {
			fixtureErr = err
			return
		}
		defer f.Close()
		fx := &fixture{path: p}
		r := flv.NewReader(f, 0)
		for {
			tag, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				fixtureErr = err
				return
			}
			fx.tags = append(fx.tags, tag)
			if tag.Timestamp > fx.duration {
				fx.duration = tag.Timestamp
			}
		}
		fx.duration += 40
		fixtureVal = fx
	})
	require.NoError(t, fixtureErr)
	return fixtureVal
}

// testInstance starts a standalone on ephemeral loopback ports.
func testInstance(t *testing.T, tweak func(*config)) *instance {
	t.Helper()
	cfg, err := parseConfig(nil, func(string) string { return "" })
	require.NoError(t, err)
	cfg.RTMPAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.PublicHost = "127.0.0.1"
	cfg.AdminToken = "test-admin-token-0123456789"
	cfg.LogLevel = 4 // warn: keep test output readable
	if tweak != nil {
		tweak(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *instance, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, io.Discard, ready) }()
	select {
	case in := <-ready:
		t.Cleanup(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(15 * time.Second):
				t.Error("standalone did not stop within 15 s")
			}
		})
		return in
	case err := <-done:
		cancel()
		t.Fatalf("standalone did not start: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("standalone did not start in 10 s")
	}
	return nil
}

// addChannel stores an enabled channel (modified by tweak) and returns its signed push URL.
func (in *instance) addChannel(t *testing.T, id string, tweak func(*channel.Channel)) string {
	t.Helper()
	ch := &channel.Channel{ID: id, Name: id, Enabled: true}
	if tweak != nil {
		tweak(ch)
	}
	ch.Normalize()
	require.NoError(t, in.Store.CreateChannel(context.Background(), ch))
	return in.pushURL(id, time.Now().Add(time.Hour))
}

func (in *instance) pushURL(id string, exp time.Time) string {
	return in.URLs.PushBase + "/stream/" + id + "?sign=" + in.Signer.Sign(id, exp)
}

func (in *instance) flvURL(id string) string { return in.URLs.PlayBase + "/" + id + "/live.flv" }

// publishOpts drive publishTags.
type publishOpts struct {
	// loops of the fixture; 0 = 1
	loops int
	// tsBase is added to every timestamp (an encoder whose clock starts elsewhere).
	tsBase uint32
	// sent records when each video timestamp was written (for delay measurements).
	sent *sync.Map
}

// publishTags pushes the fixture at real-time pace with the Go RTMP client.
func publishTags(ctx context.Context, url string, fx *fixture, o publishOpts) error {
	return publishWith(ctx, url, fx, o, rtmpclient.Config{})
}

func publishTagsTLS(ctx context.Context, url string, fx *fixture, tc *tls.Config) error {
	return publishWith(ctx, url, fx, publishOpts{loops: 3}, rtmpclient.Config{TLS: tc})
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func publishWith(ctx context.Context, url string, fx *fixture, o publishOpts, cfg rtmpclient.Config) error {
	p, err := rtmpclient.Publish(ctx, url, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	if o.loops == 0 {
		o.loops = 1
	}
	start := time.Now()
	for loop := 0; loop < o.loops; loop++ {
		for i, tag := range fx.tags {
			if loop > 0 && (tag.Type == flv.TagScript || isHeader(tag)) {
				continue
			}
			if loop == 0 && i == 0 && tag.Type != flv.TagScript {
				return fmt.Errorf("fixture does not start with metadata")
			}
			rel := uint32(loop)*fx.duration + tag.Timestamp
			if tag.Type != flv.TagScript {
				if d := time.Until(start.Add(time.Duration(rel) * time.Millisecond)); d > 0 {
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(d):
					}
				}
			}
			ts := rel + o.tsBase
			if tag.Type == flv.TagScript {
				ts = 0
			}
			if o.sent != nil && tag.Type == flv.TagVideo {
				o.sent.Store(ts, time.Now())
			}
			if err := p.WriteTag(tag.Type, ts, tag.Data); err != nil {
				return err
			}
		}
	}
	return nil
}

func isHeader(tag flv.Tag) bool {
	switch tag.Type {
	case flv.TagVideo:
		v, err := flv.ParseVideo(tag.Data)
		return err == nil && v.PacketType == flv.VideoSequenceHeader
	case flv.TagAudio:
		a, err := flv.ParseAudio(tag.Data)
		return err == nil && a.PacketType == flv.AudioSequenceHeader
	}
	return false
}

// viewer is an HTTP-FLV client reading tags.
type viewer struct {
	resp *http.Response
	r    *flv.Reader
}

func openViewer(t *testing.T, url string) *viewer {
	t.Helper()
	var resp *http.Response
	require.Eventually(t, func() bool {
		var err error
		resp, err = http.Get(url)
		if err != nil {
			return false
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return false
		}
		return true
	}, 5*time.Second, 20*time.Millisecond, "stream %s never became playable", url)
	t.Cleanup(func() { resp.Body.Close() })
	return &viewer{resp: resp, r: flv.NewReader(resp.Body, 0)}
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	require.Eventually(t, cond, d, 10*time.Millisecond, append([]any{msg}, args...)...)
}
