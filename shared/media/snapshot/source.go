package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
)

// Packet is one media message of a stream, as the snapshot and motion paths
// see it whatever the stream comes from.
type Packet struct {
	Type flv.TagType
	// Time is the decode timestamp in milliseconds.
	Time uint32
	// Data is the FLV tag body. It must not be modified: a hub source shares
	// it with every other subscriber.
	Data []byte
	// Keyframe marks a video keyframe, Header a sequence header or metadata.
	Keyframe, Header bool
}

// Source yields a stream's packets in order. Next returns io.EOF when the
// stream has ended. A Source is used by one goroutine.
type Source interface {
	Next(ctx context.Context) (Packet, error)
	Close() error
}

// HubSource reads a stream of the in-process hub (the standalone, the gateway)
// through an internal subscriber. A subscriber dropped for falling behind is
// replaced by a fresh one, which restarts on the latest keyframe with the
// sequence headers, so a slow moment never ends the reading.
type HubSource struct {
	s     *hub.Stream
	sub   *hub.Subscriber
	buf   []*hub.Packet
	pos   int
	Skips int // resubscriptions after hub.ErrTooSlow
}

// NewHubSource subscribes to s, starting at its GOP cache.
func NewHubSource(s *hub.Stream) (*HubSource, error) {
	sub, err := s.Subscribe(hub.SubscribeOptions{Internal: true})
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", s.Key(), err)
	}
	return &HubSource{s: s, sub: sub}, nil
}

// Next implements Source.
func (h *HubSource) Next(ctx context.Context) (Packet, error) {
	for h.pos >= len(h.buf) {
		var err error
		h.buf, err = h.sub.Read(ctx, h.buf)
		h.pos = 0
		if errors.Is(err, hub.ErrTooSlow) {
			h.sub.Close()
			sub, serr := h.s.Subscribe(hub.SubscribeOptions{Internal: true})
			if serr != nil {
				return Packet{}, io.EOF // the stream ended meanwhile
			}
			h.sub = sub
			h.Skips++
			continue
		}
		if err != nil && len(h.buf) == 0 {
			return Packet{}, err
		}
	}
	p := h.buf[h.pos]
	h.buf[h.pos] = nil
	h.pos++
	return Packet{Type: p.Type, Time: p.Time, Data: p.Data(), Keyframe: p.Keyframe, Header: p.Header}, nil
}

// Close implements Source.
func (h *HubSource) Close() error {
	h.sub.Close()
	return nil
}

// FLVSource reads an FLV byte stream, such as the HTTP-FLV body a worker pulls
// from the gateway (/{channelId}/live.flv). Tags it cannot classify are
// skipped; a malformed stream ends with an error.
type FLVSource struct {
	rc io.ReadCloser
	r  *flv.Reader
}

// NewFLVSource reads FLV from rc; Close closes rc. maxTagSize bounds one tag
// (0 = 16 MiB).
func NewFLVSource(rc io.ReadCloser, maxTagSize int) *FLVSource {
	return &FLVSource{rc: rc, r: flv.NewReader(rc, maxTagSize)}
}

// Next implements Source. A blocked read ends when ctx ends only if the
// caller closes the source (closing an HTTP body unblocks it).
func (f *FLVSource) Next(ctx context.Context) (Packet, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Packet{}, err
		}
		tag, err := f.r.Next()
		if err != nil {
			return Packet{}, err
		}
		p, ok := Classify(tag.Type, tag.Timestamp, tag.Data)
		if ok {
			return p, nil
		}
	}
}

// Close implements Source.
func (f *FLVSource) Close() error { return f.rc.Close() }

// OpenHTTPFLV pulls an HTTP-FLV stream, such as a gateway's
// /{channelId}/live.flv, for a worker. The request is bound to ctx: when ctx
// ends, a blocked Next returns. client nil means http.DefaultClient.
func OpenHTTPFLV(ctx context.Context, client *http.Client, url string) (*FLVSource, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("pull %s: %s", url, resp.Status)
	}
	return NewFLVSource(resp.Body, 0), nil
}

// Classify builds a Packet from an FLV tag, reporting false for a tag whose
// audio/video header does not parse.
func Classify(typ flv.TagType, ts uint32, data []byte) (Packet, bool) {
	p := Packet{Type: typ, Time: ts, Data: data}
	switch typ {
	case flv.TagVideo:
		v, err := flv.ParseVideo(data)
		if err != nil {
			return p, false
		}
		p.Header = v.PacketType == flv.VideoSequenceHeader
		p.Keyframe = v.Keyframe && v.PacketType == flv.VideoFrames
	case flv.TagAudio:
		a, err := flv.ParseAudio(data)
		if err != nil {
			return p, false
		}
		p.Header = a.PacketType == flv.AudioSequenceHeader
	case flv.TagScript:
		p.Header = true
	default:
		return p, false
	}
	return p, true
}

// Resume runs attempt on fresh hub subscriptions to s until it returns nil,
// ctx ends or the stream ends, waiting a second after each error. The
// snapshot and motion managers share it; what names the work in the logs.
func Resume(ctx context.Context, s *hub.Stream, log *slog.Logger, what string, attempt func(ctx context.Context, src *HubSource) error) {
	for {
		src, err := NewHubSource(s)
		if err != nil {
			return // the stream ended
		}
		err = attempt(ctx, src)
		src.Close()
		if err == nil || ctx.Err() != nil {
			log.Info(what + " stopped")
			return
		}
		log.Warn(what+" interrupted; resuming", "error", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return
		case <-s.Done():
			return
		}
	}
}
