// Package httpapi is livestack's REST API (/api/v1) as a gin engine built from
// the ports. The same engine is served by the standalone binary and, wrapped by
// aws-lambda-go-api-proxy, by the api Lambda. Every route but health requires a
// bearer token. Errors are {"error":{"code","message"}}; causes are logged with
// a request id, never echoed.
package httpapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/livestack/livestack/shared/media/hub"
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

// URLs builds the public push and play URLs.
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
	// Streams may be nil (no live-stream listing).
	Streams StreamSource
	URLs    URLs
	// PushURLTTL is how long an issued push URL stays valid when the channel has
	// no expiry of its own. Default 30 days.
	PushURLTTL time.Duration
	// MaxBodyBytes limits request bodies. Default 1 MiB.
	MaxBodyBytes int64
	Logger       *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// API holds the handlers' dependencies.
type API struct {
	cfg Config
	log *slog.Logger
}

// New builds the gin engine serving /api/v1.
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
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &API{cfg: cfg, log: cfg.Logger.With("component", "api")}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(a.recoverer, a.requestID, a.bodyLimit)
	e.NoRoute(func(c *gin.Context) { a.fail(c, http.StatusNotFound, "not_found", "no such route", nil) })
	v1 := e.Group("/api/v1", a.auth)
	v1.POST("/channels", a.createChannel)
	v1.GET("/channels", a.listChannels)
	v1.GET("/channels/:id", a.getChannel)
	v1.DELETE("/channels/:id", a.deleteChannel)
	v1.GET("/channels/:id/urls", a.channelURLs)
	v1.GET("/streams", a.listStreams)
	return e, nil
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

func (a *API) recoverer(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			a.fail(c, http.StatusInternalServerError, "internal", "internal error", fmt.Errorf("panic: %v", r))
		}
	}()
	c.Next()
}

// auth accepts "Authorization: Bearer <admin token>".
func (a *API) auth(c *gin.Context) {
	h := c.GetHeader("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.AdminToken)) != 1 {
		c.Header("WWW-Authenticate", `Bearer realm="livestack"`)
		a.fail(c, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required", nil)
		return
	}
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
