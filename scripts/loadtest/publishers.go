package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/rtmpclient"
)

// The publishers mode: many cameras pushing at once.
//
// Each publisher has its own channel (FLV and HLS on, recording with
// -record) and loops the camera input (about 1 Mbit/s) at real-time pace with
// timestamps that keep increasing. Steps add publishers (at -ramp per second)
// to reach each count of -sweep, warm up, and measure a window.
//
// How the harness sends (pubsched.go): each publisher connects and publishes
// in its own goroutine (rtmpclient.Publish), sends its metadata and sequence
// headers, then joins one of GOMAXPROCS scheduler shards and its goroutine
// only waits for the end. A shard wakes every pubTick (5 ms) and, for each of
// its publishers whose next video frame is due, encodes every tag due by now
// (the frame and the audio captured since the last one, as a camera sends
// them) into RTMP chunks (rtmpclient AppendTag) and sends them with one
// write. So a publisher costs one system call per frame, and the harness a
// handful of goroutine wake-ups per tick, not a timer, a context, a goroutine
// hand-off and a system call per tag and chunk. Publishers start at phases
// spread evenly over a frame interval, so every tick writes about the same.
//
// A shard must not wait for one slow server connection: each write may wait
// at most blockWait (1 ms) for its socket. When the server does not read and
// the socket is full, the write returns with the rest queued in the
// connection (rtmpclient ErrBlocked) and the publisher is handed to a
// goroutine of its own that waits until the queue is written (failing it
// after the client's write timeout, 10 s) and hands it back; meanwhile the
// shard skips it and counts its lag as still growing. Its tags are not
// dropped: once back, it sends everything due by then in one write. A shard
// thus loses at most blockWait per publisher whose socket fills up.
//
// A publisher is BEHIND in a window when any of these holds:
//   - send lag: a batch (a video frame and the audio before it) left the
//     harness (its write returned) more than -behind after the frame was
//     due at real-time pace. Writes do not wait for a full socket (see
//     above): a blocked batch counts as lagging from its due time until its
//     queue is written;
//   - read backlog: the bytes it sent that the server has not read yet
//     (client send queue + server receive queue, /proc/net/tcp, sampled
//     every 500 ms) exceed -behind of its media. This catches a server that
//     falls behind before the socket buffers fill and writes block;
//   - server skips: its stream's subscribers (the HLS packager, the
//     recorder) skipped to a keyframe or were dropped in the window
//     (/api/v1/streams "skips", "subscribersDropped"): the server accepted
//     the media but a remuxer could not keep up;
//   - it is not publishing: never connected, or disconnected.
//
// The send lag of a batch is measured from its video frame's due time; the
// audio in it was held back up to one frame interval on purpose, as a
// camera's would be, and is not counted as lag.
//
// The harness's own lateness (a shard reaching a publisher after its frame
// was due: the tick, plus the machine being saturated) is reported apart: a
// step whose publishers were reached late by more than half of -behind is
// marked harness-limited, since then the harness, not the server, may be
// what fell behind.

// camPublisher is one publisher of the mode.
type camPublisher struct {
	url     string
	channel string
	in      *input
	n       int // its index in the run: shard and phase

	phase atomic.Int32 // phaseConnecting, phasePlaying (publishing), phaseEnded
	err   error        // why it ended; read after phaseEnded

	// Window maxima (ns), swapped to 0 when a window opens.
	maxLag  atomic.Int64 // write returned − due (or now − due while blocked)
	maxWake atomic.Int64 // reached by its shard − due
	bytes   atomic.Int64 // FLV bytes of media sent

	// Set before the publisher joins its shard, read-only after.
	conn      pubConn
	appendTag tagAppender // the connection's AppendTag, made once

	failOnce sync.Once
	failErr  error
	failed   chan struct{} // closed when a write failed; failErr says why

	// Owned by the shard, or by the drain goroutine while slow.
	cur        camCursor
	next       int64       // nanotime its next batch is due: the next video frame's
	slow       atomic.Bool // a blocked write's queue is being drained by its own goroutine
	blockedDue int64       // due time of the batch that blocked
}

