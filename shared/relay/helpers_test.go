package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/rtmpclient"
	"github.com/livestack/livestack/shared/rtmpserver"
)

const testToken = "t0ken-secret"

// testAuth allows a publish when the sign parameter is testToken and the
// channel is known.
type testAuth struct {
	mu       sync.Mutex
	channels map[string]*channel.Channel
}

func newTestAuth(chs ...*channel.Channel) *testAuth {
	a := &testAuth{channels: map[string]*channel.Channel{}}
	for _, ch := range chs {
		a.channels[ch.ID] = ch
	}
	return a
}

func (a *testAuth) AuthorizePublish(_ context.Context, req ingest.PublishRequest) (ingest.Grant, error) {
	if req.Sign != testToken {
		return ingest.Grant{}, ingest.Refuse(ingest.ReasonBadSignature, "test token mismatch")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	ch := a.channels[req.ChannelID]
	if ch == nil {
		return ingest.Grant{}, ingest.Refuse(ingest.ReasonUnknownChannel, req.ChannelID)
	}
	return ingest.Grant{Channel: ch, LeaseUntil: time.Now().Add(time.Minute)}, nil
}

func (a *testAuth) Renew(ctx context.Context, req ingest.PublishRequest) (ingest.Grant, error) {
	return a.AuthorizePublish(ctx, req)
}

func (a *testAuth) Unpublish(context.Context, ingest.PublishRequest) error { return nil }

// testLogger writes to the test log until the test ends (late goroutine logs
// are dropped rather than reported against a finished test).
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	w := &testLogWriter{t: t}
	t.Cleanup(w.stop) // registered first, so it runs last
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testLogWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testLogWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

func (w *testLogWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// instance is one in-process livestack media server: its own hub and RTMP server.
type instance struct {
	Hub  *hub.Hub
	RTMP *rtmpserver.Server
	Addr string // host:port of the RTMP listener
	once sync.Once
	done chan struct{}
}

// startInstance serves RTMP on addr ("127.0.0.1:0" for a fresh port) with auth
// and hooks; tlsConf makes it RTMPS. It is stopped at the end of the test.
func startInstance(t *testing.T, addr string, auth ingest.Authorizer, hooks rtmpserver.StreamHooks, tlsConf *tls.Config, log *slog.Logger) *instance {
	t.Helper()
	h := hub.New(hub.Config{Logger: log})
	srv, err := rtmpserver.New(rtmpserver.Config{Hub: h, Authorizer: auth, Hooks: hooks, Logger: log})
	require.NoError(t, err)
	var ln net.Listener
	// Re-binding a port that just closed can race the old listener's teardown.
	require.Eventually(t, func() bool {
		ln, err = net.Listen("tcp", addr)
		return err == nil
	}, 5*time.Second, 20*time.Millisecond, "listen %s", addr)
	in := &instance{Hub: h, RTMP: srv, Addr: ln.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(in.done)
		_ = srv.Serve(ln, tlsConf)
	}()
	t.Cleanup(in.Stop)
	return in
}

// Stop closes the listener and every connection, then the hub.
func (in *instance) Stop() {
	in.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = in.RTMP.Close(ctx)
		<-in.done
		in.Hub.Close()
	})
}

// waitStream waits for key to appear in the instance's hub.
func (in *instance) waitStream(t *testing.T, key string) *hub.Stream {
	t.Helper()
	var s *hub.Stream
	require.Eventually(t, func() bool {
		s = in.Hub.Stream(key)
		return s != nil
	}, 10*time.Second, 10*time.Millisecond, "stream %s never appeared", key)
	return s
}

// makeFLV encodes a short H.264/AAC test clip with ffmpeg (2 s keyframe
// interval), skipping the test when ffmpeg is not installed.
func makeFLV(t *testing.T) string {
	t.Helper()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed")
	}
	out := filepath.Join(t.TempDir(), "out.flv")
	cmd := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "50",
		"-c:a", "aac", "-t", "4", "-f", "flv", out)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "ffmpeg: %s", b)
	return out
}

type flvTag struct {
	typ    flv.TagType
	ts     uint32
	data   []byte
	header bool // sequence header or metadata
}

func readFLV(t *testing.T, path string) []flvTag {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r := flv.NewReader(f, 0)
	var tags []flvTag
	for {
		tag, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		ft := flvTag{typ: tag.Type, ts: tag.Timestamp, data: tag.Data}
		switch tag.Type {
		case flv.TagScript:
			ft.header = true
		case flv.TagVideo:
			info, err := flv.ParseVideo(tag.Data)
			require.NoError(t, err)
			ft.header = info.PacketType == flv.VideoSequenceHeader
		case flv.TagAudio:
			info, err := flv.ParseAudio(tag.Data)
			require.NoError(t, err)
			ft.header = info.PacketType == flv.AudioSequenceHeader
		}
		tags = append(tags, ft)
	}
	require.NotEmpty(t, tags)
	return tags
}

