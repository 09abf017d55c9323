// Package httpapi is livestack's REST API (/api/v1, and the earlier solution's
// /videostream) as a gin engine built from the ports. The same engine is
// served by the standalone binary and, wrapped by aws-lambda-go-api-proxy, by
// the api Lambda. Every route but /healthz requires a caller: the admin bearer
// token, an API key created through /api/v1/keys, or (in Lambda) the identity
// API Gateway's authorizer established. Errors are {"error":{"code","message"}};
// causes are logged with a request id, never echoed.
package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/playauth"
	"github.com/livestack/livestack/shared/relay"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store"
)

// StreamSource lists live streams and ends them; the hub (standalone, gateway)
// implements it through HubStreams.
type StreamSource interface {
	Streams() []StreamInfo
	Kick(key, reason string)
}

// StreamInfo is one live stream as /api/v1/streams shows it.
type StreamInfo struct {
	hub.Stats
	Relays []relay.State `json:"relays"`
	// Gateway is the address edges pull the stream from (from the publish session).
	Gateway string `json:"gateway,omitempty"`
	// Region is the gateway's region (AWS).
	Region string `json:"region,omitempty"`
	// Extra holds what StreamStats sources add, by source name ("transcode",
	// "packager"...).
	Extra map[string]any `json:"extra,omitempty"`
}

// StreamStats adds per-stream figures from other parts of the platform (the
// worker's ffmpeg progress, the packagers) to /api/v1/streams.
type StreamStats interface {
	// Name is the key the figures appear under in StreamInfo.Extra.
	Name() string
	// StreamStats returns the figures for the hub stream key, or nil.
	StreamStats(key string) any
}

// HubStreams adapts a hub (and its relays, when set) to StreamSource.
type HubStreams struct {
	Hub    *hub.Hub
	Relays *relay.Manager
}

// Streams returns every stream's stats.
func (h HubStreams) Streams() []StreamInfo {
	ss := h.Hub.Streams()
	out := make([]StreamInfo, 0, len(ss))
	for _, s := range ss {
		info := StreamInfo{Stats: s.Stats(), Relays: []relay.State{}}
		if h.Relays != nil {
			if st := h.Relays.States(s.Key()); st != nil {
				info.Relays = st
			}
		}
		out = append(out, info)
	}
	return out
}

// Kick ends the stream under key and every rendition of it.
func (h HubStreams) Kick(key, reason string) {
	for _, s := range h.Hub.Streams() {
		if s.Key() == key || strings.HasPrefix(s.Key(), key+"/") {
			s.Kick(reason)
		}
	}
}

// URLs builds the public push and play URLs when no domains are configured
// through /api/v1/domains.
type URLs struct {
	// PushBase is "rtmp://host:1935" (no trailing slash).
	PushBase string
	// PlayBase is "http://host:8080".
	PlayBase string
}

