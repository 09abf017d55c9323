package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"runtime"
	"sync"
	"time"
)

// usageWindow measures CPU and memory of the server, the harness and the
// machine over one window.
type usageWindow struct {
	pid               int
	server0, harness0 procSample
	machine0          systemCPU
	serverErr         error
	rssMaxKB          uint64
	stopSampler       func()
	server1, harness1 procSample
	machine1          systemCPU
}

func openUsage(pid int) *usageWindow {
	u := &usageWindow{pid: pid}
	if pid > 0 {
		u.server0, u.serverErr = readProc(pid)
		u.rssMaxKB = u.server0.RSSKB
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { // RSS peaks between the two ends
			defer close(done)
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if s, err := readProc(pid); err == nil {
						u.rssMaxKB = max(u.rssMaxKB, s.RSSKB)
					}
				}
			}
		}()
		u.stopSampler = func() { cancel(); <-done }
	}
	u.harness0, _ = readProc(0)
	u.machine0, _ = readSystemCPU()
	return u
}

func (u *usageWindow) close() usageResult {
	var r usageResult
	u.harness1, _ = readProc(0)
	u.machine1, _ = readSystemCPU()
	wall := u.harness1.At.Sub(u.harness0.At)
	r.HarnessCPUPercent = cpuPercent(u.harness1.CPU-u.harness0.CPU, wall)
	r.HarnessRSSMB = float64(u.harness1.RSSKB) / 1024
	if dt := u.machine1.Total - u.machine0.Total; dt > 0 {
		r.MachineBusyPercent = 100 * float64(u.machine1.Busy-u.machine0.Busy) / float64(dt)
	}
	// Everything else on the machine, in % of one core (over the same window).
	r.OtherCPUPercent = r.MachineBusyPercent*float64(runtime.NumCPU()) - r.HarnessCPUPercent
	if u.pid > 0 {
		u.stopSampler()
		u.server1, _ = readProc(u.pid)
		if u.serverErr == nil && u.server1.RSSKB > 0 {
			r.Server = true
			r.ServerCPUPercent = cpuPercent(u.server1.CPU-u.server0.CPU, u.server1.At.Sub(u.server0.At))
			r.ServerRSSKB = u.server1.RSSKB
			r.ServerRSSMaxKB = max(u.rssMaxKB, u.server1.RSSKB)
			r.ServerThreads = u.server1.Threads
			if dt := u.server1.At.Sub(u.server0.At).Seconds(); dt > 0 {
				r.ServerFaultsPerSec = float64(u.server1.MinFlt-u.server0.MinFlt) / dt
			}
			r.OtherCPUPercent -= r.ServerCPUPercent
		}
	}
	return r
}

// usageResult is what usageWindow measured.
type usageResult struct {
	Server             bool
	ServerCPUPercent   float64
	ServerRSSKB        uint64
	ServerRSSMaxKB     uint64
	ServerThreads      int
	ServerFaultsPerSec float64 // minor page faults a second
	HarnessCPUPercent  float64
	HarnessRSSMB       float64
	MachineBusyPercent float64 // of all cores
	OtherCPUPercent    float64 // other processes, % of one core
}

// stepEnv is what every step of a run shares.
type stepEnv struct {
	cfg      *config
	play     *url.URL
	pub      *publisher
	pid      int
	api      string // for /metrics, "" if unknown
	log      io.Writer
	baseline *usageResult
	pubDone  *pubState
}

// pubState reports the end of the publisher to the waits of a step.
type pubState struct {
	done chan struct{}
	err  error
}

