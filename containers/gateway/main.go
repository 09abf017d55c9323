// Command gateway is the media gateway of the AWS deployment: RTMP/RTMPS ingest,
// the stream hub, HTTP-FLV playback for edges, relays, /healthz and /metrics.
// Publishes are authorized by the ingestauth function over the HTTP callback
// contract (docs/ingest-callback.md); the gateway itself holds no channel data.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/livestack/livestack/shared/gateway"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/media/cmaf"
	"github.com/livestack/livestack/shared/media/hls"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/metrics"
	"github.com/livestack/livestack/shared/rtmpserver"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envDur(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

func run(args []string) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	rtmpAddr := fs.String("rtmp-addr", env("LIVESTACK_RTMP_ADDR", ":1935"), "RTMP listen address (env LIVESTACK_RTMP_ADDR)")
	rtmpsAddr := fs.String("rtmps-addr", env("LIVESTACK_RTMPS_ADDR", ":1936"), "RTMPS listen address (env LIVESTACK_RTMPS_ADDR)")
	httpAddr := fs.String("http-addr", env("LIVESTACK_HTTP_ADDR", ":8080"), "HTTP listen address (env LIVESTACK_HTTP_ADDR)")
	cert := fs.String("tls-cert", env("LIVESTACK_TLS_CERT", ""), "PEM certificate for RTMPS (env LIVESTACK_TLS_CERT)")
	key := fs.String("tls-key", env("LIVESTACK_TLS_KEY", ""), "PEM key for RTMPS (env LIVESTACK_TLS_KEY)")
	callback := fs.String("ingest-callback-url", env("LIVESTACK_INGEST_CALLBACK_URL", os.Getenv("LIVESTACK_INGESTAUTH_URL")), "publish authorization endpoint (env LIVESTACK_INGEST_CALLBACK_URL, or LIVESTACK_INGESTAUTH_URL as the Terraform task definition sets it)")
	advertise := fs.String("advertise", env("LIVESTACK_ADVERTISE_ADDR", ""), "address edges reach this gateway's HTTP on, recorded on sessions (env LIVESTACK_ADVERTISE_ADDR)")
	region := fs.String("region", env("AWS_REGION", ""), "region recorded on sessions (env AWS_REGION)")
	merge := fs.Duration("merge-window", envDur("LIVESTACK_MERGE_WINDOW", 70*time.Millisecond), "media batched per viewer write (env LIVESTACK_MERGE_WINDOW)")
	reconnect := fs.Duration("reconnect-window", envDur("LIVESTACK_RECONNECT_WINDOW", 10*time.Second), "how long viewers wait for a dropped publisher (env LIVESTACK_RECONNECT_WINDOW)")
	cmafMode := fs.String("cmaf-mode", env("LIVESTACK_CMAF_MODE", "ll"), "ll (LL-HLS: parts, blocking reload; the CDN must key on _HLS_msn/_HLS_part) or cdn (whole segments only); see docs/hls.md (env LIVESTACK_CMAF_MODE)")
	partDur := fs.Duration("hls-part-duration", envDur("LIVESTACK_HLS_PART_DURATION", 200*time.Millisecond), "LL-HLS part target (env LIVESTACK_HLS_PART_DURATION)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cmafMode != "ll" && *cmafMode != "cdn" {
		return fmt.Errorf("-cmaf-mode: must be ll or cdn, got %q", *cmafMode)
	}
	secret := os.Getenv("LIVESTACK_INGEST_CALLBACK_SECRET")
	if *callback == "" || len(secret) < 16 {
		return fmt.Errorf("LIVESTACK_INGEST_CALLBACK_URL and LIVESTACK_INGEST_CALLBACK_SECRET (≥ 16 characters) are required")
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	packagers := hls.NewManager(hls.ManagerConfig{
		CMAF:   cmaf.Config{CDN: *cmafMode == "cdn", PartDuration: *partDur},
		Logger: log,
	})
	gw, err := gateway.New(gateway.Config{
		RTMPAddr: *rtmpAddr, RTMPSAddr: *rtmpsAddr, HTTPAddr: *httpAddr,
		TLSCertFile: *cert, TLSKeyFile: *key,
		Hub:    hub.Config{MergeWindow: *merge, ReconnectWindow: *reconnect},
		RTMP:   rtmpserver.Config{Gateway: *advertise, Region: *region},
		Logger: log,
	}, gateway.Deps{
		Authorizer: &ingest.Callback{URL: *callback, Secret: []byte(strings.TrimSpace(secret))},
		Hooks:      rtmpserver.HookList{packagers},
		Metrics:    []metrics.Source{packagers},
		Packagers:  []gateway.PlaybackRoutes{packagers},
	})
	if err != nil {
		return err
	}
	if err := gw.Listen(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return gw.Serve(ctx)
}