func (p *camPublisher) run(ctx context.Context, sh *pubShard) {
	err := p.publish(ctx, sh)
	if ctx.Err() == nil {
		if err == nil {
			err = errors.New("publisher stopped")
		}
		p.err = err
	}
	p.phase.Store(phaseEnded)
}

// publish connects, sends the headers and hands the publisher to its shard,
// then waits for the run to end or a write to fail.
func (p *camPublisher) publish(ctx context.Context, sh *pubShard) error {
	conn, err := rtmpclient.Publish(ctx, p.url, rtmpclient.Config{})
	if err != nil {
		return fmt.Errorf("publish %s: %w", p.channel, err)
	}
	defer conn.Close()
	in := p.in
	var buf []byte
	if in.Metadata != nil {
		if buf, err = conn.AppendTag(buf, flv.TagScript, 0, in.Metadata); err != nil {
			return err
		}
	}
	if buf, err = conn.AppendTag(buf, flv.TagVideo, 0, in.Video); err != nil {
		return err
	}
	if in.Audio != nil {
		if buf, err = conn.AppendTag(buf, flv.TagAudio, 0, in.Audio); err != nil {
			return err
		}
	}
	if err := conn.WriteChunks(buf, time.Time{}); err != nil {
		return fmt.Errorf("%s: headers: %w", p.channel, err)
	}
	p.conn, p.appendTag = conn, conn.AppendTag
	p.failed = make(chan struct{})
	p.cur = camCursor{in: in, start: nanotime() + phaseOffset(p.n, in)}
	p.next = p.cur.nextBatch()
	p.phase.Store(phasePlaying)
	sh.add(p)
	select {
	case <-ctx.Done():
		return nil
	case <-p.failed:
		return p.failErr
	}
}

// fail ends the publisher with err, unless the run is stopping anyway.
func (p *camPublisher) fail(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	p.failOnce.Do(func() {
		p.failErr = err
		close(p.failed)
	})
}

