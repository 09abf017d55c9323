// Package hls packages live streams from the hub as MPEG-TS HTTP Live Streaming:
// keyframe-aligned segments held in memory as shared immutable byte slices, a sliding
// live playlist per stream, and a SegmentSink through which finished segments are
// handed to the recorder (HLS VOD).
package hls

import (
	"context"
	"time"
)

// Segment is one finished MPEG-TS segment. Every field is immutable once handed out;
// Data is shared with the live playlist and other sinks and must not be modified.
type Segment struct {
	// StreamKey is the hub stream key ("{channelId}" or "{channelId}/{rendition}").
	StreamKey string
	// ChannelID is the channel the stream belongs to.
	ChannelID string
	// Seq is the media sequence number; it never goes backwards for a StreamKey, also
	// across publisher reconnects inside the reconnect window.
	Seq uint64
	// Start is the media time of the segment's first sample since the stream began.
	Start time.Duration
	// Duration is the segment's media duration.
	Duration time.Duration
	// Discontinuity is set when codec parameters changed before this segment (a
	// playlist must write EXT-X-DISCONTINUITY before it).
	Discontinuity bool
	// ProgramDateTime is the wall-clock time of the segment's first sample.
	ProgramDateTime time.Time
	// Data holds the complete .ts bytes (PAT/PMT first, starts with a keyframe).
	Data []byte
}

// SegmentSink receives every finished segment of the streams it is configured for
// (see ManagerConfig.Sink and ManagerConfig.SinkFor). Calls for one stream come from
// one goroutine, in order; implementations must return quickly (queue the work) since
// the segmenter waits for them. A transcoded channel's renditions
// ("{channelId}/720p"…) are delivered too, each under its own StreamKey.
type SegmentSink interface {
	// SegmentReady is called once per finished segment.
	SegmentReady(ctx context.Context, seg Segment)
	// StreamEnded is called once when the stream ended (after its reconnect window)
	// and the last, possibly short, segment was delivered.
	StreamEnded(ctx context.Context, streamKey string)
}
