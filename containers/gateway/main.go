// Command gateway is the media gateway of the AWS deployment: RTMP/RTMPS
// ingest, the stream hub, HTTP-FLV/HLS/CMAF playback for edges, relays,
// recording to S3, stream events to EventBridge, /healthz and /metrics.
// Publishes are authorized by the ingestauth function over the HTTP callback
// contract (docs/ingest-callback.md); the gateway holds no channel data.
//
// Environment (terraform/modules/ingest sets the LIVESTACK_* ones):
//
//	LIVESTACK_INGESTAUTH_URL       ingestauth function URL (SigV4-signed, AWS_IAM auth), or
//	LIVESTACK_INGESTAUTH_FUNCTION  its ARN, called through the Lambda Invoke API when there is no URL
//	LIVESTACK_INGEST_CALLBACK_URL  any other endpoint of the contract (not SigV4-signed)
//	LIVESTACK_PUSH_KEY_SECRET      push key secret; the callback HMAC secret is derived from it
//	LIVESTACK_INGEST_CALLBACK_SECRET  explicit callback secret instead
//	LIVESTACK_TABLE                DynamoDB table: sessions for stream events, recording index
//	LIVESTACK_BUCKET               S3 bucket of recordings (with LIVESTACK_TABLE)
//	LIVESTACK_EVENT_BUS            EventBridge bus for Stream Started/Stopped and Recording Ready
//	AWS_REGION                     region (recorded on sessions and events)
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/livestack/livestack/functions/ingestauth/ingestfn"
	"github.com/livestack/livestack/shared/blob/s3blob"
	"github.com/livestack/livestack/shared/events"
	"github.com/livestack/livestack/shared/events/streamhooks"
	"github.com/livestack/livestack/shared/gateway"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/media/cmaf"
	"github.com/livestack/livestack/shared/media/hls"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/metrics"
	"github.com/livestack/livestack/shared/recording"
	"github.com/livestack/livestack/shared/relay"
	"github.com/livestack/livestack/shared/rtmpserver"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/dynamostore"
)

