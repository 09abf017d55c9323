package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/rtmpclient"
)

// Step is the result of one viewer count.
type Step struct {
	Viewers        int     `json:"viewers"`
	Connected      int     `json:"connected"`
	PublishedKbps  float64 `json:"publishedKbps"`
	GoodputPct     float64 `json:"goodputPct"`    // all viewers' payload / (viewers x published)
	MinGoodputPct  float64 `json:"minGoodputPct"` // the worst viewer
	DelayP50MS     float64 `json:"delayP50Ms"`
	DelayP99MS     float64 `json:"delayP99Ms"`
	DelayMaxMS     float64 `json:"delayMaxMs"`
	Stalls         int64   `json:"stalls"` // gaps over 1 s between tags
	Disconnects    int64   `json:"disconnects"`
	TTFKP50MS      float64 `json:"ttfkP50Ms"`
	TTFKP99MS      float64 `json:"ttfkP99Ms"`
	ServerCPUPct   float64 `json:"serverCpuPct"` // of one core
	CPUPer100Pct   float64 `json:"cpuPer100Pct"`
	ServerRSSMB    float64 `json:"serverRssMb"`
	RSSPerViewerKB float64 `json:"rssPerViewerKb"`
	HarnessCPUPct  float64 `json:"harnessCpuPct"`
	Healthy        bool    `json:"healthy"` // goodput >= 95 % and p99 < 1 s
}

// Result is a whole run.
type Result struct {
	Input         string  `json:"input"`
	MergeWindow   string  `json:"mergeWindow,omitempty"`
	IdleCPUPct    float64 `json:"idleCpuPct"` // server CPU with the publisher and no viewers
	IdleRSSMB     float64 `json:"idleRssMb"`
	TTFKP50MS     float64 `json:"ttfkP50Ms"` // sequential probes on a quiet server
	TTFKP99MS     float64 `json:"ttfkP99Ms"`
	Steps         []Step  `json:"steps"`
	MaxHealthy    int     `json:"maxHealthy"`
	DurationSteps string  `json:"duration"`
}

func run(ctx context.Context, o options, log *slog.Logger) (*Result, error) {
	if o.input == "" {
		p, err := defaultInput(ctx, log)
		if err != nil {
			return nil, err
		}
		o.input = p
	}
	tags, err := readFLV(o.input)
	if err != nil {
		return nil, err
	}
	if o.serverBin != "" {
		srv, err := startServer(ctx, o, log)
		if err != nil {
			return nil, err
		}
		defer srv.stop()
		o.push, o.play, o.serverPID = srv.push, srv.play, srv.cmd.Process.Pid
	}
	pub := &publisher{tags: tags}
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	pubErr := make(chan error, 1)
	go func() { pubErr <- pub.run(pubCtx, o.push) }()
	if err := waitPlayable(ctx, o.play); err != nil {
		return nil, err
	}
	res := &Result{Input: o.input, MergeWindow: o.mergeWindow, DurationSteps: o.duration.String()}

	// Idle figures: the publisher alone.
	time.Sleep(2 * time.Second)
	idle, err := sampleServer(ctx, o.serverPID, 5*time.Second)
	if err != nil {
		return nil, err
	}
	res.IdleCPUPct, res.IdleRSSMB = idle.cpuPct, float64(idle.rss)/(1<<20)

	// Time to first keyframe on a quiet server, one viewer at a time.
	var ttfk histogramUS
	for i := 0; i < o.ttfkProbes; i++ {
		v := &viewer{pub: pub}
		vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		d, err := v.firstKeyframe(vctx, o.play)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("ttfk probe: %w", err)
		}
		ttfk.add(d)
		time.Sleep(50 * time.Millisecond)
	}
	res.TTFKP50MS, res.TTFKP99MS = ttfk.quantileMS(0.5), ttfk.quantileMS(0.99)

	for _, n := range o.sweep {
		select {
		case err := <-pubErr:
			return res, fmt.Errorf("publisher stopped: %w", err)
		default:
		}
		log.Info("step", "viewers", n)
		st, err := measureStep(ctx, o, pub, n, idle.rss)
		if err != nil {
			return res, err
		}
		res.Steps = append(res.Steps, st)
		if st.Healthy && n > res.MaxHealthy {
			res.MaxHealthy = n
		}
		time.Sleep(3 * time.Second) // let the server release the step's viewers
	}
	return res, nil
}

