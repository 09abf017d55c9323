package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// config is every setting of the harness; each has a flag.
type config struct {
	// Mode is what the run measures: "viewers" (HTTP-FLV fan-out),
	// "latency" (publish to HLS and LL-HLS availability) or "publishers"
	// (many publishers at once).
	Mode string

	Viewers        int
	Sweep          []int
	KeepGoing      bool
	Duration       time.Duration
	Warmup         time.Duration
	Ramp           float64
	Cooldown       time.Duration
	Baseline       time.Duration
	PubWarmup      time.Duration
	ConnectTimeout time.Duration
	ReadBuffer     int
	TTFKProbes     int
	DelaySample    int
	LazyInterval   time.Duration

	Input        string
	InputSeconds int
	MakeInput    bool

	ServerBin   string
	ServerArgs  []string
	ServerLog   string
	MergeWindow time.Duration // < 0: the server's default
	ServerPID   int
	API         string
	Token       string
	Channel     string
	Push, Play  string

	JSON       bool
	CPUProfile string

	// latency mode
	Runs    int           // publishes measured, each on a fresh channel
	EdgeFor time.Duration // live-edge sampling per run
	Poll    time.Duration // playlist polling interval
	HLSTime int           // hlsSegmentSeconds of the channels the harness creates

	// publishers mode
	Publishers int
	Record     []string      // recording of the channels: "mp4", "hlsvod"
	VideoTime  int           // mp4SegmentSeconds of the channels (0: the server's default)
	Behind     time.Duration // a publisher this far behind real time is behind
	CMAF       bool          // CMAF/LL-HLS on the publishers' channels too
	HLS        bool          // MPEG-TS HLS on the publishers' channels (default on)

	inputDefault bool // Input is the generated default of the mode
}

// Modes of the harness.
const (
	modeViewers    = "viewers"
	modeLatency    = "latency"
	modePublishers = "publishers"
)

// preset is the generated input of the mode.
func (c *config) preset() inputPreset {
	if c.Mode == modePublishers {
		return cameraInput
	}
	return viewerInput
}