func (p *camPublisher) hasFailed() bool {
	select {
	case <-p.failed:
		return true
	default:
		return false
	}
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// pubStep is one step of the publishers mode.
type pubStep struct {
	Publishers    int     `json:"publishers"`
	Publishing    int     `json:"publishing"` // through the whole window
	Failed        int     `json:"failed"`     // never published
	Disconnected  int     `json:"disconnected"`
	Behind        int     `json:"behind"` // see the mode's comment; includes failed and disconnected
	BehindSendLag int     `json:"behindSendLag"`
	BehindBacklog int     `json:"behindReadBacklog"`
	BehindSkips   int     `json:"behindServerSkips"`
	Healthy       bool    `json:"healthy"`
	HarnessLimit  bool    `json:"harnessLimited"`
	WindowSeconds float64 `json:"windowSeconds"`
	RampSeconds   float64 `json:"rampSeconds"`

	SendLagMs     *spread `json:"sendLagMs"`        // per publisher: its largest in the window
	WakeLagMs     *spread `json:"harnessWakeLagMs"` // per publisher: its largest in the window
	BacklogKB     *spread `json:"readBacklogKB"`    // per publisher: its largest sample
	PublishedKbps float64 `json:"publishedKbpsPerPublisher"`
	StreamsLive   int     `json:"streamsLive"`
	Skips         int64   `json:"serverSkips"`
	Dropped       int64   `json:"serverSubscribersDropped"`

	ServerCPUPercent        *float64       `json:"serverCpuPercent,omitempty"`
	ServerCPUPer100         *float64       `json:"serverCpuPer100Publishers,omitempty"`
	ServerCPUPer100OverIdle *float64       `json:"serverCpuPer100PublishersOverIdle,omitempty"`
	ServerRSSMB             *float64       `json:"serverRssMB,omitempty"`
	RSSPerPublisherKB       *float64       `json:"serverRssPerPublisherKB,omitempty"`
	ServerThreads           int            `json:"serverThreads,omitempty"`
	ServerFaultsPerSec      *float64       `json:"serverMinorFaultsPerSecond,omitempty"` // first touches of memory, mostly
	HarnessCPUPercent       float64        `json:"harnessCpuPercent"`
	MachineBusyPercent      float64        `json:"machineBusyPercent"`
	OtherCPUPercent         float64        `json:"otherProcessesCpuPercent"`
	Errors                  map[string]int `json:"errors,omitempty"`
}

// pubReport is the publishers mode's output.
type pubReport struct {
	Command        string        `json:"command"`
	Input          inputInfo     `json:"input"`
	Channel        string        `json:"channelOutputs"`
	Behind         string        `json:"behindThreshold"`
	Idle           *baselineInfo `json:"idleServer,omitempty"`
	Steps          []*pubStep    `json:"steps"`
	HighestHealthy int           `json:"highestHealthyPublishers"`
	LoadAverage    string        `json:"loadAverageAtStart"`
	Error          string        `json:"error,omitempty"`
}

func runPublishers(ctx context.Context, cfg *config, in *input, stdout, log io.Writer) error {
	tgt, err := openTarget(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer tgt.close(log)
	outputs := map[string]any{"flv": true, "hls": cfg.HLS, "cmaf": cfg.CMAF, "hlsSegmentSeconds": cfg.HLSTime}
	recording := map[string]any{"mp4": slices.Contains(cfg.Record, "mp4"), "hlsVod": slices.Contains(cfg.Record, "hlsvod")}
	if cfg.VideoTime > 0 {
		recording["mp4SegmentSeconds"] = cfg.VideoTime
	}
	desc := "FLV"
	if cfg.HLS {
		desc += " + HLS"
	}
	if cfg.CMAF {
		desc += " + CMAF"
	}
	if len(cfg.Record) > 0 {
		desc += ", recording " + strings.Join(cfg.Record, " + ")
	}
	rep := &pubReport{
		Command: strings.Join(os.Args, " "), Channel: desc, Behind: cfg.Behind.String(), LoadAverage: loadAverage(),
		Input: inputInfo{File: in.Path, Width: in.Width, Height: in.Height, FPS: math.Round(in.FPS()*100) / 100,
			BitrateKbps: math.Round(in.Bitrate() / 1e3), LoopSeconds: float64(in.Period) / 1000},
	}
	fmt.Fprintf(log, "loadtest: channels: %s\n", desc)

	var idle *usageResult
	if cfg.Baseline > 0 && tgt.pid > 0 {
		fmt.Fprintf(log, "loadtest: idle server for %s\n", cfg.Baseline)
		u := openUsage(tgt.pid)
		if err := sleepCtx(ctx, cfg.Baseline); err != nil {
			return err
		}
		r := u.close()
		idle = &r
		rep.Idle = &baselineInfo{ServerCPUPercent: math.Round(r.ServerCPUPercent*10) / 10,
			ServerRSSMB: math.Round(float64(r.ServerRSSKB)/1024*10) / 10, HarnessCPUPercent: math.Round(r.HarnessCPUPercent*10) / 10}
	}

	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	prefix := cfg.Channel + "-pub-" + hex.EncodeToString(rnd[:])
	pctx, stopAll := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopAll(); wg.Wait() }()
	shards := make([]*pubShard, runtime.GOMAXPROCS(0))
	for i := range shards {
		sh := &pubShard{wg: &wg}
		shards[i] = sh
		wg.Go(func() { sh.run(pctx) })
	}
	var pubs []*camPublisher
	var stepErr error
	var rtmpPort uint16
	for i, n := range cfg.steps() {
		if i > 0 {
			if stepErr = sleepCtx(ctx, cfg.Cooldown); stepErr != nil {
				break
			}
		}
		// Channels first, outside the ramp: creating one writes the store.
		fmt.Fprintf(log, "loadtest: step %d publishers: creating %d channels\n", n, n-len(pubs))
		var fresh []*camPublisher
		for j := len(pubs); j < n; j++ {
			id := fmt.Sprintf("%s-%05d", prefix, j)
			push, err := tgt.api.createChannel(ctx, map[string]any{"id": id, "enabled": true, "outputs": outputs, "recording": recording})
			if err != nil {
				stepErr = fmt.Errorf("channel %s: %w%s", id, err, tgt.exitNote())
				break
			}
			if rtmpPort == 0 {
				if u, err := url.Parse(push); err == nil {
					p, _ := strconv.Atoi(u.Port())
					rtmpPort = uint16(p)
				}
			}
			fresh = append(fresh, &camPublisher{url: push, channel: id, in: in, n: j})
		}
		if stepErr != nil {
			break
		}
		if kinds := len(cfg.Record); kinds > 0 && tgt.srv != nil {
			// Every publisher records through the ramp, warm-up and window.
			span := time.Duration(float64(n-len(pubs))/cfg.Ramp*float64(time.Second)) + cfg.Warmup + cfg.Duration
			free, err := diskFree(tgt.srv.dir)
			if err == nil {
				err = checkDisk(recordingNeed(n, in.Bitrate(), kinds, span), free)
			}
			if err != nil {
				stepErr = fmt.Errorf("step %d: %w", n, err)
				break
			}
		}
		fmt.Fprintf(log, "loadtest: step %d publishers: ramp at %.0f/s\n", n, cfg.Ramp)
		rampStart := time.Now()
		interval := time.Duration(float64(time.Second) / cfg.Ramp)
		for j, p := range fresh {
			if d := time.Until(rampStart.Add(time.Duration(j) * interval)); d > 0 {
				if stepErr = sleepCtx(ctx, d); stepErr != nil {
					break
				}
			}
			pubs = append(pubs, p)
			sh := shards[p.n%len(shards)]
			wg.Go(func() { p.run(pctx, sh) })
		}
		if stepErr != nil {
			break
		}
		deadline := time.Now().Add(cfg.ConnectTimeout)
		for time.Now().Before(deadline) {
			connecting := 0
			for _, p := range pubs {
				if p.phase.Load() == phaseConnecting {
					connecting++
				}
			}
			if connecting == 0 {
				break
			}
			if stepErr = sleepCtx(ctx, 100*time.Millisecond); stepErr != nil {
				break
			}
		}
		if stepErr != nil {
			break
		}
		ramp := time.Since(rampStart)
		fmt.Fprintf(log, "loadtest: step %d publishers: ramped in %s, warm-up %s, window %s\n", n, ramp.Round(100*time.Millisecond), cfg.Warmup, cfg.Duration)
		if stepErr = sleepCtx(ctx, cfg.Warmup); stepErr != nil {
			break
		}
		r, err := measurePublishers(ctx, cfg, tgt, pubs, rtmpPort, idle, log)
		if err != nil {
			stepErr = fmt.Errorf("step %d publishers: %w%s", n, err, tgt.exitNote())
			break
		}
		r.RampSeconds = math.Round(ramp.Seconds()*10) / 10
		rep.Steps = append(rep.Steps, r)
		fmt.Fprintf(log, "loadtest: step %d publishers: %d behind (send lag %d, read backlog %d, server skips %d, not publishing %d), server CPU %s, healthy %v\n",
			n, r.Behind, r.BehindSendLag, r.BehindBacklog, r.BehindSkips, r.Failed+r.Disconnected, fmtPct(r.ServerCPUPercent), r.Healthy)
		if !r.Healthy && !cfg.KeepGoing && i < len(cfg.steps())-1 {
			fmt.Fprintf(log, "loadtest: step %d publishers is unhealthy; stopping the sweep (-keep-going runs the rest)\n", n)
			break
		}
	}
	for _, s := range rep.Steps {
		if s.Healthy && !s.HarnessLimit && s.Publishers > rep.HighestHealthy {
			rep.HighestHealthy = s.Publishers
		}
	}
	if stepErr != nil {
		rep.Error = stepErr.Error()
	}
	if cfg.JSON {
		if err := writeJSONAny(stdout, rep); err != nil {
			return err
		}
	} else {
		rep.writeTable(stdout)
	}
	return stepErr
}

func fmtPct(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f %%", *p)
}

// streamCounters are the per-stream figures of /api/v1/streams a step uses.
type streamCounters struct {
	Live      bool
	Publisher string // remote address of the publisher
	Skips     int64
	Dropped   int64
}

func (a *apiClient) streams(ctx context.Context) (map[string]streamCounters, error) {
	var out struct {
		Streams []struct {
			Key                string `json:"key"`
			Live               bool   `json:"live"`
			Publisher          string `json:"publisher"`
			Skips              int64  `json:"skips"`
			SubscribersDropped int64  `json:"subscribersDropped"`
		} `json:"streams"`
	}
	c := &apiClient{Base: a.Base, Token: a.Token, HTTP: &http.Client{Timeout: 30 * time.Second}}
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/streams", nil, &out); err != nil {
		return nil, err
	}
	m := make(map[string]streamCounters, len(out.Streams))
	for _, s := range out.Streams {
		m[s.Key] = streamCounters{Live: s.Live, Publisher: s.Publisher, Skips: s.Skips, Dropped: s.SubscribersDropped}
	}
	return m, nil
}