func measureStep(ctx context.Context, o options, pub *publisher, n int, idleRSS int64) (Step, error) {
	st := Step{Viewers: n}
	stepCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	viewers := make([]*viewer, n)
	var wg sync.WaitGroup
	var connected atomic.Int64
	interval := time.Second / time.Duration(max(o.ramp, 1))
	for i := range viewers {
		v := &viewer{pub: pub}
		viewers[i] = v
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.watch(stepCtx, o.play, &connected)
		}()
		time.Sleep(interval)
	}
	time.Sleep(o.warmup)
	for _, v := range viewers {
		v.startWindow()
	}
	pubStart := pub.payload.Load()
	harness0, _ := procTimes(os.Getpid())
	sample, err := sampleServer(ctx, o.serverPID, o.duration)
	if err != nil {
		return st, err
	}
	harness1, _ := procTimes(os.Getpid())
	published := pub.payload.Load() - pubStart
	var all histogram
	var ttfk histogramUS
	var total int64
	st.MinGoodputPct = 100
	for _, v := range viewers {
		h, bytes, stalls, disc, first := v.endWindow()
		all.merge(h)
		total += bytes
		st.Stalls += stalls
		st.Disconnects += disc
		if first > 0 {
			ttfk.add(first)
		}
		if g := goodput(bytes, published); g < st.MinGoodputPct {
			st.MinGoodputPct = g
		}
	}
	cancel()
	wg.Wait()
	st.Connected = int(connected.Load())
	st.PublishedKbps = float64(published) * 8 / o.duration.Seconds() / 1000
	st.GoodputPct = goodput(total, published*int64(n))
	st.DelayP50MS = ms(all.quantile(0.5))
	st.DelayP99MS = ms(all.quantile(0.99))
	st.DelayMaxMS = ms(all.max)
	st.TTFKP50MS, st.TTFKP99MS = ttfk.quantileMS(0.5), ttfk.quantileMS(0.99)
	st.ServerCPUPct = sample.cpuPct
	st.CPUPer100Pct = sample.cpuPct * 100 / float64(n)
	st.ServerRSSMB = float64(sample.rss) / (1 << 20)
	st.RSSPerViewerKB = float64(sample.rss-idleRSS) / 1024 / float64(n)
	st.HarnessCPUPct = 100 * (harness1 - harness0).Seconds() / o.duration.Seconds()
	st.Healthy = st.GoodputPct >= 95 && all.quantile(0.99) < time.Second && st.Disconnects == 0
	return st, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type serverSample struct {
	cpuPct float64
	rss    int64
}

// sampleServer measures the server's CPU over d and its RSS at the end.
func sampleServer(ctx context.Context, pid int, d time.Duration) (serverSample, error) {
	if pid == 0 {
		select {
		case <-ctx.Done():
			return serverSample{}, ctx.Err()
		case <-time.After(d):
		}
		return serverSample{}, nil
	}
	c0, err := procTimes(pid)
	if err != nil {
		return serverSample{}, fmt.Errorf("server cpu: %w", err)
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return serverSample{}, ctx.Err()
	case <-time.After(d):
	}
	c1, err := procTimes(pid)
	if err != nil {
		return serverSample{}, fmt.Errorf("server cpu: %w", err)
	}
	rss, err := rssBytes(pid)
	if err != nil {
		return serverSample{}, fmt.Errorf("server rss: %w", err)
	}
	return serverSample{cpuPct: 100 * (c1 - c0).Seconds() / time.Since(t0).Seconds(), rss: rss}, nil
}

// histogramUS keeps raw microsecond samples (few: one per viewer or probe).
type histogramUS struct{ s []time.Duration }

func (h *histogramUS) add(d time.Duration) { h.s = append(h.s, d) }

func (h *histogramUS) quantileMS(q float64) float64 {
	if len(h.s) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), h.s...)
	for i := 1; i < len(s); i++ { // small n: insertion sort
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return ms(s[int(q*float64(len(s)-1))])
}

// publisher pushes the input in a loop at real-time pace and remembers when
// each video timestamp was sent.
type publisher struct {
	tags    []flv.Tag
	sent    sync.Map // uint32 timestamp -> int64 unix nanos
	payload atomic.Int64
}