// publishLoop publishes tags to rawURL over RTMP at real-time pace, looping
// the clip with continuing timestamps (headers and metadata only the first
// time), until ctx ends. It runs the relay's own publish client.
func publishLoop(ctx context.Context, t *testing.T, rawURL string, tags []flvTag) <-chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		errc <- func() error {
			c, err := rtmpclient.Dial(ctx, rawURL, rtmpclient.Options{Timeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
			if err != nil {
				return err
			}
			defer c.Close(true)
			start := time.Now()
			var offset uint32
			for loop := 0; ; loop++ {
				var last uint32
				for _, tag := range tags {
					if loop > 0 && tag.header {
						continue
					}
					ts := offset + tag.ts
					if d := time.Until(start.Add(time.Duration(ts) * time.Millisecond)); d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
							return nil
						}
					}
					if err := c.WriteTag(ctx, tag.typ, ts, tag.data); err != nil {
						if ctx.Err() != nil {
							return nil
						}
						return err
					}
					last = max(last, tag.ts)
				}
				offset += last + 40
			}
		}()
	}()
	return errc
}

// received is what a hub subscriber saw, checked by checkStream.
type received struct {
	pkts []*hub.Packet
}

// collect reads key from h until want video keyframes arrived (or the timeout).
func collect(t *testing.T, h *hub.Hub, key string, keyframes int, timeout time.Duration) received {
	t.Helper()
	var sub *hub.Subscriber
	require.Eventually(t, func() bool {
		var err error
		sub, err = h.Subscribe(key, hub.SubscribeOptions{Internal: true})
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "stream %s never appeared", key)
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var r received
	seen := 0
	for seen < keyframes {
		pkts, err := sub.Read(ctx, nil)
		for _, p := range pkts {
			r.pkts = append(r.pkts, p)
			if p.Type == flv.TagVideo && p.Keyframe && !p.Header {
				seen++
			}
		}
		if err != nil {
			t.Fatalf("reading %s: %v after %d keyframes (%d packets)", key, err, seen, len(r.pkts))
		}
	}
	return r
}

// checkStream asserts a stream as a player needs it: metadata, then the
// H.264 and AAC sequence headers, then video starting on a keyframe, AAC
// audio, and timestamps that never go back within a track.
func checkStream(t *testing.T, r received) {
	t.Helper()
	pkts := r.pkts
	require.GreaterOrEqual(t, len(pkts), 4)
	require.Equal(t, flv.TagScript, pkts[0].Type, "metadata first")
	require.Contains(t, string(pkts[0].Data()), "onMetaData")

	var vhdr, ahdr, audioFrames int
	firstVideo := true
	var lastVideo, lastAudio uint32
	for i, p := range pkts {
		switch p.Type {
		case flv.TagVideo:
			info, err := flv.ParseVideo(p.Data())
			require.NoError(t, err)
			require.Equal(t, "h264", info.Codec)
			if info.PacketType == flv.VideoSequenceHeader {
				vhdr++
				continue
			}
			if firstVideo {
				require.Positive(t, vhdr, "video sequence header before the first frame")
				require.True(t, info.Keyframe, "first video frame (packet %d) is a keyframe", i)
				firstVideo = false
			}
			require.GreaterOrEqual(t, p.Time, lastVideo, "video timestamps monotonic at packet %d", i)
			lastVideo = p.Time
		case flv.TagAudio:
			info, err := flv.ParseAudio(p.Data())
			require.NoError(t, err)
			require.Equal(t, "aac", info.Codec)
			if info.PacketType == flv.AudioSequenceHeader {
				ahdr++
				continue
			}
			require.Positive(t, ahdr, "audio sequence header before the first frame")
			require.GreaterOrEqual(t, p.Time, lastAudio, "audio timestamps monotonic at packet %d", i)
			lastAudio = p.Time
			audioFrames++
		}
	}
	require.False(t, firstVideo, "no video frames")
	require.Positive(t, audioFrames, "no audio frames")
}

// waitState polls the relay states of key until cond holds for the first one.
func waitState(t *testing.T, m *Manager, key string, timeout time.Duration, what string, cond func(State) bool) State {
	t.Helper()
	var last State
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if st := m.States(key); len(st) > 0 {
			last = st[0]
			if cond(last) {
				return last
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("relay state of %s never became %s; last %+v", key, what, last)
	return last
}

// source publishes synthetic H.264/AAC-shaped frames straight into a hub, for
// tests that need a stream but not real pictures (and the bitrate of choice).
type source struct {
	hub    *hub.Hub
	pub    *hub.Publisher
	stream *hub.Stream

	mu      sync.Mutex
	stopped chan struct{}
	done    chan struct{}
	// maxWrite is the longest a single publisher write took.
	maxWrite time.Duration
	// frames counts the video frames published.
	frames atomic.Int64
}

func newSource(t *testing.T) *source {
	t.Helper()
	return newSourceHub(t, hub.Config{})
}

// newSourceHub is newSource with hub settings (the stream ends with its publisher).
func newSourceHub(t *testing.T, cfg hub.Config) *source {
	t.Helper()
	cfg.ReconnectWindow, cfg.Logger = -1, testLogger(t)
	h := hub.New(cfg)
	pub, err := h.Publish("src", hub.PublishOptions{Remote: "test"})
	require.NoError(t, err)
	t.Cleanup(h.Close)
	return &source{hub: h, pub: pub, stream: pub.Stream()}
}

// Synthetic payloads: an AVC sequence header (High profile, level 3.1, one
// tiny SPS and PPS), AAC-LC 44.1 kHz stereo, and frames of any size.
var (
	synthAVCHeader = []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xee}
	synthAACHeader = []byte{0xaf, 0, 0x12, 0x10}
)

func synthFrame(key bool, size int) []byte {
	b := make([]byte, 9+size)
	b[0] = 0x27
	nal := byte(0x41)
	if key {
		b[0], nal = 0x17, 0x65
	}
	b[1] = 1
	b[5], b[6], b[7], b[8] = byte(size>>24), byte(size>>16), byte(size>>8), byte(size)
	if size > 0 {
		b[9] = nal
	}
	return b
}

// run publishes 25 fps video (a keyframe every second, frameBytes per frame)
// with one audio frame per video frame, in real time, until the returned stop
// func is called.
func (s *source) run(t *testing.T, frameBytes int) (stop func()) {
	t.Helper()
	require.NoError(t, s.pub.WriteVideo(0, synthAVCHeader))
	require.NoError(t, s.pub.WriteAudio(0, synthAACHeader))
	s.stopped, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		for n := 0; ; n++ {
			ts := uint32(time.Since(start).Milliseconds())
			began := time.Now()
			if s.pub.WriteVideo(ts, synthFrame(n%25 == 0, frameBytes)) != nil ||
				s.pub.WriteAudio(ts, []byte{0xaf, 1, 0x21, 0x10, 0x04, 0x60}) != nil {
				return
			}
			s.mu.Lock()
			s.maxWrite = max(s.maxWrite, time.Since(began))
			s.mu.Unlock()
			s.frames.Add(1)
			select {
			case <-tick.C:
			case <-s.stopped:
				return
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(s.stopped)
			<-s.done
		})
	}
	t.Cleanup(stop)
	return stop
}

func (s *source) longestWrite() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxWrite
}

