// Command loadtest measures livestack's HTTP-FLV fan-out on one machine: it
// publishes a real H.264/AAC FLV at real-time pace over RTMP, opens N HTTP-FLV
// viewers that parse every tag, and reports goodput, publisher-to-viewer delay of
// video frames (p50/p99), stalls, time to first keyframe, and the server's CPU and
// RSS read from /proc. It can start the server itself (-server-bin) on free
// loopback ports. Every run is bounded in time and talks to 127.0.0.1 only.
//
//	go run ./scripts/loadtest -server-bin bin/standalone -sweep 100,500,1000 -duration 20s
//
// See docs/performance.md for the figures and the exact commands.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	input       string
	serverBin   string
	mergeWindow string
	serverArgs  string
	push, play  string
	serverPID   int
	sweep       []int
	duration    time.Duration
	warmup      time.Duration
	ramp        int
	ttfkProbes  int
	jsonOut     bool
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.StringVar(&o.input, "input", "", "FLV file to publish (H.264/AAC); default: generated once with ffmpeg into the user cache dir (720p30, 2.5 Mbit/s CBR + AAC 128k, keyframe every 2 s)")
	fs.StringVar(&o.serverBin, "server-bin", "", "standalone binary to start on free 127.0.0.1 ports (else give -push, -play and -server-pid)")
	fs.StringVar(&o.mergeWindow, "merge-window", "", "passed to the started server as --merge-window")
	fs.StringVar(&o.serverArgs, "server-args", "", "extra flags for the started server, space separated")
	fs.StringVar(&o.push, "push", "", "signed push URL of an already running server")
	fs.StringVar(&o.play, "play", "", "HTTP-FLV URL of an already running server")
	fs.IntVar(&o.serverPID, "server-pid", 0, "pid of an already running server, for CPU and RSS")
	sweep := fs.String("sweep", "100", "viewer counts to measure, comma separated, in order")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "measurement window per step")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "settling time after the viewers of a step are connected")
	fs.IntVar(&o.ramp, "ramp", 500, "viewers opened per second")
	fs.IntVar(&o.ttfkProbes, "ttfk-probes", 20, "sequential single-viewer connects measuring time to first keyframe before the sweep")
	fs.BoolVar(&o.jsonOut, "json", false, "print the results as JSON")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, f := range strings.Split(*sweep, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-sweep: %q is not a viewer count", f)
		}
		o.sweep = append(o.sweep, n)
	}
	if o.serverBin == "" && (o.push == "" || o.play == "") {
		return o, fmt.Errorf("give -server-bin, or -push and -play (and -server-pid)")
	}
	for _, u := range []string{o.push, o.play} {
		if u != "" && !loopbackURL(u) {
			return o, fmt.Errorf("%s: the harness only targets 127.0.0.1/localhost", u)
		}
	}
	return o, nil
}

func loopbackURL(u string) bool {
	for _, p := range []string{"rtmp://127.", "http://127.", "rtmp://localhost", "http://localhost", "rtmp://[::1]", "http://[::1]"} {
		if strings.HasPrefix(u, p) {
			return true
		}
	}
	return false
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Bounded: the whole run may not exceed its steps plus a margin.
	budget := time.Duration(len(o.sweep))*(o.duration+o.warmup+30*time.Second) + 2*time.Minute
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	res, err := run(ctx, o, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
		return
	}
	printTable(os.Stdout, res)
}