func (p *publisher) run(ctx context.Context, url string) error {
	c, err := rtmpclient.Publish(ctx, url, rtmpclient.Config{})
	if err != nil {
		return err
	}
	defer c.Close()
	var dur uint32
	for _, t := range p.tags {
		dur = max(dur, t.Timestamp)
	}
	dur += 33
	start := time.Now()
	for loop := uint32(0); ; loop++ {
		for _, t := range p.tags {
			isHdr := t.Type == flv.TagScript || isSeqHeader(t)
			if loop > 0 && isHdr {
				continue
			}
			ts := loop*dur + t.Timestamp
			if t.Type == flv.TagScript {
				ts = 0
			}
			if wait := time.Until(start.Add(time.Duration(ts) * time.Millisecond)); wait > 0 && !isHdr {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(wait):
				}
			}
			if t.Type == flv.TagVideo && !isHdr {
				p.sent.Store(ts, time.Now().UnixNano())
				p.sent.Delete(ts - 60_000) // keep a minute
			}
			if err := c.WriteTag(t.Type, ts, t.Data); err != nil {
				return err
			}
			if !isHdr {
				p.payload.Add(int64(len(t.Data)))
			}
		}
	}
}

func isSeqHeader(t flv.Tag) bool {
	switch t.Type {
	case flv.TagVideo:
		return len(t.Data) > 1 && t.Data[1] == 0
	case flv.TagAudio:
		return len(t.Data) > 1 && t.Data[0]>>4 == flv.SoundAAC && t.Data[1] == 0
	}
	return false
}

// viewer reads one HTTP-FLV stream.
type viewer struct {
	pub *publisher

	mu         sync.Mutex
	inWindow   bool
	hist       histogram
	bytes      int64
	stalls     int64
	disconnect int64
	firstKey   time.Duration
}

func (v *viewer) startWindow() {
	v.mu.Lock()
	v.inWindow, v.hist, v.bytes, v.stalls, v.disconnect = true, histogram{}, 0, 0, 0
	v.mu.Unlock()
}

func (v *viewer) endWindow() (*histogram, int64, int64, int64, time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.inWindow = false
	h := v.hist
	return &h, v.bytes, v.stalls, v.disconnect, v.firstKey
}

var client = &http.Client{Transport: &http.Transport{
	DisableCompression: true, MaxIdleConnsPerHost: -1, DisableKeepAlives: true,
	DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
}}

// firstKeyframe opens the stream and returns the time to its first keyframe.
func (v *viewer) firstKeyframe(ctx context.Context, url string) (time.Duration, error) {
	start := time.Now()
	var got time.Duration
	err := v.read(ctx, url, func(t flv.TagType, _ uint32, data []byte, now time.Time) bool {
		if t == flv.TagVideo && len(data) > 1 && data[1] == 1 && data[0]>>4 == flv.FrameKey {
			got = now.Sub(start)
			return false
		}
		return true
	})
	if got == 0 && err == nil {
		err = errors.New("no keyframe")
	}
	return got, err
}

// watch reads until ctx ends, recording delays, bytes and stalls in the window.
func (v *viewer) watch(ctx context.Context, url string, connected *atomic.Int64) {
	start := time.Now()
	var last time.Time
	counted := false
	err := v.read(ctx, url, func(t flv.TagType, ts uint32, data []byte, now time.Time) bool {
		if !counted {
			counted = true
			connected.Add(1)
		}
		v.mu.Lock()
		if v.firstKey == 0 && t == flv.TagVideo && len(data) > 1 && data[1] == 1 && data[0]>>4 == flv.FrameKey {
			v.firstKey = now.Sub(start)
		}
		if v.inWindow {
			if !last.IsZero() && now.Sub(last) > time.Second {
				v.stalls++
			}
			if t != flv.TagScript {
				v.bytes += int64(len(data))
			}
			if t == flv.TagVideo && len(data) > 1 && data[1] == 1 {
				if at, ok := v.pub.sent.Load(ts); ok {
					v.hist.add(now.Sub(time.Unix(0, at.(int64))))
				}
			}
		}
		v.mu.Unlock()
		last = now
		return true
	})
	if err != nil && ctx.Err() == nil {
		v.mu.Lock()
		v.disconnect++
		v.mu.Unlock()
	}
}

