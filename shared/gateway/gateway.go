// Package gateway composes the media side of livestack: the stream hub, the
// RTMP/RTMPS ingest and play server, HTTP playback, health and metrics, with
// graceful shutdown. The gateway container and the standalone binary both run it;
// they differ in the authorizer, the hooks and the extra HTTP handlers they give it.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/livestack/livestack/shared/abr"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/metrics"
	"github.com/livestack/livestack/shared/playback"
	"github.com/livestack/livestack/shared/rtmpserver"
)

// Config of a gateway. Addresses may use port 0; Listen reports the real ones.
type Config struct {
	RTMPAddr  string // default ":1935"
	RTMPSAddr string // used only with TLS; default ":1936"
	HTTPAddr  string // default ":8080"
	// TLSCertFile and TLSKeyFile enable RTMPS.
	TLSCertFile, TLSKeyFile string

	Hub  hub.Config
	RTMP rtmpserver.Config // Hub, Authorizer, Hooks are filled by New
	// PlayWriteTimeout drops an HTTP viewer whose socket accepts nothing this long.
	PlayWriteTimeout time.Duration
	// PlaySendBuffer sets SO_SNDBUF on HTTP viewer sockets; 0 = kernel default.
	PlaySendBuffer int
	// ShutdownTimeout bounds graceful shutdown. Default 8 s (within a 10 s SIGTERM budget).
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// Deps are the ports and extensions a gateway is built with.
type Deps struct {
	Authorizer ingest.Authorizer
	Hooks      rtmpserver.StreamHooks
	PlayAuth   playback.Authorizer
	// SourceToken lets an internal reader with the token read a watermarked
	// channel's raw source (playback.Config.SourceToken); may be nil.
	SourceToken func(channelID string) string
	// Routes are extra HTTP handlers by path prefix ("/api/", "/console/").
	Routes map[string]http.Handler
	// Metrics are extra metric sources.
	Metrics []metrics.Source
	// Packagers add playback routes (HLS, CMAF, DASH under /{channel}/...) to the
	// playback mux, with the hub and the play authorizer.
	Packagers []PlaybackRoutes
}

// PlaybackRoutes registers playback handlers next to HTTP-FLV.
type PlaybackRoutes interface {
	RegisterPlayback(mux *http.ServeMux, h *hub.Hub, auth playback.Authorizer)
}

// Gateway is a running media gateway.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	Hub      *hub.Hub
	RTMP     *rtmpserver.Server
	Playback *playback.Server
	mux      *http.ServeMux
	routes   map[string]http.Handler
	tlsConf  *tls.Config

	httpSrv *http.Server
	lnRTMP  net.Listener
	lnRTMPS net.Listener
	lnHTTP  net.Listener
	closed  sync.Once
}

// New builds a gateway; call Listen, then Serve.
func New(cfg Config, deps Deps) (*Gateway, error) {
	if cfg.RTMPAddr == "" {
		cfg.RTMPAddr = ":1935"
	}
	if cfg.RTMPSAddr == "" {
		cfg.RTMPSAddr = ":1936"
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = ":8080"
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 8 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if deps.Authorizer == nil {
		return nil, errors.New("gateway: an Authorizer is required")
	}
	g := &Gateway{cfg: cfg, log: cfg.Logger, routes: deps.Routes}
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("gateway: load RTMPS certificate: %w", err)
		}
		g.tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	hc := cfg.Hub
	hc.Logger = cfg.Logger
	g.Hub = hub.New(hc)
	rc := cfg.RTMP
	rc.Hub, rc.Authorizer, rc.Hooks, rc.Logger = g.Hub, deps.Authorizer, deps.Hooks, cfg.Logger
	if rc.DefaultMergeWindow == 0 {
		rc.DefaultMergeWindow = hc.MergeWindow
	}
	if deps.PlayAuth != nil {
		rc.PlayAuth = func(ctx context.Context, id, query string) error {
			r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/"+id+"/live.flv?"+query, nil)
			return deps.PlayAuth(r, id)
		}
	}
	var err error
	if g.RTMP, err = rtmpserver.New(rc); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g.Playback = playback.New(playback.Config{Hub: g.Hub, Authorize: deps.PlayAuth, SourceToken: deps.SourceToken, WriteTimeout: cfg.PlayWriteTimeout, SendBuffer: cfg.PlaySendBuffer, Logger: cfg.Logger})
	g.mux = http.NewServeMux()
	g.Playback.Register(g.mux)
	g.mux.Handle(abr.Pattern, &abr.Master{Hub: g.Hub, Authorize: deps.PlayAuth})
	for _, p := range deps.Packagers {
		p.RegisterPlayback(g.mux, g.Hub, deps.PlayAuth)
	}
	g.mux.HandleFunc("GET /healthz", g.healthz)
	srcs := append([]metrics.Source{metrics.HubSource{Hub: g.Hub}, metrics.RTMPSource{Server: g.RTMP}, metrics.PlaybackSource{Server: g.Playback}}, deps.Metrics...)
	g.mux.Handle("GET /metrics", metrics.Handler(srcs...))
	return g, nil
}

