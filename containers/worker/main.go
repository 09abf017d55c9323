// Command worker is the ECS task that does one stream's pixel work: it pulls
// the stream from its gateway over internal HTTP-FLV, runs the channel's
// transcode ladder and watermark in one ffmpeg, and publishes each rendition
// back into the gateway as "{channelId}/{rendition}" (see shared/worker). It
// also takes the channel's snapshots and motion clips (the AWS gateway does
// not), storing them in the assets bucket under snapshots/ and motion/ and
// indexing them in the table. It
// exits 0 when the stream ends or on SIGTERM, non-zero when the work cannot
// be done (bad settings, refused watermark image, unreachable gateway).
//
// Environment (the scheduler sets the first three as container overrides):
//
//	LIVESTACK_CHANNEL_ID       channel to process (required)
//	LIVESTACK_GATEWAY          host:port of the gateway's HTTP listener (required)
//	LIVESTACK_GATEWAY_RTMP     host:port of its RTMP listener (default: gateway host, port 1935)
//	LIVESTACK_PUSH_KEY         hex push key, or
//	LIVESTACK_PUSH_KEY_SECRET  Secrets Manager ARN/name holding the key bytes
//	LIVESTACK_TABLE            DynamoDB table holding the channel (shared/store/dynamostore)
//	LIVESTACK_BUCKET           assets bucket for snapshots and motion clips (as the gateway's)
//	LIVESTACK_BROADCAST_ID     broadcast named in their keys (set by the scheduler)
//	LIVESTACK_PRESET           x264 preset (default veryfast)
//	LIVESTACK_FFMPEG           ffmpeg binary (default ffmpeg)
//	LIVESTACK_METRICS_ADDR     serve /metrics and /healthz here (optional, e.g. :9102)
//
// "worker ladder-args" prints the ffmpeg arguments of a ladder from a file to
// files, one per line, for scripts/bench-ladder.sh.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/blob/s3blob"
	"github.com/livestack/livestack/shared/media/motion"
	"github.com/livestack/livestack/shared/media/snapshot"
	"github.com/livestack/livestack/shared/metrics"
	"github.com/livestack/livestack/shared/runner"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store/dynamostore"
	"github.com/livestack/livestack/shared/worker"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "ladder-args" {
		if err := ladderArgs(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "worker ladder-args:", err)
			os.Exit(2)
		}
		return
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Getenv, log); err != nil {
		log.Error("worker failed", "error", err)
		os.Exit(1)
	}
}

// pushTTL is how long each rendition signature is valid: only the publish
// itself is checked, so a short signature suffices; each ffmpeg start signs anew.
const pushTTL = 10 * time.Minute

func run(ctx context.Context, getenv func(string) string, log *slog.Logger) error {
	id := getenv(runner.EnvChannelID)
	gw := getenv(runner.EnvGateway)
	if id == "" || gw == "" {
		return fmt.Errorf("%s and %s are required", runner.EnvChannelID, runner.EnvGateway)
	}
	rtmpAddr := getenv(runner.EnvGatewayRTMP)
	if rtmpAddr == "" {
		host, _, err := net.SplitHostPort(gw)
		if err != nil {
			return fmt.Errorf("%s: %w", runner.EnvGateway, err)
		}
		rtmpAddr = net.JoinHostPort(host, "1935")
	}
	key, err := pushKey(ctx, getenv)
	if err != nil {
		return err
	}
	signer, err := signing.New(key)
	if err != nil {
		return fmt.Errorf("push key: %w", err)
	}
	st, err := dynamostore.FromEnv(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	reg := worker.NewRegistry()
	stills := stillsMetrics{snap: &snapshot.Counters{}, mot: &motion.Counters{}}
	if addr := getenv("LIVESTACK_METRICS_ADDR"); addr != "" {
		_, stopMetrics, err := serveMetrics(addr, reg, stills)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	bid := getenv(runner.EnvBroadcastID)
	log = log.With("broadcast", bid)
	cfg := worker.Config{
		ChannelID:   id,
		LoadChannel: st.GetChannel,
		Gateway:     gw,
		SourceToken: signer.SourceToken(id),
		PublishURL:  worker.SignedPublishURL(rtmpAddr, signer, id, pushTTL),
		FFmpeg:      getenv("LIVESTACK_FFMPEG"),
		Preset:      getenv("LIVESTACK_PRESET"),
		Stats:       reg,
		Logger:      log,
		BroadcastID: bid,
		Index:       st,

		SnapshotCounters: stills.snap,
		MotionCounters:   stills.mot,
	}
	if cfg.Blob, err = stillsBlob(ctx, getenv); err != nil {
		return err
	}
	if cfg.Blob != nil {
		cfg.Pixels = worker.AllPixels
	} else {
		log.Warn(envBucket + " is not set: snapshots and motion clips are not taken")
	}
	return worker.Run(ctx, cfg)
}

// envBucket names the assets bucket, as for the gateway (containers/gateway)
// and in the worker task definition (terraform/modules/processing).
const envBucket = "LIVESTACK_BUCKET"

// stillsBlob opens the assets bucket named by LIVESTACK_BUCKET, or returns
// nil when it is not set.
func stillsBlob(ctx context.Context, getenv func(string) string) (blob.Store, error) {
	bucket := getenv(envBucket)
	if bucket == "" {
		return nil, nil
	}
	b, err := s3blob.New(ctx, s3blob.Config{Bucket: bucket, Region: getenv("AWS_REGION")})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envBucket, err)
	}
	return b, nil
}

// secretsAPI is the part of the Secrets Manager client pushKey uses.
type secretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// pushKey reads LIVESTACK_PUSH_KEY (hex) or the Secrets Manager secret named
// by LIVESTACK_PUSH_KEY_SECRET. The secret holds the key bytes themselves (64
// letters and digits, terraform/modules/secrets), as the gateway and
// ingestauth read it (ingestfn.LoadPushKey): signatures must match theirs.
func pushKey(ctx context.Context, getenv func(string) string) ([]byte, error) {
	return pushKeyFrom(ctx, getenv, func(ctx context.Context) (secretsAPI, error) {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("aws config: %w", err)
		}
		return secretsmanager.NewFromConfig(cfg), nil
	})
}

func pushKeyFrom(ctx context.Context, getenv func(string) string, secrets func(context.Context) (secretsAPI, error)) ([]byte, error) {
	if v := getenv("LIVESTACK_PUSH_KEY"); v != "" {
		k, err := signing.DecodeKey(v)
		if err != nil {
			return nil, fmt.Errorf("LIVESTACK_PUSH_KEY: %w", err)
		}
		return k, nil
	}
	arn := getenv("LIVESTACK_PUSH_KEY_SECRET")
	if arn == "" {
		return nil, errors.New("LIVESTACK_PUSH_KEY or LIVESTACK_PUSH_KEY_SECRET is required")
	}
	sm, err := secrets(ctx)
	if err != nil {
		return nil, fmt.Errorf("push key secret: %w", err)
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("push key secret: %w", err)
	}
	k := []byte(strings.TrimSpace(aws.ToString(out.SecretString)))
	if len(k) == 0 {
		k = out.SecretBinary
	}
	if len(k) < signing.MinKeySize {
		return nil, fmt.Errorf("push key secret: %d bytes, need at least %d", len(k), signing.MinKeySize)
	}
	return k, nil
}

// serveMetrics serves /metrics and /healthz on addr; it returns the bound
// address and a function stopping the server.
func serveMetrics(addr string, sources ...metrics.Source) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(sources...))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}
