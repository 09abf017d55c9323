// Package ingest decides who may publish: the publish authorizer port the gateway
// asks before it accepts any media, with an in-process implementation (store +
// push signature, standalone) and an HTTP-callback one (the ingestauth Lambda on
// AWS). Both answer with the same Grant or a *Refusal naming the reason.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/livestack/livestack/shared/channel"
)

// PublishRequest is what the gateway knows when an encoder asks to publish.
type PublishRequest struct {
	// ChannelID is the stream name from rtmp://HOST/stream/{channelId}.
	ChannelID string `json:"channelId"`
	// Sign is the sign query parameter ({expiresUnix}-{hexHMAC}), possibly empty.
	Sign string `json:"sign"`
	// App is the RTMP application name (always "stream" today).
	App string `json:"app"`
	// RemoteAddr is the encoder's address.
	RemoteAddr string `json:"remoteAddr"`
	// Gateway is the address viewers and edges pull this gateway's streams from.
	Gateway string `json:"gateway"`
	// Region is the gateway's region (empty in standalone).
	Region string `json:"region,omitempty"`
	// SessionID identifies this publish (one RTMP connection).
	SessionID string `json:"sessionId"`
}

// Grant is a successful authorization.
type Grant struct {
	// Channel is the channel's configuration at publish time.
	Channel *channel.Channel `json:"channel"`
	// LeaseUntil is when the publish session lapses unless renewed.
	LeaseUntil time.Time `json:"leaseUntil"`
	// Rendition is set when a worker publishes one rendition of Channel under
	// "{channelId}/{rendition}" (see SplitRendition). Such a publish takes no
	// session and must not start stream hooks (relays, workers).
	Rendition string `json:"rendition,omitempty"`
}

// Authorizer is the publish authorization port.
type Authorizer interface {
	// AuthorizePublish returns a Grant or an error; a refusal is a *Refusal.
	AuthorizePublish(ctx context.Context, req PublishRequest) (Grant, error)
	// Renew extends a granted session's lease while it is live; a *Refusal means
	// the publish must stop (for example the channel was disabled).
	Renew(ctx context.Context, req PublishRequest) (Grant, error)
	// Unpublish ends the session.
	Unpublish(ctx context.Context, req PublishRequest) error
}

// Reason codes of refusals; stable strings used in logs, metrics and the
// callback contract (docs/ingest-callback.md).
const (
	ReasonUnsigned        = "unsigned"
	ReasonMalformed       = "malformed_signature"
	ReasonSignExpired     = "signature_expired"
	ReasonBadSignature    = "bad_signature"
	ReasonUnknownChannel  = "unknown_channel"
	ReasonDisabled        = "channel_disabled"
	ReasonChannelExpired  = "channel_expired"
	ReasonAlreadyLive     = "already_live"
	ReasonInvalidChannel  = "invalid_channel_id"
	ReasonUnavailable     = "authorizer_unavailable"
	ReasonTooManyStreams  = "too_many_streams"
	ReasonOutputsDisabled = "outputs_disabled"
	// ReasonSourceOffline: a rendition was published for a channel that is not live.
	ReasonSourceOffline = "source_offline"
)

// ErrRefused matches every *Refusal with errors.Is.
var ErrRefused = errors.New("publish refused")

// Refusal is a publish the authorizer said no to.
type Refusal struct {
	Reason string
	// Detail is for logs only; it is never sent to the encoder.
	Detail string
}

func (r *Refusal) Error() string {
	if r.Detail != "" {
		return fmt.Sprintf("publish refused: %s (%s)", r.Reason, r.Detail)
	}
	return "publish refused: " + r.Reason
}

// Unwrap makes errors.Is(err, ErrRefused) true.
func (r *Refusal) Unwrap() error { return ErrRefused }

// Refuse builds a *Refusal.
func Refuse(reason, detail string) *Refusal { return &Refusal{Reason: reason, Detail: detail} }

// ReasonOf returns the refusal reason of err, or "" when err is not a refusal.
func ReasonOf(err error) string {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}