// Config of the API.
type Config struct {
	Store  store.Store
	Signer *signing.Signer
	// AdminToken is the bearer token that may do everything; required.
	AdminToken string
	// Streams may be nil: /api/v1/streams then lists the store's publish sessions.
	Streams StreamSource
	// StreamStats add figures to /api/v1/streams; may be empty.
	StreamStats []StreamStats
	URLs        URLs
	// PushURLTTL is how long an issued push URL stays valid when the channel has
	// no expiry of its own. Default 30 days.
	PushURLTTL time.Duration
	// PlaySigner signs play URLs of channels with playAuth; without it such
	// channels get no play URLs (503 play_signing_unavailable).
	PlaySigner *playauth.Signer
	// PlayURLTTL is how long a signed play URL stays valid. Default 24 h.
	PlayURLTTL time.Duration
	// Blobs holds recordings; DELETE /api/v1/recordings/{id} removes their
	// objects from it. Without it recordings cannot be deleted (503).
	Blobs blob.Store
	// CORSOrigins are the browser origins ("https://console.example.com") allowed
	// to call the API; none by default. "*" is refused.
	CORSOrigins []string
	// Identity, when set, recognizes callers API Gateway already authenticated
	// (Lambda mode; see APIGatewayIdentity). It is asked only when the request
	// carries no bearer token.
	Identity func(*http.Request) (Caller, error)
	// MaxBodyBytes limits request bodies. Default 1 MiB.
	MaxBodyBytes int64
	Logger       *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// API holds the handlers' dependencies.
type API struct {
	cfg     Config
	log     *slog.Logger
	origins map[string]bool
}

// New builds the gin engine serving /api/v1 and /videostream.
func New(cfg Config) (*gin.Engine, error) {
	if cfg.Store == nil || cfg.Signer == nil {
		return nil, errors.New("httpapi: Store and Signer are required")
	}
	if len(cfg.AdminToken) < 16 {
		return nil, errors.New("httpapi: AdminToken must be at least 16 characters")
	}
	if cfg.PushURLTTL <= 0 {
		cfg.PushURLTTL = 30 * 24 * time.Hour
	}
	if cfg.PlayURLTTL <= 0 {
		cfg.PlayURLTTL = 24 * time.Hour
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &API{cfg: cfg, log: cfg.Logger.With("component", "api"), origins: map[string]bool{}}
	for _, o := range cfg.CORSOrigins {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		if o == "" {
			continue
		}
		if o == "*" || (!strings.HasPrefix(o, "https://") && !strings.HasPrefix(o, "http://")) {
			return nil, fmt.Errorf("httpapi: CORS origin %q must be a scheme://host origin, not a wildcard", o)
		}
		a.origins[o] = true
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(a.recoverer, a.requestID, a.cors, a.bodyLimit)
	e.NoRoute(func(c *gin.Context) { a.fail(c, http.StatusNotFound, "not_found", "no such route", nil) })
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	a.routes(e)
	return e, nil
}

// routes registers every authenticated route; openapi.go documents each one.
func (a *API) routes(e *gin.Engine) {
	v1 := e.Group("/api/v1", a.auth)
	v1.GET("/openapi.json", a.openAPI)
	v1.POST("/channels", a.createChannel)
	v1.GET("/channels", a.listChannels)
	v1.GET("/channels/:id", a.getChannel)
	v1.PUT("/channels/:id", a.putChannel)
	v1.PATCH("/channels/:id", a.patchChannel)
	v1.DELETE("/channels/:id", a.deleteChannel)
	v1.GET("/channels/:id/urls", a.channelURLs)
	v1.POST("/channels/:id/rotate-key", a.rotateKey)
	v1.GET("/streams", a.listStreams)
	v1.GET("/recordings", a.listRecordings)
	v1.GET("/recordings/:id", a.getRecording)
	v1.DELETE("/recordings/:id", a.deleteRecording)
	v1.GET("/domains", a.getDomains)
	v1.PUT("/domains", a.putDomains)
	v1.GET("/templates", a.listTemplates)
	v1.GET("/templates/:id", a.getTemplate)
	v1.PUT("/templates/:id", a.putTemplate)
	keys := v1.Group("/keys", a.adminOnly)
	keys.GET("", a.listKeys)
	keys.POST("", a.createKey)
	keys.DELETE("/:id", a.deleteKey)

	vs := e.Group("/videostream", a.auth)
	vs.GET("", a.compatList)
	vs.POST("", a.compatCreate)
	vs.GET("/:id", a.compatGet)
	vs.PUT("/:id", a.compatPut)
	vs.DELETE("/:id", a.compatDelete)
}

func (a *API) requestID(c *gin.Context) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	c.Set("rid", id)
	c.Header("X-Request-Id", id)
	c.Next()
}

func (a *API) bodyLimit(c *gin.Context) {
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, a.cfg.MaxBodyBytes)
	}
	c.Next()
}

// cors answers preflights and sets the CORS headers for allowed origins only.
func (a *API) cors(c *gin.Context) {
	origin := c.GetHeader("Origin")
	allowed := origin != "" && a.origins[origin]
	if allowed {
		h := c.Writer.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "X-Request-Id, Location")
	}
	if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
		if !allowed {
			a.fail(c, http.StatusForbidden, "cors_origin", "origin not allowed", nil)
			return
		}
		h := c.Writer.Header()
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Max-Age", "600")
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	c.Next()
}

func (a *API) recoverer(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			a.fail(c, http.StatusInternalServerError, "internal", "internal error", fmt.Errorf("panic: %v", r))
		}
	}()
	c.Next()
}

// errorBody is the JSON error shape of every route.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// fail answers with the JSON error and logs the cause with the request id.
func (a *API) fail(c *gin.Context, status int, code, msg string, cause error) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	if cause != nil {
		a.log.Error("request failed", "rid", c.GetString("rid"), "method", c.Request.Method, "path", c.Request.URL.Path, "status", status, "error", cause)
	}
	c.AbortWithStatusJSON(status, b)
}

// storeFail maps a store error: not found, conflict, or a logged 500.
func (a *API) storeFail(c *gin.Context, what string, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.fail(c, http.StatusNotFound, "not_found", "no such "+what, nil)
	case errors.Is(err, store.ErrConflict):
		a.fail(c, http.StatusConflict, "conflict", "the "+what+" changed concurrently; retry", nil)
	default:
		a.fail(c, http.StatusInternalServerError, "store", "could not access the "+what, err)
	}
}