const usage = `loadtest measures livestack on this machine, in one of three modes.

-mode viewers (the default): HTTP-FLV fan-out.

It publishes a real H.264/AAC FLV (720p30 CBR 2.5 Mbit/s + AAC 128 kbit/s,
made once with ffmpeg) over RTMP at real-time pace, opens N HTTP-FLV viewers
that parse every tag, and reports per step: publisher-to-viewer delay of
video frames (p50/p90/p99/max), time to first keyframe, goodput per viewer
as a share of the published FLV bitrate, stalls (over 1 s without a tag),
disconnects, and the server's CPU (% of one core, per 100 viewers) and RSS
(per viewer, against the same server with 0 viewers). A step is healthy when
every viewer stays connected with goodput >= 95 % and p99 delay < 1 s.

Targets loopback only. Every run is bounded and stops the server it started.

Usage:
  scripts/loadtest.sh [flags]          builds standalone and runs with -server-bin
  go run ./scripts/loadtest -server-bin BIN [flags]
  go run ./scripts/loadtest -api http://127.0.0.1:8080 -token T -server-pid PID [flags]
  go run ./scripts/loadtest -push rtmp://... -play http://.../live.flv [flags]

Examples:
  scripts/loadtest.sh -viewers 100 -duration 20s
  scripts/loadtest.sh -viewers 100 -merge-window 0
  scripts/loadtest.sh -sweep 500,1000,2000,3000,4000,5000 -json > sweep.json

-mode latency: publish -> first HLS playlist, publish -> first LL-HLS part
and the LL-HLS live-edge delay of a player holding back PART-HOLD-BACK,
over -runs publishes (each on a new channel), with p50/p95.

-mode publishers: N publishers at about 1 Mbit/s each (720p30 H.264 CBR
900 kbit/s + AAC 96 kbit/s, made once with ffmpeg) on channels with FLV and
HLS on (-record mp4 adds recording), ramped in steps (-sweep) or at once
(-publishers). Reports server CPU per 100 publishers and the most
publishers held with none behind real time (see -behind). Each publisher
connects on its own; then GOMAXPROCS scheduler goroutines send for all of
them: every 5 ms, each due publisher's video frame and the audio due by then
go out pre-chunked in one write (a full socket is waited for at most 1 ms,
then that publisher drains on its own goroutine, counted as lag).

The harness shares the machine with the server: its own CPU is reported too
(GOMAXPROCS limits it).

Examples:
  scripts/loadtest.sh -mode latency -runs 20
  scripts/loadtest.sh -mode publishers -publishers 50 -duration 20s
  scripts/loadtest.sh -mode publishers -sweep 200,400,600,800,1000,1200,1400 -duration 20s -json
  scripts/loadtest.sh -mode publishers -record mp4 -sweep 200,400,600,800,1000,1200 -json

Flags:
`

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	var sweep, serverArgs, merge, record string
	fs.StringVar(&c.Mode, "mode", modeViewers, "viewers, latency or publishers")
	fs.IntVar(&c.Viewers, "viewers", 100, "viewers of a single run")
	fs.StringVar(&sweep, "sweep", "", "comma-separated viewer counts to run in turn (e.g. 500,1000,2000); reports the highest healthy one")
	fs.BoolVar(&c.KeepGoing, "keep-going", false, "in a sweep, run the remaining steps after an unhealthy one")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "measurement window of each step")
	fs.DurationVar(&c.Warmup, "warmup", 5*time.Second, "wait after the last viewer plays, before the window opens")
	fs.Float64Var(&c.Ramp, "ramp", 200, "viewers started per second")
	fs.DurationVar(&c.Cooldown, "cooldown", 3*time.Second, "pause between sweep steps")
	fs.DurationVar(&c.Baseline, "baseline", 5*time.Second, "window with the publisher alone (server CPU and RSS at 0 viewers); 0 skips it")
	fs.DurationVar(&c.PubWarmup, "publish-warmup", 3*time.Second, "wait after publishing starts, so the GOP cache holds a keyframe")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 10*time.Second, "bound on a viewer's connect and response header, and on everyone playing after the ramp")
	fs.IntVar(&c.ReadBuffer, "read-buffer", 64<<10, "read buffer per viewer, bytes")
	fs.IntVar(&c.DelaySample, "delay-sample", 0, "0: every viewer reads at once and times every video frame, like a player. K > 0: only K viewers (spread evenly) do; the rest read every -lazy-interval and count goodput, stalls and the lag of the newest frame per read. That saves about a third of the harness's CPU (the rest is the kernel copy), but those sockets no longer wake a reader on every server write, which flatters the server: use it only to see whether the harness is the limit")
	fs.DurationVar(&c.LazyInterval, "lazy-interval", 100*time.Millisecond, "read pacing of the viewers outside -delay-sample")
	fs.IntVar(&c.TTFKProbes, "ttfk-probes", 20, "before the steps, viewers opened one at a time to time the first keyframe on a quiet server")

	fs.StringVar(&c.Input, "input", "", "FLV to publish (default: generated once into the user cache dir)")
	fs.IntVar(&c.InputSeconds, "input-seconds", 30, "length of the generated input, 30-60 s")
	fs.BoolVar(&c.MakeInput, "make-input", false, "only generate the input (if missing) and print its path")

	fs.StringVar(&c.ServerBin, "server-bin", "", "start this standalone binary on free loopback ports with a temporary data dir and token, and stop it at the end")
	fs.StringVar(&serverArgs, "server-args", "", "extra space-separated flags for -server-bin (e.g. \"--debug-addr 127.0.0.1:6060\")")
	fs.StringVar(&c.ServerLog, "server-log", "", "keep the -server-bin log in this file (default: a temporary file, shown on failure)")
	fs.StringVar(&merge, "merge-window", "", "viewer write batching, e.g. 0 or 20ms: passed as --merge-window to -server-bin, or set on the channel created with -api (default: the server's)")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "sample this process's CPU and RSS (implied by -server-bin)")
	fs.StringVar(&c.API, "api", "", "base URL of a running server (http://127.0.0.1:PORT): create the channel and get its URLs")
	fs.StringVar(&c.Token, "token", getenv("LIVESTACK_ADMIN_TOKEN"), "admin token for -api (env LIVESTACK_ADMIN_TOKEN)")
	fs.StringVar(&c.Channel, "channel", "load", "channel id to create and publish")
	fs.StringVar(&c.Push, "push", "", "signed RTMP push URL (instead of -api)")
	fs.StringVar(&c.Play, "play", "", "HTTP-FLV play URL (instead of -api)")

	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the harness's own CPU profile of the steps to this file")
	fs.BoolVar(&c.JSON, "json", false, "print the report as JSON on stdout (progress goes to stderr either way)")

	fs.IntVar(&c.Runs, "runs", 10, "latency: publishes to measure, each on a new channel")
	fs.DurationVar(&c.EdgeFor, "edge-for", 10*time.Second, "latency: how long each run samples the LL-HLS live edge")
	fs.DurationVar(&c.Poll, "poll", 10*time.Millisecond, "latency: interval of playlist polls (and the resolution of the first-playlist times)")
	fs.IntVar(&c.HLSTime, "hls-time", 2, "latency, publishers: hlsSegmentSeconds of the channels created")
	fs.IntVar(&c.Publishers, "publishers", 50, "publishers: publishers of a single run")
	fs.StringVar(&record, "record", "", "publishers: recording on the channels, comma-separated: mp4, hlsvod")
	fs.IntVar(&c.VideoTime, "video-time", 0, "publishers: length of the recorded MP4 files, seconds (recording.mp4SegmentSeconds; 0: the server's default of 60)")
	fs.DurationVar(&c.Behind, "behind", time.Second, "publishers: a publisher is behind real time when its send lag, or the media the server has not read yet from its connection, exceeds this")
	fs.BoolVar(&c.CMAF, "cmaf", false, "publishers: CMAF (LL-HLS) on the channels too")
	fs.BoolVar(&c.HLS, "hls", true, "publishers: MPEG-TS HLS on the channels (-hls=false: FLV only, to split the cost)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if c.Sweep, err = parseSweep(sweep); err != nil {
		return c, err
	}
	c.ServerArgs = strings.Fields(serverArgs)
	for r := range strings.SplitSeq(record, ",") {
		switch r = strings.TrimSpace(r); r {
		case "":
		case "mp4", "hlsvod":
			c.Record = append(c.Record, r)
		default:
			return c, fmt.Errorf("-record: %q is not mp4 or hlsvod", r)
		}
	}
	c.MergeWindow = -1
	if merge != "" {
		if c.MergeWindow, err = time.ParseDuration(merge); err != nil || c.MergeWindow < 0 || c.MergeWindow > time.Second {
			return c, fmt.Errorf("-merge-window: want 0-1s, got %q", merge)
		}
	}
	if c.Input == "" {
		c.Input = defaultInputPath(c.preset(), c.InputSeconds)
		c.inputDefault = true
	}
	return c, c.validate()
}

