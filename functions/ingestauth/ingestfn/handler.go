// Package ingestfn is the ingestauth function: it serves the gateway's
// publish/renew/unpublish callback contract (docs/ingest-callback.md) from
// Lambda. It checks the callback's HMAC signature, decides with the same
// ingest.Local the standalone build uses (push signature, channel, one live
// session per channel as a conditional write in DynamoDB) and publishes
// "Stream Started" / "Stream Stopped" to EventBridge.
//
// The function is invoked through its function URL (AWS_IAM auth: the gateway
// signs with SigV4 and the HMAC), through API Gateway, or with the Lambda
// Invoke API carrying the same function-URL-shaped payload; all three are the
// same HTTP request to this package.
package ingestfn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/livestack/livestack/shared/events"
	"github.com/livestack/livestack/shared/ingest"
)

// MaxBody bounds a callback body; real ones are a few hundred bytes.
const MaxBody = 64 << 10

// DefaultSkew is the accepted clock difference of a callback's timestamp.
const DefaultSkew = 5 * time.Minute

// Handler answers callbacks.
type Handler struct {
	// Auth decides (ingest.Local on the DynamoDB store).
	Auth ingest.Authorizer
	// Events receives Stream Started / Stream Stopped.
	Events events.Publisher
	// Secret is the callback HMAC secret (CallbackSecret).
	Secret []byte
	// Skew defaults to DefaultSkew.
	Skew time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Request is the part of a Lambda function URL / API Gateway (v1 or v2)
// event the handler reads.
type Request struct {
	Version         string            `json:"version,omitempty"`
	HTTPMethod      string            `json:"httpMethod,omitempty"`
	RawPath         string            `json:"rawPath,omitempty"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	RequestContext  struct {
		HTTP struct {
			Method string `json:"method"`
		} `json:"http"`
	} `json:"requestContext"`
}

// Response is a function URL / API Gateway proxy response.
type Response struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

func (r Request) method() string {
	if r.HTTPMethod != "" {
		return r.HTTPMethod
	}
	return r.RequestContext.HTTP.Method
}

func (r Request) header(name string) string {
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func (h *Handler) log() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func reply(status int, v any) Response {
	b, _ := json.Marshal(v)
	return Response{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(b)}
}

func deny(status int, reason string) Response {
	return reply(status, ingest.CallbackResponse{Allow: false, Reason: reason})
}

// Invoke handles one Lambda invocation. It returns an error only for an
// event it cannot read at all; every callback outcome is a Response.
func (h *Handler) Invoke(ctx context.Context, raw json.RawMessage) (Response, error) {
	var req Request
	if err := json.Unmarshal(raw, &req); err != nil {
		return Response{}, fmt.Errorf("ingestauth: decode event: %w", err)
	}
	return h.Serve(ctx, req), nil
}

// Serve answers one callback request.
func (h *Handler) Serve(ctx context.Context, req Request) Response {
	if m := req.method(); m != http.MethodPost {
		return reply(http.StatusMethodNotAllowed, map[string]string{"error": "POST only"})
	}
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return reply(http.StatusBadRequest, map[string]string{"error": "body is not base64"})
		}
		body = b
	}
	if len(body) > MaxBody {
		return reply(http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large"})
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	skew := h.Skew
	if skew <= 0 {
		skew = DefaultSkew
	}
	if err := ingest.VerifySignature(h.Secret, req.header(ingest.TimestampHeader), req.header(ingest.SignatureHeader), body, now(), skew); err != nil {
		h.log().Warn("callback refused: signature", "err", err)
		return deny(http.StatusUnauthorized, ingest.ReasonBadSignature)
	}
	var cb ingest.CallbackRequest
	if err := json.Unmarshal(body, &cb); err != nil {
		return reply(http.StatusBadRequest, map[string]string{"error": "bad callback JSON"})
	}
	log := h.log().With("action", cb.Action, "channel", cb.ChannelID, "session", cb.SessionID, "gateway", cb.Gateway)
	_, _, rendition := ingest.SplitRendition(cb.ChannelID)
	switch cb.Action {
	case ingest.ActionPublish, ingest.ActionRenew:
		var g ingest.Grant
		var err error
		if cb.Action == ingest.ActionPublish {
			g, err = h.Auth.AuthorizePublish(ctx, cb.PublishRequest)
		} else {
			g, err = h.Auth.Renew(ctx, cb.PublishRequest)
		}
		if reason := ingest.ReasonOf(err); reason != "" {
			log.Info("callback denied", "reason", reason, "err", err)
			return deny(http.StatusForbidden, reason)
		}
		if err != nil {
			log.Error("callback failed", "err", err)
			return reply(http.StatusInternalServerError, map[string]string{"error": "authorizer failed"})
		}
		if cb.Action == ingest.ActionPublish && !rendition && g.Rendition == "" {
			h.emit(ctx, log, events.StreamStarted(detail(cb.PublishRequest, now())))
		}
		log.Info("callback allowed", "leaseUntil", g.LeaseUntil)
		return reply(http.StatusOK, ingest.CallbackResponse{Allow: true, Grant: &g, LeaseUntil: g.LeaseUntil})
	case ingest.ActionUnpublish:
		if err := h.Auth.Unpublish(ctx, cb.PublishRequest); err != nil && !errors.Is(err, ingest.ErrRefused) {
			log.Error("unpublish failed", "err", err)
			return reply(http.StatusInternalServerError, map[string]string{"error": "unpublish failed"})
		}
		if !rendition {
			d := detail(cb.PublishRequest, now())
			stopped := now().UTC()
			d.StoppedAt, d.Reason = &stopped, "unpublished"
			h.emit(ctx, log, events.StreamStopped(d))
		}
		log.Info("unpublished")
		return reply(http.StatusOK, ingest.CallbackResponse{Allow: true})
	}
	return reply(http.StatusBadRequest, map[string]string{"error": "unknown action"})
}

// detail is the stream event detail of a callback: the broadcast is named
// after the publish session, as the gateway's own emitter names it.
func detail(r ingest.PublishRequest, now time.Time) events.StreamDetail {
	return events.StreamDetail{ChannelID: r.ChannelID, SessionID: r.SessionID, BroadcastID: r.SessionID,
		Gateway: r.Gateway, Region: r.Region, StartedAt: now.UTC()}
}

// emit publishes a stream event. A failure is logged, not returned: the
// publish goes ahead (viewers get the stream; only workers are missing), which
// beats refusing every broadcast while EventBridge is unavailable. The
// EventBridge publisher has already retried.
func (h *Handler) emit(ctx context.Context, log *slog.Logger, ev events.Event) {
	if h.Events == nil {
		return
	}
	if err := h.Events.Publish(ctx, ev); err != nil {
		log.Error("stream event not published", "type", ev.Type, "err", err)
	}
}
