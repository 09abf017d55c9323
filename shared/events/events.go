// Package events is livestack's event port: the control plane's facts about
// streams and recordings ("Stream Started", "Stream Stopped", "Recording Ready"),
// published by the gateway (standalone) or the ingestauth function (AWS) and
// consumed by the scheduler. Two implementations: an in-process Bus for the
// standalone build and EventBridge for AWS. The JSON details are a public
// contract documented in docs/events.md; extend them, never rename fields.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/livestack/livestack/shared/store"
)

// Event sources. Every livestack source starts with SourcePrefix, which the
// EventBridge rules of terraform/modules/events match (event_source_prefix);
// the part after it names the producer.
const (
	SourcePrefix     = "livestack."
	SourceGateway    = "livestack.gateway"    // gateway hooks, standalone
	SourceIngestAuth = "livestack.ingestauth" // the ingestauth function
	SourceWorker     = "livestack.worker"     // workers (Recording Ready)
	// Source is the default source of events built here.
	Source = SourceGateway
)

// Detail types ("detail-type" in EventBridge).
const (
	TypeStreamStarted  = "Stream Started"
	TypeStreamStopped  = "Stream Stopped"
	TypeRecordingReady = "Recording Ready"
)

// Event is one event with its decoded detail. Detail is one of *StreamDetail
// (stream events) or *RecordingDetail.
type Event struct {
	// ID is unique per event (EventBridge assigns its own on AWS; the bus sets
	// one). Consumers must not rely on it for idempotency: duplicates can carry
	// different ids.
	ID string `json:"id,omitempty"`
	// Type is the detail type, one of the Type* constants.
	Type string `json:"detail-type"`
	// Source is Source.
	Source string `json:"source"`
	// Time is when the event was produced.
	Time time.Time `json:"time"`
	// Region is where it was produced (empty in standalone).
	Region string `json:"region,omitempty"`
	// Detail is *StreamDetail or *RecordingDetail.
	Detail any `json:"detail"`
}

// StreamDetail is the detail of "Stream Started" and "Stream Stopped".
type StreamDetail struct {
	// ChannelID is the channel that went live / stopped.
	ChannelID string `json:"channelId"`
	// SessionID identifies one publish (one RTMP connection and its reconnects
	// within the reconnect window on one gateway).
	SessionID string `json:"sessionId"`
	// BroadcastID identifies the broadcast: the run of the stream from its
	// start until it stopped. It is what a worker task is keyed by. Equal to
	// SessionID today; kept separate so a broadcast can outlive sessions.
	BroadcastID string `json:"broadcastId"`
	// Gateway is the address (host:port of the gateway's HTTP listener) the
	// stream is pulled from.
	Gateway string `json:"gateway"`
	// RTMP is the gateway's internal RTMP address (host:port), when known.
	RTMP string `json:"rtmp,omitempty"`
	// Region of the gateway; empty in standalone.
	Region string `json:"region,omitempty"`
	// StartedAt is when the publish began.
	StartedAt time.Time `json:"startedAt"`
	// StoppedAt is set on "Stream Stopped".
	StoppedAt *time.Time `json:"stoppedAt,omitempty"`
	// Reason says why a stream stopped ("unpublished", "idle", "kicked"…), optional.
	Reason string `json:"reason,omitempty"`
}

// RecordingDetail is the detail of "Recording Ready": a finished recording
// (an MP4 file set, an HLS VOD, a snapshot or a motion clip) stored in the
// blob store and indexed in the store.
type RecordingDetail struct {
	ChannelID   string `json:"channelId"`
	BroadcastID string `json:"broadcastId,omitempty"`
	// RecordingID is the store's recording id (GET /api/v1/recordings/{id}).
	RecordingID string `json:"recordingId"`
	// Kind is the recording kind: "mp4", "hls", "snapshot" or "motion".
	Kind string `json:"kind"`
	// Status is "complete", or "incomplete" when a crash cut it short.
	Status string `json:"status,omitempty"`
	// Key is the main object: the playlist of a VOD, else the first file.
	Key string `json:"key"`
	// Keys are every main object, in play order; Prefix holds them all.
	Keys   []string `json:"keys,omitempty"`
	Prefix string   `json:"prefix,omitempty"`
	// Playlist is the VOD playlist key (hls, motion), if any.
	Playlist string `json:"playlist,omitempty"`
	// Bucket is the S3 bucket on AWS; empty in standalone.
	Bucket string `json:"bucket,omitempty"`
	// ContentType of Key, when known.
	ContentType string `json:"contentType,omitempty"`
	// Size is the total bytes of the recording.
	Size int64 `json:"size"`
	// StartedAt / EndedAt of the recorded media.
	StartedAt time.Time `json:"startedAt"`
	EndedAt   time.Time `json:"endedAt"`
	// DurationSeconds of the recorded media (0 for pictures).
	DurationSeconds float64 `json:"durationSeconds,omitempty"`
	Region          string  `json:"region,omitempty"`
}