func main() {
	gateway.TuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], nil); err != nil {
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

// Environment variable names.
const (
	EnvIngestAuthURL      = "LIVESTACK_INGESTAUTH_URL"
	EnvIngestAuthFunction = "LIVESTACK_INGESTAUTH_FUNCTION"
	EnvCallbackURL        = "LIVESTACK_INGEST_CALLBACK_URL"
	EnvBucket             = "LIVESTACK_BUCKET"
	EnvEventBus           = "LIVESTACK_EVENT_BUS"
	EnvDataDir            = "LIVESTACK_DATA_DIR"
	// EnvLambdaEndpoint overrides the Lambda API endpoint of Invoke calls (tests).
	EnvLambdaEndpoint = "LIVESTACK_LAMBDA_ENDPOINT"
)

// started is what run hands to tests once the gateway listens.
type started struct {
	Gateway *gateway.Gateway
	Emitter *streamhooks.Emitter
}

func run(ctx context.Context, args []string, ready chan<- started) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	rtmpAddr := fs.String("rtmp-addr", env("LIVESTACK_RTMP_ADDR", ":1935"), "RTMP listen address (env LIVESTACK_RTMP_ADDR)")
	rtmpsAddr := fs.String("rtmps-addr", env("LIVESTACK_RTMPS_ADDR", ":1936"), "RTMPS listen address (env LIVESTACK_RTMPS_ADDR)")
	httpAddr := fs.String("http-addr", env("LIVESTACK_HTTP_ADDR", ":8080"), "HTTP listen address (env LIVESTACK_HTTP_ADDR)")
	cert := fs.String("tls-cert", env("LIVESTACK_TLS_CERT", ""), "PEM certificate for RTMPS (env LIVESTACK_TLS_CERT)")
	key := fs.String("tls-key", env("LIVESTACK_TLS_KEY", ""), "PEM key for RTMPS (env LIVESTACK_TLS_KEY)")
	callback := fs.String("ingest-callback-url", env(EnvCallbackURL, os.Getenv(EnvIngestAuthURL)), "publish authorization endpoint (env LIVESTACK_INGEST_CALLBACK_URL, or LIVESTACK_INGESTAUTH_URL as the Terraform task definition sets it)")
	function := fs.String("ingestauth-function", env(EnvIngestAuthFunction, ""), "ingestauth function ARN, called with the Lambda Invoke API when no callback URL is set (env LIVESTACK_INGESTAUTH_FUNCTION)")
	advertise := fs.String("advertise", env("LIVESTACK_ADVERTISE_ADDR", ""), "address edges and workers reach this gateway's HTTP on, recorded on sessions; default: the task's private IP from the ECS metadata endpoint (env LIVESTACK_ADVERTISE_ADDR)")
	region := fs.String("region", env("AWS_REGION", ""), "region recorded on sessions (env AWS_REGION)")
	dataDir := fs.String("data-dir", env(EnvDataDir, "/var/lib/livestack"), "recording spool directory (env LIVESTACK_DATA_DIR)")
	readBatch := fs.Duration("rtmp-read-batch", envDur("LIVESTACK_RTMP_READ_BATCH", 100*time.Millisecond), "batch a publisher's socket reads this long while nobody watches it at low latency; 0 = off (env LIVESTACK_RTMP_READ_BATCH)")
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
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("aws config: %w", err)
	}
	if *region == "" {
		*region = awsCfg.Region
	}
	authorizer, err := newAuthorizer(ctx, awsCfg, *callback, *function, *region)
	if err != nil {
		return err
	}
	// The worker reads a watermarked channel's raw source with a token made
	// from the push key; viewers get the watermarked "original" instead.
	var sourceToken func(string) string
	if key, err := ingestfn.LoadPushKey(ctx, secretsmanager.NewFromConfig(awsCfg)); err != nil {
		log.Warn("no push key: workers cannot read watermarked channels' sources", "err", err)
	} else if signer, err := signing.New(key); err != nil {
		log.Warn("push key unusable: workers cannot read watermarked channels' sources", "err", err)
	} else {
		sourceToken = signer.SourceToken
	}

	hooks := rtmpserver.HookList{}
	var sources []metrics.Source
	var routes []gateway.PlaybackRoutes

	relays := relay.New(relay.Config{Logger: log})
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = relays.Close(cctx)
	}()
	hooks, sources = append(hooks, relays), append(sources, metrics.RelaySource{Manager: relays})

	// The metadata store: sessions (named broadcasts on stream events) and
	// the recording index.
	var st *dynamostore.Store
	if os.Getenv(dynamostore.EnvTable) != "" {
		if st, err = dynamostore.FromEnv(ctx); err != nil {
			return err
		}
		defer st.Close()
	}
	var publisher events.Publisher
	if bus := os.Getenv(EnvEventBus); bus != "" {
		eb := &events.EventBridge{Client: eventbridge.NewFromConfig(awsCfg), Bus: bus, Source: events.SourceGateway, Logger: log}
		publisher, sources = eb, append(sources, events.Metrics{EventBridge: eb})
	}
	var sink hls.SegmentSink
	if bucket := os.Getenv(EnvBucket); bucket != "" && st != nil {
		blobs, err := s3blob.New(ctx, s3blob.Config{Bucket: bucket, Region: *region})
		if err != nil {
			return err
		}
		rc := recording.Config{SpoolDir: filepath.Join(*dataDir, "spool"), Blob: blobs, Store: st, Region: *region, Logger: log}
		if publisher != nil {
			rc.OnReady = func(ctx context.Context, r store.Recording) {
				if err := publisher.Publish(ctx, events.RecordingReady(events.RecordingDetailOf(r, bucket))); err != nil {
					log.Error("publish Recording Ready", "recording", r.ID, "err", err)
				}
			}
		}
		recorder, err := recording.New(rc)
		if err != nil {
			return err
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := recorder.Close(cctx); err != nil {
				log.Warn("recorder stopped with files in the spool", "error", err)
			}
		}()
		hooks, sources, sink = append(hooks, recorder), append(sources, recording.Metrics{Recorder: recorder}), recorder
	}
	packagers := hls.NewManager(hls.ManagerConfig{
		CMAF: cmaf.Config{CDN: *cmafMode == "cdn", PartDuration: *partDur}, Sink: sink, Logger: log,
	})
	hooks, sources, routes = append(hooks, packagers), append(sources, packagers), append(routes, packagers)

	// Stream events from the gateway's hooks need the session to name the
	// broadcast as ingestauth does; without the table only ingestauth announces.
	var emitter *streamhooks.Emitter
	if publisher != nil && st == nil {
		log.Warn("LIVESTACK_EVENT_BUS without LIVESTACK_TABLE: stream events come from ingestauth only")
	}
	if publisher != nil && st != nil {
		emitter = &streamhooks.Emitter{Publisher: publisher, Sessions: st, Region: *region, Logger: log}
		hooks = append(hooks, emitter)
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = emitter.Wait(cctx)
		}()
	}

	if *advertise == "" {
		_, port, _ := net.SplitHostPort(*httpAddr)
		mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		addr, err := advertiseFromECS(mctx, http.DefaultClient, port)
		cancel()
		if err == nil {
			*advertise = addr
		} else {
			log.Warn("no advertise address; sessions name the bound address", "err", err)
		}
	}
	gw, err := gateway.New(gateway.Config{
		RTMPAddr: *rtmpAddr, RTMPSAddr: *rtmpsAddr, HTTPAddr: *httpAddr,
		TLSCertFile: *cert, TLSKeyFile: *key,
		Hub:    hub.Config{MergeWindow: *merge, ReconnectWindow: *reconnect},
		RTMP:   rtmpserver.Config{Gateway: *advertise, Region: *region, ReadBatch: rtmpserver.ReadBatchFlag(*readBatch)},
		Logger: log,
	}, gateway.Deps{Authorizer: authorizer, SourceToken: sourceToken, Hooks: hooks, Metrics: sources, Packagers: routes})
	if err != nil {
		return err
	}
	if err := gw.Listen(); err != nil {
		return err
	}
	if emitter != nil {
		a := gw.Addrs()
		httpAdv := a.HTTP
		rtmpAdv := a.RTMP
		if *advertise != "" {
			host, _, _ := net.SplitHostPort(*advertise)
			_, hp, _ := net.SplitHostPort(a.HTTP)
			_, rp, _ := net.SplitHostPort(a.RTMP)
			httpAdv, rtmpAdv = net.JoinHostPort(host, hp), net.JoinHostPort(host, rp)
		}
		emitter.SetAddrs(httpAdv, rtmpAdv)
	}
	if ready != nil {
		ready <- started{Gateway: gw, Emitter: emitter}
	}
	return gw.Serve(ctx)
}

