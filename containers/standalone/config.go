package main

import (
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// config is every setting of the standalone binary. Each flag has an
// environment variable; a flag given on the command line wins.
type config struct {
	RTMPAddr         string
	RTMPSAddr        string
	HTTPAddr         string
	DataDir          string
	TLSCert, TLSKey  string
	PublicHost       string
	AdminToken       string
	MergeWindow      time.Duration
	ReadBatch        time.Duration
	ReconnectWindow  time.Duration
	IdleTimeout      time.Duration
	HandshakeTimeout time.Duration
	PlayWriteTimeout time.Duration
	PlaySendBuffer   int
	MaxConnections   int
	MaxPublishers    int
	MaxViewers       int
	LogLevel         slog.Level
	LogFormat        string
	Demo             bool
	DebugAddr        string
	// CMAFMode is "ll" (LL-HLS: parts, blocking reload) or "cdn" (whole segments only).
	CMAFMode     string
	PartDuration time.Duration
	// WorkerRun runs one worker in process (shared/worker); nil starts none.
	WorkerRun workerFunc
	// WorkerRunner replaces the local worker runner (tests record its calls).
	WorkerRunner workerRunner
}

// DefaultMergeWindow is the server default for batching viewer writes; chosen
// from the measurements in docs/performance.md.
const DefaultMergeWindow = 70 * time.Millisecond

func parseConfig(args []string, getenv func(string) string) (config, error) {
	var c config
	fs := flag.NewFlagSet("standalone", flag.ContinueOnError)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	envDur := func(name string, def time.Duration) time.Duration {
		if v := getenv(name); v != "" {
			if d, err := time.ParseDuration(v); err == nil {
				return d
			}
		}
		return def
	}
	envInt := func(name string, def int) int {
		if v := getenv(name); v != "" {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
		return def
	}
	fs.StringVar(&c.RTMPAddr, "rtmp-addr", env("LIVESTACK_RTMP_ADDR", ":1935"), "RTMP listen address (env LIVESTACK_RTMP_ADDR)")
	fs.StringVar(&c.RTMPSAddr, "rtmps-addr", env("LIVESTACK_RTMPS_ADDR", ":1936"), "RTMPS listen address, used when a certificate is set (env LIVESTACK_RTMPS_ADDR)")
	fs.StringVar(&c.HTTPAddr, "http-addr", env("LIVESTACK_HTTP_ADDR", ":8080"), "HTTP listen address: playback, /api/v1, /healthz, /metrics (env LIVESTACK_HTTP_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", env("LIVESTACK_DATA_DIR", "./data"), "data directory: store, keys, recordings (env LIVESTACK_DATA_DIR)")
	fs.StringVar(&c.TLSCert, "tls-cert", env("LIVESTACK_TLS_CERT", ""), "PEM certificate for RTMPS (env LIVESTACK_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", env("LIVESTACK_TLS_KEY", ""), "PEM private key for RTMPS (env LIVESTACK_TLS_KEY)")
	fs.StringVar(&c.PublicHost, "public-host", env("LIVESTACK_PUBLIC_HOST", "localhost"), "host name put in push and play URLs (env LIVESTACK_PUBLIC_HOST)")
	fs.DurationVar(&c.MergeWindow, "merge-window", envDur("LIVESTACK_MERGE_WINDOW", DefaultMergeWindow), "media batched per write to a viewer; 0 writes every frame at once (env LIVESTACK_MERGE_WINDOW)")
	fs.DurationVar(&c.ReadBatch, "rtmp-read-batch", envDur("LIVESTACK_RTMP_READ_BATCH", 100*time.Millisecond), "batch a publisher's socket reads this long while nobody watches it at low latency (no FLV/RTMP viewer, no LL-HLS, no transcode); 0 reads every message at once (env LIVESTACK_RTMP_READ_BATCH)")
	fs.DurationVar(&c.ReconnectWindow, "reconnect-window", envDur("LIVESTACK_RECONNECT_WINDOW", 10*time.Second), "how long viewers wait for a dropped publisher to come back (env LIVESTACK_RECONNECT_WINDOW)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", envDur("LIVESTACK_IDLE_TIMEOUT", 15*time.Second), "drop a publisher that sends no media this long (env LIVESTACK_IDLE_TIMEOUT)")
	fs.DurationVar(&c.HandshakeTimeout, "handshake-timeout", envDur("LIVESTACK_HANDSHAKE_TIMEOUT", 10*time.Second), "time allowed from connect to publish or play (env LIVESTACK_HANDSHAKE_TIMEOUT)")
	fs.DurationVar(&c.PlayWriteTimeout, "play-write-timeout", envDur("LIVESTACK_PLAY_WRITE_TIMEOUT", 10*time.Second), "drop a viewer whose connection accepts nothing this long (env LIVESTACK_PLAY_WRITE_TIMEOUT)")
	fs.IntVar(&c.PlaySendBuffer, "play-send-buffer", envInt("LIVESTACK_PLAY_SEND_BUFFER", 0), "socket send buffer per HTTP viewer in bytes, 0 = kernel autotuning (env LIVESTACK_PLAY_SEND_BUFFER)")
	fs.IntVar(&c.MaxConnections, "max-connections", envInt("LIVESTACK_MAX_CONNECTIONS", 10000), "concurrent RTMP connections (env LIVESTACK_MAX_CONNECTIONS)")
	fs.IntVar(&c.MaxPublishers, "max-publishers", envInt("LIVESTACK_MAX_PUBLISHERS", 2000), "concurrent publishers (env LIVESTACK_MAX_PUBLISHERS)")
	fs.IntVar(&c.MaxViewers, "max-viewers-per-stream", envInt("LIVESTACK_MAX_VIEWERS_PER_STREAM", 0), "viewers per stream, 0 = unlimited (env LIVESTACK_MAX_VIEWERS_PER_STREAM)")
	level := fs.String("log-level", env("LIVESTACK_LOG_LEVEL", "info"), "debug, info, warn or error (env LIVESTACK_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", env("LIVESTACK_LOG_FORMAT", "text"), "text or json (env LIVESTACK_LOG_FORMAT)")
	fs.StringVar(&c.DebugAddr, "debug-addr", env("LIVESTACK_DEBUG_ADDR", ""), "serve /debug/pprof on this address (keep it private, e.g. 127.0.0.1:6060); off when empty (env LIVESTACK_DEBUG_ADDR)")
	fs.StringVar(&c.CMAFMode, "cmaf-mode", env("LIVESTACK_CMAF_MODE", "ll"), "ll (LL-HLS with parts and blocking reload) or cdn (CDN-cacheable, whole segments only); see docs/hls.md (env LIVESTACK_CMAF_MODE)")
	fs.DurationVar(&c.PartDuration, "hls-part-duration", envDur("LIVESTACK_HLS_PART_DURATION", 200*time.Millisecond), "LL-HLS part target (env LIVESTACK_HLS_PART_DURATION)")
	fs.BoolVar(&c.Demo, "demo", env("LIVESTACK_DEMO", "") == "1", "create (or reuse) the channel \"demo\" and print its URLs (env LIVESTACK_DEMO=1)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.AdminToken = getenv("LIVESTACK_ADMIN_TOKEN")
	if err := c.LogLevel.UnmarshalText([]byte(strings.ToUpper(*level))); err != nil {
		return c, fmt.Errorf("-log-level: %w", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return c, fmt.Errorf("-log-format: must be text or json, got %q", c.LogFormat)
	}
	if c.CMAFMode != "ll" && c.CMAFMode != "cdn" {
		return c, fmt.Errorf("-cmaf-mode: must be ll or cdn, got %q", c.CMAFMode)
	}
	if c.PartDuration < 50*time.Millisecond || c.PartDuration > 2*time.Second {
		return c, fmt.Errorf("-hls-part-duration: must be 50ms-2s, got %s", c.PartDuration)
	}
	if c.ReadBatch < 0 || c.ReadBatch > time.Second {
		return c, fmt.Errorf("-rtmp-read-batch: must be 0-1s, got %s", c.ReadBatch)
	}
	if c.MergeWindow < 0 || c.MergeWindow > time.Second {
		return c, fmt.Errorf("-merge-window: must be 0-1s, got %s", c.MergeWindow)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return c, fmt.Errorf("-tls-cert and -tls-key go together")
	}
	return c, nil
}