// read streams url and calls fn per tag until fn returns false, ctx ends or an error.
func (v *viewer) read(ctx context.Context, url string, fn func(flv.TagType, uint32, []byte, time.Time) bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body := resp.Body
	var hdr [flv.TagHeaderSize]byte
	if _, err := io.ReadFull(body, make([]byte, flv.HeaderSize+flv.PrevSizeLength)); err != nil {
		return err
	}
	buf := make([]byte, 0, 64<<10)
	for {
		if _, err := io.ReadFull(body, hdr[:]); err != nil {
			return err
		}
		h, err := flv.ParseTagHeader(hdr[:])
		if err != nil {
			return err
		}
		if cap(buf) < h.DataSize+4 {
			buf = make([]byte, 0, h.DataSize+4)
		}
		b := buf[:h.DataSize+4]
		if _, err := io.ReadFull(body, b); err != nil {
			return err
		}
		if !fn(h.Type, h.Timestamp, b[:h.DataSize], time.Now()) {
			return nil
		}
	}
}

func waitPlayable(ctx context.Context, url string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		v := &viewer{}
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := v.firstKeyframe(c, url)
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s never became playable", url)
}

func readFLV(path string) ([]flv.Tag, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	defer f.Close()
	r := flv.NewReader(f, 0)
	var tags []flv.Tag
	for {
		t, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", path, err)
		}
		tags = append(tags, t)
	}
	if len(tags) < 10 {
		return nil, fmt.Errorf("input %s: only %d tags", path, len(tags))
	}
	return tags, nil
}

// defaultInput makes the reference stream once: 720p30 H.264 CBR 2.5 Mbit/s,
// keyframe every 2 s, AAC 128 kbit/s, 40 s (2.67 Mbit/s in all).
func defaultInput(ctx context.Context, log *slog.Logger) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	p := filepath.Join(dir, "livestack-loadtest", "input-720p30-2500k.flv")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	log.Info("generating the input stream with ffmpeg", "path", p)
	tmp := p + ".tmp.flv"
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "40",
		"-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "2500k",
		"-x264-params", "nal-hrd=cbr", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
		"-c:a", "aac", "-b:a", "128k", "-ar", "44100", "-f", "flv", tmp).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ffmpeg: %v: %s", err, out)
	}
	return p, os.Rename(tmp, p)
}

// server is a standalone started by the harness.
type server struct {
	cmd        *exec.Cmd
	push, play string
	dir        string
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func startServer(ctx context.Context, o options, log *slog.Logger) (*server, error) {
	rtmpAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "livestack-loadtest-data")
	if err != nil {
		return nil, err
	}
	var tok [16]byte
	_, _ = rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	args := []string{"--rtmp-addr", rtmpAddr, "--http-addr", httpAddr, "--data-dir", dir,
		"--public-host", "127.0.0.1", "--log-level", "warn", "--max-connections", "20000"}
	if o.mergeWindow != "" {
		args = append(args, "--merge-window", o.mergeWindow)
	}
	args = append(args, strings.Fields(o.serverArgs)...)
	cmd := exec.CommandContext(ctx, o.serverBin, args...)
	cmd.Env = append(os.Environ(), "LIVESTACK_ADMIN_TOKEN="+token)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	s := &server{cmd: cmd, dir: dir}
	base := "http://" + httpAddr
	api := func(method, path string, body []byte) ([]byte, int, error) {
		req, _ := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return b, resp.StatusCode, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, code, err := api(http.MethodGet, "/api/v1/streams", nil); err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("server did not answer within 10 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, code, err := api(http.MethodPost, "/api/v1/channels", []byte(`{"id":"load","name":"load test"}`)); err != nil || code != http.StatusCreated {
		s.stop()
		return nil, fmt.Errorf("create channel: %d %v", code, err)
	}
	b, code, err := api(http.MethodGet, "/api/v1/channels/load/urls", nil)
	if err != nil || code != http.StatusOK {
		s.stop()
		return nil, fmt.Errorf("channel urls: %d %v", code, err)
	}
	var urls struct {
		Push string            `json:"push"`
		Play map[string]string `json:"play"`
	}
	if err := json.Unmarshal(b, &urls); err != nil {
		s.stop()
		return nil, fmt.Errorf("channel urls: %w", err)
	}
	s.push, s.play = urls.Push, urls.Play["flv"]
	log.Info("server started", "pid", cmd.Process.Pid, "rtmp", rtmpAddr, "http", httpAddr)
	return s, nil
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	_ = os.RemoveAll(s.dir)
}
