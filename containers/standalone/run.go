package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/livestack/livestack/shared/blob/fsblob"
	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/gateway"
	"github.com/livestack/livestack/shared/httpapi"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/media/cmaf"
	"github.com/livestack/livestack/shared/media/hls"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/media/motion"
	"github.com/livestack/livestack/shared/media/snapshot"
	"github.com/livestack/livestack/shared/metrics"
	"github.com/livestack/livestack/shared/recording"
	"github.com/livestack/livestack/shared/relay"
	"github.com/livestack/livestack/shared/rtmpserver"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/boltstore"
	"github.com/livestack/livestack/shared/vod"
	"github.com/livestack/livestack/shared/worker"
)

// instance is a running standalone, handed to tests through run's ready channel.
type instance struct {
	Gateway    *gateway.Gateway
	Relays     *relay.Manager
	Store      store.Store
	Signer     *signing.Signer
	AdminToken string
	URLs       httpapi.URLs
	API        http.Handler
	// Scheduling is the event bus, stream event emitter and worker scheduler.
	Scheduling *scheduling
	Snapshots  *snapshot.Manager
	Motion     *motion.Manager
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// run starts the platform and blocks until ctx ends. out receives the
// human-readable start banner (admin token location, demo URLs).
func run(ctx context.Context, cfg config, out io.Writer, ready chan<- *instance) error {
	log := newLogger(cfg, os.Stderr)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	key, err := pushKey(cfg.DataDir)
	if err != nil {
		return err
	}
	signer, err := signing.New(key)
	if err != nil {
		return fmt.Errorf("push key: %w", err)
	}
	token, tokenFile, err := adminToken(cfg)
	if err != nil {
		return err
	}
	st, err := boltstore.Open(filepath.Join(cfg.DataDir, "livestack.db"))
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	// Transcode/watermark workers run in process: read the source from the
	// hub, publish renditions back over RTMP (see shared/worker).
	workers := worker.NewRegistry()
	localWorker := &worker.Local{Signer: signer, LoadChannel: st.GetChannel, Stats: workers, Logger: log}
	if cfg.WorkerRun == nil {
		cfg.WorkerRun = localWorker.Run
	}
	sched, err := newScheduling(st, cfg.WorkerRun, cfg.WorkerRunner, log)
	if err != nil {
		return err
	}
	defer sched.Close()
	blobs, err := fsblob.New(filepath.Join(cfg.DataDir, "blob"))
	if err != nil {
		return fmt.Errorf("open blob store: %w", err)
	}
	defer blobs.Close()
	// The recorder finishes what a previous run left in the spool (a crash) in the background.
	recorder, err := recording.New(recording.Config{SpoolDir: filepath.Join(cfg.DataDir, "spool"), Blob: blobs, Store: st, OnReady: sched.RecordingReady, Logger: log})
	if err != nil {
		return err
	}
	defer func() { // after the gateway closed the hub: every stream has ended
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := recorder.Close(ctx); err != nil {
			log.Warn("recorder stopped with files in the spool", "error", err)
		}
	}()

	relays := relay.New(relay.Config{Logger: log})
	// JPG snapshots and motion clips (decoded by ffmpeg subprocesses), stopped
	// after the gateway: the hub has ended every stream, so clips are finished.
	snapshots := snapshot.NewManager(snapshot.ManagerConfig{Blob: blobs, Index: st, Logger: log})
	motions := motion.NewManager(motion.ManagerConfig{Blob: blobs, Index: st, SpoolDir: filepath.Join(cfg.DataDir, "motion-spool"), Logger: log})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = snapshots.Close(ctx)
		_ = motions.Close(ctx)
	}()
	packagers := hls.NewManager(hls.ManagerConfig{
		CMAF:   cmaf.Config{CDN: cfg.CMAFMode == "cdn", PartDuration: cfg.PartDuration},
		Sink:   recorder,
		Logger: log,
	})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = relays.Close(ctx)
	}()
	plays, err := newPlaySigning(cfg.DataDir, st, log)
	if err != nil {
		return err
	}
	var apiHandler http.Handler
	gw, err := gateway.New(gateway.Config{
		RTMPAddr:         cfg.RTMPAddr,
		RTMPSAddr:        cfg.RTMPSAddr,
		HTTPAddr:         cfg.HTTPAddr,
		TLSCertFile:      cfg.TLSCert,
		TLSKeyFile:       cfg.TLSKey,
		PlayWriteTimeout: cfg.PlayWriteTimeout,
		PlaySendBuffer:   cfg.PlaySendBuffer,
		Hub: hub.Config{
			ReconnectWindow:     cfg.ReconnectWindow,
			MergeWindow:         cfg.MergeWindow,
			MaxViewersPerStream: cfg.MaxViewers,
			MaxStreams:          cfg.MaxPublishers * 5,
		},
		RTMP: rtmpserver.Config{
			HandshakeTimeout: cfg.HandshakeTimeout,
			IdleTimeout:      cfg.IdleTimeout,
			MaxConnections:   cfg.MaxConnections,
			MaxPublishers:    cfg.MaxPublishers,
			ReadBatch:        rtmpserver.ReadBatchFlag(cfg.ReadBatch),
		},
		Logger: log,
	}, gateway.Deps{
		Authorizer: &ingest.Local{Store: st, Signer: signer},
		PlayAuth:   plays.Authorizer.Authorize,
		Hooks:      rtmpserver.HookList{relays, recorder, packagers, snapshots, motions, sched.Emitter},
		Metrics:    []metrics.Source{metrics.RelaySource{Manager: relays}, packagers, recording.Metrics{Recorder: recorder}, snapshots, motions, sched.Metrics(), workers},
		Packagers:  []gateway.PlaybackRoutes{packagers, snapshots},
		Routes: map[string]http.Handler{
			"/api/":        http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { apiHandler.ServeHTTP(w, r) }),
			"/videostream": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { apiHandler.ServeHTTP(w, r) }),
			"/vod/":        vod.New(vod.Config{Store: st, Blob: blobs, Logger: log}),
		},
	})
	if err != nil {
		return err
	}
	if err := gw.Listen(); err != nil {
		return err
	}
	addrs := gw.Addrs()
	// Set before Serve: no stream (and so no worker) exists yet.
	localWorker.Hub, localWorker.RTMPAddr = gw.Hub, addrs.RTMP
	sched.Emitter.SetAddrs(addrs.HTTP, addrs.RTMP)
	urls := httpapi.URLs{
		PushBase: "rtmp://" + hostPort(cfg.PublicHost, addrs.RTMP),
		PlayBase: "http://" + hostPort(cfg.PublicHost, addrs.HTTP),
	}
	plays.SetPlayBase(urls.PlayBase)
	api, err := httpapi.New(httpapi.Config{
		Store: st, Signer: signer, AdminToken: token,
		Streams: httpapi.HubStreams{Hub: gw.Hub, Relays: relays},
		URLs:    urls, Logger: log,
		PlaySigner: plays.Signer, Blobs: blobs, CORSOrigins: corsOrigins(),
		StreamStats: []httpapi.StreamStats{workers},
	})
	if err != nil {
		return err
	}
	apiHandler = api

	fmt.Fprintf(out, "livestack standalone\n  RTMP   %s\n  HTTP   %s\n", urls.PushBase, urls.PlayBase)
	if addrs.RTMPS != "" {
		fmt.Fprintf(out, "  RTMPS  rtmps://%s\n", hostPort(cfg.PublicHost, addrs.RTMPS))
	}
	if tokenFile != "" {
		fmt.Fprintf(out, "  API    %s/api/v1  (admin token in %s: %s)\n", urls.PlayBase, tokenFile, token)
	} else {
		fmt.Fprintf(out, "  API    %s/api/v1  (admin token from LIVESTACK_ADMIN_TOKEN)\n", urls.PlayBase)
	}
	if cfg.Demo {
		if err := printDemo(ctx, out, st, signer, urls); err != nil {
			return err
		}
	}
	if cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(cfg.DebugAddr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	if ready != nil {
		ready <- &instance{Gateway: gw, Relays: relays, Store: st, Signer: signer, AdminToken: token, URLs: urls, API: api, Scheduling: sched, Snapshots: snapshots, Motion: motions}
	}
	return gw.Serve(ctx)
}

