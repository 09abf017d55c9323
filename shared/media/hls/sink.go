// Package hls packages live streams from the hub as MPEG-TS HTTP Live Streaming:
// keyframe-aligned segments, a sliding live playlist per stream, and a SegmentSink
// through which finished segments are handed to the recorder (HLS VOD).
//
// Segments are muxed lazily: a finished segment holds its frames (aliasing the
// immutable hub packets, no copy) and the muxer state at its start, and produces
// its .ts bytes once, when first asked for (a viewer's request, the recorder).
// Most segments of a camera nobody watches live are never muxed. Their sizes and
// the continuity counters of the segments after them are exact without muxing.
package hls

import (
	"context"
	"time"
)

// Segment is one finished MPEG-TS segment. Every field is immutable once handed out;
// it is a small value, and its copies share the media: Bytes muxes it once for all.
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

	body *tsBody
}

// Bytes returns the complete .ts bytes (PAT/PMT first, starts with a keyframe),
// muxing them on the first call; later calls, from any goroutine, return the same
// slice, which must not be modified. It is nil for a zero Segment.
func (s Segment) Bytes() []byte {
	if s.body == nil {
		return nil
	}
	return s.body.bytes()
}

// Size is len(s.Bytes()), known without muxing.
func (s Segment) Size() int {
	if s.body == nil {
		return 0
	}
	return s.body.size
}

// WithBytes returns s carrying data as its .ts bytes, muxed elsewhere (tests,
// segments read back from storage). data must not be modified afterwards.
func (s Segment) WithBytes(data []byte) Segment {
	b := &tsBody{size: len(data), data: data}
	b.once.Do(func() {})
	s.body = b
	return s
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