// runStep ramps n viewers, waits for them to play, warms up, measures for
// the window, then disconnects them all.
func runStep(ctx context.Context, env *stepEnv, n int) (*stepResult, error) {
	cfg := env.cfg
	win := &window{}
	win.end.Store(math.MaxInt64)
	vc := &viewerConfig{URL: env.play, ReadBuffer: cfg.ReadBuffer, ConnectTimeout: cfg.ConnectTimeout, Log: env.pub.Log, Window: win, LazyInterval: cfg.LazyInterval}
	vctx, stopViewers := context.WithCancel(ctx)
	viewers := make([]*viewer, n)
	var wg sync.WaitGroup
	defer func() { stopViewers(); wg.Wait() }()

	fmt.Fprintf(env.log, "loadtest: step %d viewers: ramp at %.0f/s\n", n, cfg.Ramp)
	rampStart := time.Now()
	interval := time.Duration(float64(time.Second) / cfg.Ramp)
	for i := range viewers {
		if d := time.Until(rampStart.Add(time.Duration(i) * interval)); d > 0 {
			if err := sleep(ctx, env.pubDone, d); err != nil {
				return nil, err
			}
		}
		v := &viewer{precise: isPrecise(i, n, cfg.DelaySample)}
		viewers[i] = v
		wg.Go(func() { v.run(vctx, vc) })
	}
	// Everyone playing (or failed), bounded by the connect timeout.
	deadline := time.Now().Add(cfg.ConnectTimeout)
	for {
		connecting := 0
		for _, v := range viewers {
			if v.phase.Load() == phaseConnecting {
				connecting++
			}
		}
		if connecting == 0 || time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, env.pubDone, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(env.log, "loadtest: step %d viewers: ramped in %s, warm-up %s, window %s\n",
		n, time.Since(rampStart).Round(100*time.Millisecond), cfg.Warmup, cfg.Duration)
	if err := sleep(ctx, env.pubDone, cfg.Warmup); err != nil {
		return nil, err
	}

	c0, cerr := counters(ctx, env.api)
	usage := openUsage(env.pid)
	pub0, late0 := env.pub.bytes.Load(), env.pub.late.Load()
	ws := nanotime()
	win.start.Store(ws)
	err := sleep(ctx, env.pubDone, cfg.Duration)
	we := nanotime()
	win.end.Store(we)
	pubBytes := env.pub.bytes.Load() - pub0
	u := usage.close()
	if err != nil {
		return nil, err
	}
	c1, cerr1 := counters(ctx, env.api)
	stopViewers()
	wg.Wait()

	r := summarize(viewers, time.Duration(we-ws), pubBytes, ws, we)
	r.addUsage(u, env.baseline)
	r.PublisherLate = env.pub.late.Load() - late0
	if cerr == nil && cerr1 == nil && env.api != "" {
		r.ServerCounters = &serverCounters{
			Skips: c1.Skips - c0.Skips, Dropped: c1.Dropped - c0.Dropped,
			TooSlow: c1.TooSlow - c0.TooSlow, WriteErrors: c1.WriteErrors - c0.WriteErrors,
			FLVViewers: c1.FLVViewers,
		}
	}
	return r, nil
}

// isPrecise spreads at most k precise (delay-sampling) viewers evenly over n.
func isPrecise(i, n, k int) bool {
	if k <= 0 || k >= n {
		return true
	}
	every := (n + k - 1) / k
	return i%every == 0
}

// measureBaseline measures the server with the publisher alone.
func measureBaseline(ctx context.Context, env *stepEnv, d time.Duration) (*usageResult, error) {
	fmt.Fprintf(env.log, "loadtest: baseline: publisher alone for %s\n", d)
	u := openUsage(env.pid)
	err := sleep(ctx, env.pubDone, d)
	r := u.close()
	return &r, err
}

func counters(ctx context.Context, api string) (serverCounters, error) {
	if api == "" {
		return serverCounters{}, nil
	}
	return scrapeCounters(ctx, api)
}

// sleep waits d, returning early with an error if ctx ends or the
// publisher fails.
func sleep(ctx context.Context, pub *pubState, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-pub.done:
		if pub.err != nil {
			return pub.err
		}
		return errors.New("publisher stopped")
	case <-t.C:
		return nil
	}
}