// hostPort joins the public host with the port of a bound address.
func hostPort(host, bound string) string {
	_, port, err := net.SplitHostPort(bound)
	if err != nil {
		return bound
	}
	return net.JoinHostPort(host, port)
}

// pushKey reads LIVESTACK_PUSH_KEY (hex) or the key generated once into the data dir.
func pushKey(dataDir string) ([]byte, error) {
	if v := os.Getenv("LIVESTACK_PUSH_KEY"); v != "" {
		k, err := signing.DecodeKey(v)
		if err != nil {
			return nil, fmt.Errorf("LIVESTACK_PUSH_KEY: %w", err)
		}
		return k, nil
	}
	k, err := signing.LoadOrCreateKey(filepath.Join(dataDir, "push.key"))
	if err != nil {
		return nil, fmt.Errorf("push key: %w", err)
	}
	return k, nil
}

// adminToken returns LIVESTACK_ADMIN_TOKEN, or a token generated once into the
// data dir (and that file's path, so it can be printed).
func adminToken(cfg config) (string, string, error) {
	if cfg.AdminToken != "" {
		if len(cfg.AdminToken) < 16 {
			return "", "", errors.New("LIVESTACK_ADMIN_TOKEN must be at least 16 characters")
		}
		return cfg.AdminToken, "", nil
	}
	path := filepath.Join(cfg.DataDir, "admin.token")
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); len(t) >= 16 {
			return t, path, nil
		}
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("admin token: %w", err)
	}
	t := hex.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("admin token: %w", err)
	}
	return t, path, nil
}