// measurePublishers measures one window with the publishers running.
func measurePublishers(ctx context.Context, cfg *config, tgt *target, pubs []*camPublisher, rtmpPort uint16, idle *usageResult, log io.Writer) (*pubStep, error) {
	s0, err := tgt.api.streams(ctx)
	if err != nil {
		return nil, fmt.Errorf("streams: %w", err)
	}
	for _, p := range pubs {
		p.maxLag.Store(0)
		p.maxWake.Store(0)
	}
	bytes0 := make([]int64, len(pubs))
	for i, p := range pubs {
		bytes0[i] = p.bytes.Load()
	}
	usage := openUsage(tgt.pid)
	ws := time.Now()

	// Sample the read backlog of every connection every 500 ms. A sample
	// where some are over the threshold is logged, so that a stall of the
	// whole server (all at once) tells itself apart from single streams.
	behindBytes := int64(pubs[0].in.Bitrate() / 8 * cfg.Behind.Seconds())
	backlog := map[uint16]int64{}
	var backlogErr error
	sctx, stopSampler := context.WithCancel(ctx)
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
			b, err := readTCPBacklog(rtmpPort)
			if err != nil {
				backlogErr = err
				return
			}
			over, largest := 0, int64(0)
			for k, v := range b {
				backlog[k] = max(backlog[k], v)
				largest = max(largest, v)
				if v > behindBytes {
					over++
				}
			}
			if over > 0 {
				fmt.Fprintf(log, "loadtest: +%.1fs (%s): %d connections with over %d KB unread (largest %d KB)\n",
					time.Since(ws).Seconds(), time.Now().Format("15:04:05.0"), over, behindBytes>>10, largest>>10)
			}
		}
	}()
	err = sleepCtx(ctx, cfg.Duration)
	stopSampler()
	<-samplerDone
	win := time.Since(ws)
	// What was sent and the lags in the window, before the streams call
	// (which takes seconds on a busy server).
	sentIn := make([]int64, len(pubs))
	lagIn := make([]int64, len(pubs))
	wakeIn := make([]int64, len(pubs))
	for i, p := range pubs {
		sentIn[i] = p.bytes.Load() - bytes0[i]
		lagIn[i], wakeIn[i] = p.maxLag.Load(), p.maxWake.Load()
	}
	u := usage.close()
	if err != nil {
		return nil, err
	}
	if backlogErr != nil {
		return nil, fmt.Errorf("read backlog: %w", backlogErr)
	}
	s1, err := tgt.api.streams(ctx)
	if err != nil {
		return nil, fmt.Errorf("streams: %w", err)
	}

	r := &pubStep{Publishers: len(pubs), WindowSeconds: math.Round(win.Seconds()*100) / 100, Errors: map[string]int{}}
	var lags, wakes, backlogs []float64
	var sent int64
	for i, p := range pubs {
		lag, wake := lagIn[i], wakeIn[i]
		sent += sentIn[i]
		st1, live1 := s1[p.channel]
		st0 := s0[p.channel]
		var reasons []string
		switch p.phase.Load() {
		case phaseConnecting:
			r.Failed++
			reasons = append(reasons, "not publishing")
		case phaseEnded:
			if p.err != nil {
				r.Errors[errorClass(p.err)]++
			}
			r.Disconnected++
			reasons = append(reasons, "not publishing")
		default:
			r.Publishing++
			lags = append(lags, float64(lag)/1e6)
			wakes = append(wakes, float64(wake)/1e6)
			if lag > int64(cfg.Behind) {
				r.BehindSendLag++
				reasons = append(reasons, "send lag")
			}
			if live1 && st1.Publisher != "" {
				if port := portOfAddr(st1.Publisher); port != 0 {
					b := backlog[port]
					backlogs = append(backlogs, float64(b)/1024)
					if b > behindBytes {
						r.BehindBacklog++
						reasons = append(reasons, "read backlog")
					}
				}
			}
			if !live1 || !st1.Live {
				reasons = append(reasons, "stream not live on the server")
			}
			if d := (st1.Skips - st0.Skips) + (st1.Dropped - st0.Dropped); live1 && d > 0 {
				r.BehindSkips++
				reasons = append(reasons, "server skips")
			}
			if wake > int64(cfg.Behind)/2 {
				r.HarnessLimit = true
			}
		}
		if live1 {
			r.Skips += st1.Skips - st0.Skips
			r.Dropped += st1.Dropped - st0.Dropped
			if st1.Live {
				r.StreamsLive++
			}
		}
		if len(reasons) > 0 {
			r.Behind++
		}
	}
	r.SendLagMs, r.WakeLagMs, r.BacklogKB = spreadOf(lags), spreadOf(wakes), spreadOf(backlogs)
	if r.Publishing > 0 {
		r.PublishedKbps = math.Round(float64(sent) * 8 / win.Seconds() / 1e3 / float64(r.Publishing))
	}
	r.Healthy = r.Behind == 0
	r.HarnessCPUPercent = math.Round(u.HarnessCPUPercent*10) / 10
	r.MachineBusyPercent = math.Round(u.MachineBusyPercent*10) / 10
	r.OtherCPUPercent = math.Round(max(u.OtherCPUPercent, 0)*10) / 10
	if u.Server {
		r.ServerCPUPercent = ptr(u.ServerCPUPercent)
		r.ServerCPUPer100 = ptr(u.ServerCPUPercent / float64(len(pubs)) * 100)
		r.ServerRSSMB = ptr(float64(u.ServerRSSKB) / 1024)
		r.ServerThreads = u.ServerThreads
		r.ServerFaultsPerSec = ptr(math.Round(u.ServerFaultsPerSec))
		if idle != nil && idle.Server {
			r.ServerCPUPer100OverIdle = ptr((u.ServerCPUPercent - idle.ServerCPUPercent) / float64(len(pubs)) * 100)
			r.RSSPerPublisherKB = ptr(rssPerViewerKB(u.ServerRSSKB, idle.ServerRSSKB, len(pubs)))
		}
	}
	if len(r.Errors) == 0 {
		r.Errors = nil
	}
	return r, nil
}