// RecordingDetailOf describes a stored recording; bucket is the S3 bucket
// (empty in standalone).
func RecordingDetailOf(r store.Recording, bucket string) RecordingDetail {
	d := RecordingDetail{
		ChannelID: r.ChannelID, BroadcastID: r.BroadcastID, RecordingID: r.ID, Kind: r.Kind, Status: r.Status,
		Keys: append([]string(nil), r.Keys...), Prefix: r.Prefix, Playlist: r.Playlist, Bucket: bucket,
		Size: r.Bytes, StartedAt: r.StartedAt, DurationSeconds: float64(r.DurationMillis) / 1000, Region: r.Region,
	}
	switch {
	case r.Playlist != "":
		d.Key = r.Playlist
	case len(r.Keys) > 0:
		d.Key = r.Keys[0]
	default:
		d.Key = r.Prefix
	}
	if r.EndedAt != nil {
		d.EndedAt = *r.EndedAt
	} else {
		d.EndedAt = r.UpdatedAt
	}
	return d
}

// Publisher publishes events. Implementations are safe for concurrent use.
type Publisher interface {
	// Publish sends the events. An error means at least one event was not
	// delivered; it wraps the cause.
	Publish(ctx context.Context, evs ...Event) error
}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(ctx context.Context, evs ...Event) error

// Publish implements Publisher.
func (f PublisherFunc) Publish(ctx context.Context, evs ...Event) error { return f(ctx, evs...) }

// Handler consumes one event.
type Handler func(ctx context.Context, ev Event) error

// StreamStarted builds a "Stream Started" event.
func StreamStarted(d StreamDetail) Event {
	return Event{Type: TypeStreamStarted, Source: Source, Time: d.StartedAt, Region: d.Region, Detail: &d}
}

// StreamStopped builds a "Stream Stopped" event; StoppedAt must be set.
func StreamStopped(d StreamDetail) Event {
	t := time.Now()
	if d.StoppedAt != nil {
		t = *d.StoppedAt
	}
	return Event{Type: TypeStreamStopped, Source: Source, Time: t, Region: d.Region, Detail: &d}
}

// RecordingReady builds a "Recording Ready" event.
func RecordingReady(d RecordingDetail) Event {
	return Event{Type: TypeRecordingReady, Source: Source, Time: d.EndedAt, Region: d.Region, Detail: &d}
}

// ErrUnknownType is returned by DecodeDetail for a detail type this package
// does not know.
var ErrUnknownType = errors.New("unknown event detail type")

// DecodeDetail decodes raw detail JSON of the given detail type into
// *StreamDetail or *RecordingDetail and checks its required fields.
func DecodeDetail(detailType string, raw []byte) (any, error) {
	switch detailType {
	case TypeStreamStarted, TypeStreamStopped:
		var d StreamDetail
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("decode %s detail: %w", detailType, err)
		}
		if d.ChannelID == "" || d.BroadcastID == "" {
			return nil, fmt.Errorf("decode %s detail: channelId and broadcastId are required", detailType)
		}
		return &d, nil
	case TypeRecordingReady:
		var d RecordingDetail
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("decode %s detail: %w", detailType, err)
		}
		if d.ChannelID == "" || d.Key == "" {
			return nil, fmt.Errorf("decode %s detail: channelId and key are required", detailType)
		}
		return &d, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownType, detailType)
}

// Stream returns the stream detail of a stream event, or nil.
func (e Event) Stream() *StreamDetail {
	d, _ := e.Detail.(*StreamDetail)
	return d
}

// Recording returns the recording detail of a "Recording Ready" event, or nil.
func (e Event) Recording() *RecordingDetail {
	d, _ := e.Detail.(*RecordingDetail)
	return d
}

// FromEnvelope builds an Event from the fields of an EventBridge envelope (as
// a Lambda receives it), decoding the detail of known types. Sources outside
// SourcePrefix are refused: only livestack producers may start workers.
func FromEnvelope(id, source, detailType, region string, t time.Time, detail []byte) (Event, error) {
	if len(source) < len(SourcePrefix) || source[:len(SourcePrefix)] != SourcePrefix {
		return Event{}, fmt.Errorf("event %s: source %q is not a livestack source", id, source)
	}
	d, err := DecodeDetail(detailType, detail)
	if err != nil {
		return Event{}, fmt.Errorf("event %s: %w", id, err)
	}
	return Event{ID: id, Type: detailType, Source: source, Time: t, Region: region, Detail: d}, nil
}