// silentListener accepts TCP connections and never says a word.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// gateProxy forwards TCP to a target; while paused it stops reading from its
// clients, like a target whose network stalled.
type gateProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cond   *sync.Cond
	paused bool
	rate   int // bytes per second forwarded to the target; 0 is unlimited
	conns  []net.Conn
}

func newGateProxy(t *testing.T, target string) *gateProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &gateProxy{ln: ln, target: target}
	p.cond = sync.NewCond(&p.mu)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *gateProxy) Addr() string { return p.ln.Addr().String() }

func (p *gateProxy) setPaused(v bool) {
	p.mu.Lock()
	p.paused = v
	p.mu.Unlock()
	p.cond.Broadcast()
}

// setRate limits the bytes per second forwarded to the target (0: no limit).
func (p *gateProxy) setRate(bps int) {
	p.mu.Lock()
	p.rate = bps
	p.mu.Unlock()
}

func (p *gateProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() {
			defer up.Close()
			buf := make([]byte, 16<<10)
			for {
				p.mu.Lock()
				for p.paused {
					p.cond.Wait()
				}
				rate := p.rate
				p.mu.Unlock()
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := up.Write(buf[:n]); werr != nil {
						return
					}
					if rate > 0 {
						time.Sleep(time.Duration(n) * time.Second / time.Duration(rate))
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, up)
		}()
	}
}

func (p *gateProxy) close() {
	p.ln.Close()
	p.setPaused(false)
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}