func (c *config) validate() error {
	var errs []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	check(c.Viewers >= 0 && c.Viewers <= maxViewers, "-viewers: want 0-%d", maxViewers)
	check(c.Duration >= time.Second && c.Duration <= 10*time.Minute, "-duration: want 1s-10m")
	check(c.Warmup >= 0 && c.Warmup <= 10*time.Minute, "-warmup: want 0-10m") // a recorded fleet's heap settles in about 100 s
	check(c.Ramp > 0 && c.Ramp <= 10000, "-ramp: want 1-10000 viewers/s")
	check(c.Cooldown >= 0 && c.Cooldown <= time.Minute, "-cooldown: want 0-1m")
	check(c.Baseline >= 0 && c.Baseline <= time.Minute, "-baseline: want 0-1m")
	check(c.PubWarmup >= 0 && c.PubWarmup <= time.Minute, "-publish-warmup: want 0-1m")
	check(c.ConnectTimeout >= time.Second && c.ConnectTimeout <= time.Minute, "-connect-timeout: want 1s-1m")
	check(c.TTFKProbes >= 0 && c.TTFKProbes <= 1000, "-ttfk-probes: want 0-1000")
	check(c.DelaySample >= 0, "-delay-sample: want 0 or more")
	check(c.LazyInterval >= 0 && c.LazyInterval <= 500*time.Millisecond, "-lazy-interval: want 0-500ms")
	check(c.ReadBuffer >= 4<<10 && c.ReadBuffer <= 16<<20, "-read-buffer: want 4 KiB-16 MiB")
	check(c.InputSeconds >= 30 && c.InputSeconds <= 60, "-input-seconds: want 30-60")
	check(c.ServerPID >= 0, "-server-pid: want a process id")
	check(c.Mode == modeViewers || c.Mode == modeLatency || c.Mode == modePublishers, "-mode: want viewers, latency or publishers, got %q", c.Mode)
	check(c.Runs >= 1 && c.Runs <= 1000, "-runs: want 1-1000")
	check(c.EdgeFor >= time.Second && c.EdgeFor <= 5*time.Minute, "-edge-for: want 1s-5m")
	check(c.Poll >= time.Millisecond && c.Poll <= time.Second, "-poll: want 1ms-1s")
	check(c.HLSTime >= 1 && c.HLSTime <= 30, "-hls-time: want 1-30")
	check(c.Publishers >= 1 && c.Publishers <= maxPublishers, "-publishers: want 1-%d", maxPublishers)
	check(c.Behind >= 100*time.Millisecond && c.Behind <= time.Minute, "-behind: want 100ms-1m")
	check(len(c.Record) == 0 || c.Mode == modePublishers, "-record is for -mode publishers")
	check(c.VideoTime >= 0 && c.VideoTime <= 3600, "-video-time: want 0-3600")
	check(!c.CMAF || c.Mode == modePublishers, "-cmaf is for -mode publishers")
	check(c.HLS || c.Mode == modePublishers, "-hls is for -mode publishers")
	if c.MakeInput {
		return errors.Join(errs...)
	}
	n := 0
	for _, set := range []bool{c.ServerBin != "", c.API != "", c.Push != "" || c.Play != ""} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		errs = append(errs, errNoTarget)
	case n > 1:
		errs = append(errs, errors.New("give only one of -server-bin, -api, -push/-play"))
	case c.Push != "" || c.Play != "":
		check(c.Push != "" && c.Play != "", "-push and -play go together")
		check(c.Mode == modeViewers, "-mode %s creates its channels: give -server-bin or -api", c.Mode)
	case c.API != "":
		check(c.Token != "", "-api needs -token or LIVESTACK_ADMIN_TOKEN")
	}
	for _, u := range []string{c.API, c.Push, c.Play} {
		if u != "" {
			if _, err := loopbackURL(u); err != nil {
				errs = append(errs, err)
			}
		}
	}
	check(c.ServerBin == "" || c.ServerPID == 0, "-server-pid comes from -server-bin; give one of them")
	check(c.ServerBin != "" || len(c.ServerArgs) == 0, "-server-args needs -server-bin")
	return errors.Join(errs...)
}

