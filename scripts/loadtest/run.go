package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/pprof"
	"strings"
	"time"
)

// run does the whole measurement: input, server, publisher, baseline, steps,
// report. It returns an error when the run could not measure, and also when
// it measured but a step failed to finish (the report is printed first).
func run(ctx context.Context, cfg config, stdout, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.bound())
	defer cancel()

	if cfg.MakeInput || cfg.inputDefault {
		if err := makeInput(ctx, cfg.preset(), cfg.Input, cfg.InputSeconds, log); err != nil {
			return err
		}
	}
	if cfg.MakeInput {
		fmt.Fprintln(stdout, cfg.Input)
		return nil
	}
	in, err := loadInput(cfg.Input)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "loadtest: input %s\n", in)
	switch cfg.Mode {
	case modeLatency:
		return runLatency(ctx, &cfg, in, stdout, log)
	case modePublishers:
		return runPublishers(ctx, &cfg, in, stdout, log)
	}

	env := &stepEnv{cfg: &cfg, log: log, pid: cfg.ServerPID}
	var push, play string
	var srv *server
	switch {
	case cfg.ServerBin != "":
		srv, err = startServer(ctx, cfg.ServerBin, cfg.ServerArgs, cfg.MergeWindow, cfg.ServerLog, log)
		if err != nil {
			return err
		}
		defer func() {
			fmt.Fprintf(log, "loadtest: stopping the server\n")
			srv.Stop()
		}()
		env.pid, env.api = srv.PID(), srv.API
		// The server's own flag sets the merge window; the channel keeps the default.
		urls, err := (&apiClient{Base: srv.API, Token: srv.Token}).ensureChannel(ctx, cfg.Channel, -1, log)
		if err != nil {
			return err
		}
		push, play = urls.Push, urls.Play.FLV
	case cfg.API != "":
		u, _ := loopbackURL(cfg.API)
		env.api = strings.TrimRight(u.String(), "/")
		urls, err := (&apiClient{Base: env.api, Token: cfg.Token}).ensureChannel(ctx, cfg.Channel, cfg.MergeWindow, log)
		if err != nil {
			return err
		}
		push, play = urls.Push, urls.Play.FLV
	default:
		push, play = cfg.Push, cfg.Play
	}
	pushURL, err := loopbackURL(push)
	if err != nil {
		return fmt.Errorf("push URL: %w", err)
	}
	if env.play, err = loopbackURL(play); err != nil {
		return fmt.Errorf("play URL: %w", err)
	}
	if env.pid > 0 {
		if _, err := readProc(env.pid); err != nil {
			return fmt.Errorf("server process %d: %w", env.pid, err)
		}
	}

	pub := &publisher{URL: pushURL.String(), Input: in, Log: &sendLog{}}
	env.pub = pub
	env.pubDone = &pubState{done: make(chan struct{})}
	pctx, stopPub := context.WithCancel(ctx)
	go func() {
		env.pubDone.err = pub.Run(pctx)
		close(env.pubDone.done)
	}()
	defer func() { stopPub(); <-env.pubDone.done }()
	fmt.Fprintf(log, "loadtest: publishing to %s\n", redact(pushURL.String()))
	if err := sleep(ctx, env.pubDone, cfg.PubWarmup); err != nil {
		return fmt.Errorf("publish: %w", err)
	}

	rep := &report{
		Command: strings.Join(os.Args, " "),
		Input: inputInfo{File: in.Path, Width: in.Width, Height: in.Height, FPS: math.Round(in.FPS()*100) / 100,
			BitrateKbps: math.Round(in.Bitrate() / 1e3), LoopSeconds: float64(in.Period) / 1000},
		MergeWindow: "server default",
	}
	if cfg.MergeWindow >= 0 {
		rep.MergeWindow = cfg.MergeWindow.String()
	}
	if cfg.Baseline > 0 {
		b, err := measureBaseline(ctx, env, cfg.Baseline)
		if err != nil {
			return err
		}
		env.baseline = b
		if b.Server {
			rep.Baseline = &baselineInfo{ServerCPUPercent: math.Round(b.ServerCPUPercent*10) / 10,
				ServerRSSMB:       math.Round(float64(b.ServerRSSKB)/1024*10) / 10,
				HarnessCPUPercent: math.Round(b.HarnessCPUPercent*10) / 10}
		}
	}
	if cfg.TTFKProbes > 0 {
		l, err := probeFirstKeyframe(ctx, env, cfg.TTFKProbes)
		if err != nil {
			return err
		}
		rep.QuietFirstKeyframe = &l
		fmt.Fprintf(log, "loadtest: first keyframe, one viewer at a time: p50 %.2f ms p99 %.2f ms\n", l.P50, l.P99)
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
	var stepErr error
	for i, n := range cfg.steps() {
		if i > 0 {
			if stepErr = sleep(ctx, env.pubDone, cfg.Cooldown); stepErr != nil {
				break
			}
		}
		r, err := runStep(ctx, env, n)
		if err != nil {
			stepErr = fmt.Errorf("step %d viewers: %w", n, err)
			break
		}
		rep.Steps = append(rep.Steps, r)
		fmt.Fprintf(log, "loadtest: step %d viewers: p50 %.1f ms p99 %.1f ms, goodput min %.1f %%, healthy %d/%d\n",
			n, r.Delay.P50, r.Delay.P99, r.GoodputMin, r.Healthy, r.Viewers)
		if !r.StepHealthy && !cfg.KeepGoing && i < len(cfg.steps())-1 {
			fmt.Fprintf(log, "loadtest: step %d viewers is unhealthy; stopping the sweep (-keep-going runs the rest)\n", n)
			break
		}
	}
	rep.HighestHealthy = highestHealthy(rep.Steps)
	rep.Publisher = publisherInfo{Frames: pub.frames.Load(), LateFrames: pub.late.Load()}
	if srv != nil && stepErr != nil {
		select {
		case <-srv.Exited():
			stepErr = fmt.Errorf("%w; the server exited (%v), its log ends:\n%s", stepErr, srv.waitErr, tail(srv.logPath, 20))
		default:
		}
	}
	if errors.Is(stepErr, context.DeadlineExceeded) {
		stepErr = fmt.Errorf("the run exceeded its bound of %s: %w", cfg.bound(), stepErr)
	}
	if stepErr != nil {
		rep.Error = stepErr.Error()
	}
	if cfg.JSON {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		writeTable(stdout, rep)
	}
	return stepErr
}