// DemoChannel is the id of the channel `make run` creates.
const DemoChannel = "demo"

func printDemo(ctx context.Context, out io.Writer, st store.Store, signer *signing.Signer, urls httpapi.URLs) error {
	now := time.Now().UTC()
	// Every remuxed output and snapshots are on, so each way of playing can be
	// tried; transcoding is left off (it takes most of a core per rendition).
	ch := &channel.Channel{ID: DemoChannel, Name: "Demo channel", Enabled: true, CreatedAt: now, UpdatedAt: now,
		Outputs: channel.Outputs{CMAF: true}, Recording: channel.Recording{Snapshots: true}}
	ch.Normalize()
	if err := st.CreateChannel(ctx, ch); err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("demo channel: %w", err)
	}
	if cur, err := st.GetChannel(ctx, DemoChannel); err == nil {
		signer = signer.ForEpoch(cur.PushKeyEpoch) // its push key may have been rotated
	}
	exp := now.Add(7 * 24 * time.Hour)
	push := urls.PushBase + "/stream/" + DemoChannel + "?sign=" + signer.Sign(DemoChannel, exp)
	fmt.Fprintf(out, "\nDemo channel %q (push URL valid until %s)\n", DemoChannel, exp.Format(time.RFC3339))
	fmt.Fprintf(out, "  push      %s\n", push)
	fmt.Fprintf(out, "  OBS       server %s/stream   stream key %s?sign=%s\n", urls.PushBase, DemoChannel, signer.Sign(DemoChannel, exp))
	fmt.Fprintf(out, "  HTTP-FLV  %s/%s/live.flv\n", urls.PlayBase, DemoChannel)
	fmt.Fprintf(out, "  RTMP      %s/stream/%s\n", urls.PushBase, DemoChannel)
	fmt.Fprintf(out, "  HLS       %s/%s/live.m3u8\n", urls.PlayBase, DemoChannel)
	fmt.Fprintf(out, "  LL-HLS    %s/%s/master.m3u8   (CMAF)\n", urls.PlayBase, DemoChannel)
	fmt.Fprintf(out, "  DASH      %s/%s/manifest.mpd\n", urls.PlayBase, DemoChannel)
	fmt.Fprintf(out, "  snapshot  %s/%s/snapshot.jpg\n", urls.PlayBase, DemoChannel)
	fmt.Fprintf(out, "\nTest pattern:\n  ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine -c:v libx264 -preset veryfast -tune zerolatency -g 60 -c:a aac -f flv '%s'\n", push)
	fmt.Fprintf(out, "Play:\n  ffplay %s/%s/live.flv\n\n", urls.PlayBase, DemoChannel)
	return nil
}

// serveDebug serves the pprof handlers on their own listener, never on the
// public HTTP address.
func serveDebug(addr string, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("pprof listening", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