const (
	maxViewers    = 20000
	maxPublishers = 10000
)

// parseSweep reads "500,1000,2000": increasing viewer counts.
func parseSweep(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > maxViewers {
			return nil, fmt.Errorf("-sweep: %q is not a viewer count 1-%d", f, maxViewers)
		}
		if len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("-sweep: counts must increase (%d after %d)", n, out[len(out)-1])
		}
		out = append(out, n)
	}
	return out, nil
}

// steps are the viewer (or publisher) counts to run.
func (c *config) steps() []int {
	if len(c.Sweep) > 0 {
		return c.Sweep
	}
	if c.Mode == modePublishers {
		return []int{c.Publishers}
	}
	return []int{c.Viewers}
}

// bound is the longest the whole run may take; past it the harness stops.
func (c *config) bound() time.Duration {
	switch c.Mode {
	case modeLatency:
		// Per run: first playlist and part (30 s at most each), the edge, the stop.
		return 2*time.Minute + time.Duration(c.Runs)*(time.Minute+c.EdgeFor+15*time.Second)
	case modePublishers:
		d := 2*time.Minute + c.Baseline
		for _, n := range c.steps() {
			// channel creation (about 10 ms each), the ramp, connects, the window
			d += time.Duration(n)*50*time.Millisecond + time.Duration(float64(n)/c.Ramp*float64(time.Second)) +
				c.ConnectTimeout + c.Warmup + c.Duration + c.Cooldown + 30*time.Second
		}
		return d
	}
	d := time.Minute + c.PubWarmup + c.Baseline // server start and stop, input
	d += time.Duration(c.TTFKProbes) * (c.ConnectTimeout + 100*time.Millisecond)
	for _, n := range c.steps() {
		d += time.Duration(float64(n)/c.Ramp*float64(time.Second)) + c.ConnectTimeout + c.Warmup + c.Duration + c.Cooldown + 15*time.Second
	}
	return d
}
