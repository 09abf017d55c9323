// Command loadtest measures livestack's HTTP-FLV fan-out: it publishes a real
// H.264/AAC stream over RTMP at real-time pace, plays it with N HTTP-FLV
// viewers that parse every tag, and reports delay, time to first keyframe,
// goodput, stalls, disconnects and the server's CPU and memory. Run
// `go run ./scripts/loadtest -h` for the flags; scripts/loadtest.sh builds
// the standalone server and runs it under the harness.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"
)

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(2)
	}
	logrus.SetLevel(logrus.WarnLevel) // go-rtmp logs every chunk size change at info
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}