// newAuthorizer builds the callback client. The ingestauth function URL
// (AWS_IAM auth) gets SigV4-signed requests; without a URL the function is
// called through the Lambda Invoke API (also SigV4). Every request also
// carries the contract's HMAC, with the secret derived from the push key
// both sides read (or LIVESTACK_INGEST_CALLBACK_SECRET).
func newAuthorizer(ctx context.Context, awsCfg aws.Config, callbackURL, function, region string) (*ingest.Callback, error) {
	var secret []byte
	if v := strings.TrimSpace(os.Getenv(ingestfn.EnvCallbackSecret)); v != "" {
		secret = []byte(v)
	} else {
		key, err := ingestfn.LoadPushKey(ctx, secretsmanager.NewFromConfig(awsCfg))
		if err != nil {
			return nil, fmt.Errorf("callback secret: %w (or set %s)", err, ingestfn.EnvCallbackSecret)
		}
		secret = ingestfn.CallbackSecret(key)
	}
	if len(secret) < 16 {
		return nil, fmt.Errorf("%s must be at least 16 characters", ingestfn.EnvCallbackSecret)
	}
	sign := func() http.RoundTripper {
		return &sigv4Transport{creds: awsCfg.Credentials, region: region, service: "lambda", next: http.DefaultTransport}
	}
	client := &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	switch {
	case callbackURL != "":
		if isFunctionURL(callbackURL) || os.Getenv(EnvIngestAuthURL) == callbackURL {
			if awsCfg.Credentials == nil {
				return nil, fmt.Errorf("the ingestauth function URL needs AWS credentials for SigV4")
			}
			client.Transport = sign()
		}
		return &ingest.Callback{URL: callbackURL, Secret: secret, Client: client}, nil
	case function != "":
		if awsCfg.Credentials == nil {
			return nil, fmt.Errorf("invoking %s needs AWS credentials", function)
		}
		endpoint := os.Getenv(EnvLambdaEndpoint)
		if endpoint == "" {
			endpoint = "https://lambda." + region + ".amazonaws.com"
			if strings.HasPrefix(region, "cn-") {
				endpoint += ".cn"
			}
		}
		client.Transport = &invokeTransport{endpoint: endpoint, function: function, next: sign()}
		// The URL is only carried into the event; the transport decides where requests go.
		return &ingest.Callback{URL: "https://ingestauth.invalid/", Secret: secret, Client: client}, nil
	}
	return nil, fmt.Errorf("set %s (or %s), or %s", EnvIngestAuthURL, EnvCallbackURL, EnvIngestAuthFunction)
}