// portOfAddr is the port of "127.0.0.1:54321", 0 if none.
func portOfAddr(a string) uint16 {
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return 0
	}
	p, err := strconv.ParseUint(a[i+1:], 10, 16)
	if err != nil {
		return 0
	}
	return uint16(p)
}

func (rep *pubReport) writeTable(w io.Writer) {
	fmt.Fprintf(w, "input    %s: %dx%d %.0f fps, %.0f kbit/s FLV, %.0f s loop\n", rep.Input.File, rep.Input.Width, rep.Input.Height, rep.Input.FPS, rep.Input.BitrateKbps, rep.Input.LoopSeconds)
	fmt.Fprintf(w, "channels %s; behind = over %s late or unread; load average at start %s; %d CPUs\n", rep.Channel, rep.Behind, rep.LoadAverage, runtime.NumCPU())
	if b := rep.Idle; b != nil {
		fmt.Fprintf(w, "idle     server %.1f %% CPU, %.1f MB RSS\n", b.ServerCPUPercent, b.ServerRSSMB)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "publishers\tpublishing\tbehind\tsend lag\tbacklog\tskips\tlag p50 ms\tlag max ms\tbacklog max KB\twake max ms\tkbit/s each\tsrv CPU%\t/100\t/100 net\tRSS MB\tKB/pub\tfaults/s\tharness CPU%\tothers CPU%\thealthy\t")
	opt := func(p *float64, f string) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf(f, *p)
	}
	sp := func(s *spread, pick func(*spread) float64) string {
		if s == nil {
			return "-"
		}
		return fmt.Sprintf("%.0f", pick(s))
	}
	for _, s := range rep.Steps {
		h := "no"
		switch {
		case s.Healthy && s.HarnessLimit:
			h = "harness-limited"
		case s.Healthy:
			h = "yes"
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t%s\t\n",
			s.Publishers, s.Publishing, s.Behind, s.BehindSendLag, s.BehindBacklog, s.BehindSkips,
			sp(s.SendLagMs, func(x *spread) float64 { return x.P50 }), sp(s.SendLagMs, func(x *spread) float64 { return x.Max }),
			sp(s.BacklogKB, func(x *spread) float64 { return x.Max }), sp(s.WakeLagMs, func(x *spread) float64 { return x.Max }),
			s.PublishedKbps, opt(s.ServerCPUPercent, "%.1f"), opt(s.ServerCPUPer100, "%.2f"), opt(s.ServerCPUPer100OverIdle, "%.2f"),
			opt(s.ServerRSSMB, "%.1f"), opt(s.RSSPerPublisherKB, "%.0f"), opt(s.ServerFaultsPerSec, "%.0f"), s.HarnessCPUPercent, s.OtherCPUPercent, h)
	}
	tw.Flush()
	for _, s := range rep.Steps {
		var notes []string
		for k, v := range s.Errors {
			notes = append(notes, fmt.Sprintf("%s ×%d", k, v))
		}
		if s.Failed+s.Disconnected > 0 {
			notes = append(notes, fmt.Sprintf("%d never published, %d disconnected", s.Failed, s.Disconnected))
		}
		if s.Skips+s.Dropped > 0 {
			notes = append(notes, fmt.Sprintf("server: %d keyframe skips, %d subscribers dropped", s.Skips, s.Dropped))
		}
		if s.HarnessLimit {
			notes = append(notes, "the harness woke up late for some tags (the machine is saturated): the verdict may be the harness's, not the server's")
		}
		if s.OtherCPUPercent > 20 {
			notes = append(notes, fmt.Sprintf("other processes used %.0f %% of a core during the window", s.OtherCPUPercent))
		}
		if len(notes) > 0 {
			slices.Sort(notes)
			fmt.Fprintf(w, "%d publishers: %s\n", s.Publishers, strings.Join(notes, "; "))
		}
	}
	fmt.Fprintf(w, "\nmost publishers with none behind real time: %d\n", rep.HighestHealthy)
	if rep.Error != "" {
		fmt.Fprintf(w, "error: %s\n", rep.Error)
	}
}
