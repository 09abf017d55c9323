// Command standalone runs all of livestack in one process: RTMP/RTMPS ingest,
// the stream hub, HTTP playback, relays, the REST API and the embedded store,
// with local storage under the data directory. It is the default way to run
// livestack; `make run` starts it with a demo channel.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/livestack/livestack/shared/gateway"
)

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "standalone:", err)
		os.Exit(2)
	}
	gateway.TuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "standalone:", err)
		os.Exit(1)
	}
}