// probeFirstKeyframe opens one viewer at a time on the otherwise idle
// server and measures request start to first keyframe.
func probeFirstKeyframe(ctx context.Context, env *stepEnv, n int) (latency, error) {
	win := &window{}
	win.end.Store(math.MaxInt64)
	vc := &viewerConfig{URL: env.play, ReadBuffer: env.cfg.ReadBuffer, ConnectTimeout: env.cfg.ConnectTimeout, Log: env.pub.Log, Window: win}
	var h histogram
	for i := range n {
		v := &viewer{precise: true}
		vctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { v.run(vctx, vc); close(done) }()
		deadline := time.Now().Add(env.cfg.ConnectTimeout)
		for v.phase.Load() == phaseConnecting && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		cancel()
		<-done
		if v.firstKey == 0 {
			if v.err == nil {
				v.err = errors.New("no keyframe in time")
			}
			return latency{}, fmt.Errorf("first keyframe probe %d: %w", i+1, v.err)
		}
		h.Record(time.Duration(v.firstKey - v.start))
		if err := sleep(ctx, env.pubDone, 50*time.Millisecond); err != nil {
			return latency{}, err
		}
	}
	return latencyOf(&h), nil
}

// redact hides the signature of a push URL in logs.
func redact(u string) string {
	if i := strings.Index(u, "sign="); i >= 0 {
		return u[:i] + "sign=…"
	}
	return u
}
