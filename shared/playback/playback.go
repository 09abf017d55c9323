// Package playback serves live streams over HTTP from the hub: HTTP-FLV now, the
// HLS/CMAF packagers' output later. Playback paths are a contract (DESIGN.md):
// /{channelId}/live.flv and /{channelId}/{rendition}/live.flv.
package playback

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/hub"
)

// Authorizer decides whether a request may play channelID (signed play URLs);
// it returns nil to allow. nil means every live stream is public.
type Authorizer func(r *http.Request, channelID string) error

// Config of the playback server. Zero values take the documented defaults.
type Config struct {
	Hub *hub.Hub
	// Authorize may be nil.
	Authorize Authorizer
	// WriteTimeout drops a viewer whose socket accepts nothing for this long. Default 10 s.
	WriteTimeout time.Duration
	// SendBuffer sets SO_SNDBUF on viewer sockets (bytes); 0 keeps the kernel's
	// autotuning. A small buffer bounds kernel memory per stalled viewer and makes
	// stalls visible sooner, at the cost of throughput on long paths.
	SendBuffer int
	// SourceToken, when set, returns the token (SourceTokenHeader) that lets
	// an internal reader (the AWS worker) read a watermarked channel's raw
	// source at /{channelId}/live.flv; everyone else is served the channel's
	// watermarked "{channelId}/original". nil: nobody reads the raw source
	// over HTTP.
	SourceToken func(channelID string) string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// SourceTokenHeader carries Config.SourceToken on an internal request for a
// watermarked channel's raw source.
const SourceTokenHeader = "X-Livestack-Source-Token"

// Counters are totals since start, for /metrics.
type Counters struct {
	FLVViewers     atomic.Int64
	FLVSessions    atomic.Int64
	FLVBytes       atomic.Int64
	FLVWriteErrors atomic.Int64
	FLVTooSlow     atomic.Int64
}

// Server serves playback requests.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// Counters are exported for metrics.
	Counters Counters
}

// New builds a playback server.
func New(cfg Config) *Server {
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, log: cfg.Logger.With("component", "playback"), ctx: ctx, cancel: cancel}
}

// Register adds the playback routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{channel}/live.flv", s.handleFLV)
	mux.HandleFunc("GET /{channel}/{rendition}/live.flv", s.handleFLV)
	mux.HandleFunc("OPTIONS /{channel}/", s.handlePreflight)
}

// Close ends every viewer session (each gets a clean end of stream) and waits
// for them, or for ctx.
func (s *Server) Close(ctx context.Context) error {
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// renditions a path may name after the channel id.
var renditions = map[string]bool{"360p": true, "480p": true, "720p": true, "1080p": true, "original": true, "source": true}

// streamKey maps the path values onto a hub key: "{channel}" or "{channel}/{rendition}".
func streamKey(r *http.Request) (channelID, key string, err error) {
	channelID = r.PathValue("channel")
	if !channel.ValidID(channelID) {
		return "", "", errBadID
	}
	key = channelID
	if rend := r.PathValue("rendition"); rend != "" {
		if !renditions[rend] {
			return "", "", errBadID
		}
		if rend != "source" {
			key = channelID + "/" + rend
		}
	}
	return channelID, key, nil
}

var errBadID = errors.New("bad stream path")

func (s *Server) handlePreflight(w http.ResponseWriter, r *http.Request) {
	setCORS(w.Header())
	w.WriteHeader(http.StatusNoContent)
}

func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Range")
	h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range")
}

func httpError(w http.ResponseWriter, status int, msg string) {
	setCORS(w.Header())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

// subscribe applies authorization and maps hub errors onto statuses.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, merge bool) (*hub.Subscriber, string, bool) {
	id, key, err := streamKey(r)
	if err != nil {
		httpError(w, http.StatusNotFound, "no such stream")
		return nil, "", false
	}
	if s.cfg.Authorize != nil {
		if err := s.cfg.Authorize(r, id); err != nil {
			httpError(w, http.StatusForbidden, "playback not authorized")
			return nil, "", false
		}
	}
	if key == id {
		key = s.viewKey(r, id)
	}
	if r.Method == http.MethodHead {
		// Headers only: a HEAD response has no body and takes no viewer slot.
		if s.cfg.Hub.Stream(key) == nil {
			httpError(w, http.StatusNotFound, "stream not live")
			return nil, "", false
		}
		h := w.Header()
		h.Set("Content-Type", "video/x-flv")
		h.Set("Cache-Control", "no-cache, no-store")
		setCORS(h)
		w.WriteHeader(http.StatusOK)
		return nil, "", false
	}
	sub, err := s.cfg.Hub.Subscribe(key, hub.SubscribeOptions{Merge: merge})
	if err == nil && !sub.Stream().DirectPlay() {
		sub.Close()
		httpError(w, http.StatusNotFound, "HTTP-FLV is off for this channel")
		return nil, "", false
	}
	switch {
	case errors.Is(err, hub.ErrNotFound):
		httpError(w, http.StatusNotFound, "stream not live")
		return nil, "", false
	case errors.Is(err, hub.ErrTooManyViewers):
		w.Header().Set("Retry-After", "10")
		httpError(w, http.StatusServiceUnavailable, "too many viewers")
		return nil, "", false
	case err != nil:
		httpError(w, http.StatusInternalServerError, "subscribe failed")
		return nil, "", false
	}
	return sub, key, true
}

// viewKey is the hub key a request for channel id's own stream plays: the
// stream's ViewKey (a watermarked channel's "{id}/original") unless the
// request carries the internal source token.
func (s *Server) viewKey(r *http.Request, id string) string {
	st := s.cfg.Hub.Stream(id)
	if st == nil || st.ViewKey() == "" {
		return id
	}
	if s.cfg.SourceToken != nil {
		if got := r.Header.Get(SourceTokenHeader); got != "" {
			if want := s.cfg.SourceToken(id); want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
				return id
			}
		}
	}
	return st.ViewKey()
}

// remoteIP trims the port of r.RemoteAddr for logs.
func remoteIP(r *http.Request) string {
	if i := strings.LastIndexByte(r.RemoteAddr, ':'); i > 0 {
		return r.RemoteAddr[:i]
	}
	return r.RemoteAddr
}