// ServeHTTP dispatches extra routes by prefix, then playback, health and metrics.
// A prefix without a trailing slash ("/videostream") matches that path and the
// paths under it, not "/videostream2/live.flv".
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for prefix, h := range g.routes {
		p := r.URL.Path
		if strings.HasPrefix(p, prefix) && (strings.HasSuffix(prefix, "/") || len(p) == len(prefix) || p[len(prefix)] == '/') {
			h.ServeHTTP(w, r)
			return
		}
	}
	g.mux.ServeHTTP(w, r)
}

func (g *Gateway) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, `{"status":"ok","streams":%d}`+"\n", len(g.Hub.Streams()))
}

// Listen opens the listeners.
func (g *Gateway) Listen() error {
	var err error
	if g.lnRTMP, err = net.Listen("tcp", g.cfg.RTMPAddr); err != nil {
		return fmt.Errorf("listen rtmp %s: %w", g.cfg.RTMPAddr, err)
	}
	if g.tlsConf != nil {
		if g.lnRTMPS, err = net.Listen("tcp", g.cfg.RTMPSAddr); err != nil {
			g.lnRTMP.Close()
			return fmt.Errorf("listen rtmps %s: %w", g.cfg.RTMPSAddr, err)
		}
	}
	if g.lnHTTP, err = net.Listen("tcp", g.cfg.HTTPAddr); err != nil {
		g.lnRTMP.Close()
		if g.lnRTMPS != nil {
			g.lnRTMPS.Close()
		}
		return fmt.Errorf("listen http %s: %w", g.cfg.HTTPAddr, err)
	}
	g.RTMP.SetGateway(g.lnHTTP.Addr().String())
	return nil
}

// Addrs are the bound addresses (RTMPS empty without TLS).
type Addrs struct{ RTMP, RTMPS, HTTP string }

// Addrs returns the bound addresses after Listen.
func (g *Gateway) Addrs() Addrs {
	a := Addrs{RTMP: g.lnRTMP.Addr().String(), HTTP: g.lnHTTP.Addr().String()}
	if g.lnRTMPS != nil {
		a.RTMPS = g.lnRTMPS.Addr().String()
	}
	return a
}

// Serve runs until ctx ends, then shuts down gracefully: it stops accepting,
// closes publishers (encoders reconnect elsewhere), ends every viewer's stream
// cleanly and returns within ShutdownTimeout.
func (g *Gateway) Serve(ctx context.Context) error {
	g.httpSrv = &http.Server{
		Handler:           g,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 3)
	go func() { errc <- g.RTMP.Serve(g.lnRTMP, nil) }()
	if g.lnRTMPS != nil {
		go func() { errc <- g.RTMP.Serve(g.lnRTMPS, g.tlsConf) }()
	}
	go func() {
		if err := g.httpSrv.Serve(g.lnHTTP); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	a := g.Addrs()
	g.log.Info("gateway listening", "rtmp", a.RTMP, "rtmps", a.RTMPS, "http", a.HTTP)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if err != nil {
			err = fmt.Errorf("gateway serve: %w", err)
		}
	}
	g.Shutdown()
	return err
}

// Shutdown stops everything within ShutdownTimeout.
func (g *Gateway) Shutdown() {
	g.closed.Do(func() {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
		defer cancel()
		g.log.Info("gateway shutting down")
		if g.httpSrv != nil {
			go func() { _ = g.httpSrv.Shutdown(ctx) }()
		}
		if err := g.RTMP.Close(ctx); err != nil {
			g.log.Warn("rtmp shutdown", "error", err)
		}
		g.Hub.Close()
		if err := g.Playback.Close(ctx); err != nil {
			g.log.Warn("playback shutdown", "error", err)
		}
		if g.httpSrv != nil {
			_ = g.httpSrv.Close()
		}
		g.log.Info("gateway stopped", "took", time.Since(start).Round(time.Millisecond))
	})
}
