package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/playback"
)

// ErrSourceGone is returned by Source.Open when the stream is not live: the
// worker has nothing to do and exits cleanly.
var ErrSourceGone = errors.New("source stream not live")

// Source opens the channel's stream, starting on a keyframe with its headers
// (what the gateway's GOP cache gives every new reader).
type Source interface {
	Open(ctx context.Context) (TagReader, error)
}

// TagReader yields FLV tags; io.EOF means the stream ended.
type TagReader interface {
	// Next returns the next tag. Its Data must not be modified.
	Next() (flv.Tag, error)
	// Tracks reports which tracks the stream declares.
	Tracks() (audio, video bool)
	Close() error
}

// defaultSourceClient bounds connecting and the response headers; the body
// (the live stream) is bounded by the request's context only.
var defaultSourceClient = &http.Client{Transport: &http.Transport{
	Proxy:                 nil,
	DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	ResponseHeaderTimeout: 10 * time.Second,
}}

// HTTPSource pulls HTTP-FLV from a gateway: http://{Gateway}/{Key}/live.flv
// (the internal address; workers are never exposed).
type HTTPSource struct {
	URL string
	// Token, when set, is sent as playback.SourceTokenHeader so the gateway
	// serves a watermarked channel's raw source (viewers get the watermarked
	// "original" at the same URL).
	Token string
	// Client defaults to one with 5 s connect and 10 s response-header timeouts.
	Client *http.Client
}

// Open requests the stream; a 404 is ErrSourceGone.
func (s HTTPSource) Open(ctx context.Context) (TagReader, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", s.URL, err)
	}
	if s.Token != "" {
		req.Header.Set(playback.SourceTokenHeader, s.Token)
	}
	c := s.Client
	if c == nil {
		c = defaultSourceClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", s.URL, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return nil, fmt.Errorf("source %s: %w", s.URL, ErrSourceGone)
	case resp.StatusCode != http.StatusOK:
		resp.Body.Close()
		return nil, fmt.Errorf("source %s: HTTP %d", s.URL, resp.StatusCode)
	}
	r := flv.NewReader(resp.Body, 0)
	if err := r.ReadHeader(); err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("source %s: %w", s.URL, err)
	}
	return &httpReader{body: resp.Body, r: r}, nil
}

type httpReader struct {
	body io.ReadCloser
	r    *flv.Reader
}

func (h *httpReader) Next() (flv.Tag, error) {
	t, err := h.r.Next()
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return t, io.EOF // the gateway ended the response mid-tag: the stream is over
	}
	return t, err
}
func (h *httpReader) Tracks() (bool, bool) { return h.r.HasAudio, h.r.HasVideo }
func (h *httpReader) Close() error         { return h.body.Close() }

// HubSource reads the stream straight from an in-process hub (standalone), as
// an internal subscriber: it works even when the channel's FLV output is off.
// Its renditions are watched live, so it asks for media without delay
// (hub.SubscribeOptions.LowLatency).
type HubSource struct {
	Hub *hub.Hub
	Key string
}

// Open subscribes to the stream; a missing stream is ErrSourceGone.
func (s HubSource) Open(ctx context.Context) (TagReader, error) {
	sub, err := s.Hub.Subscribe(s.Key, hub.SubscribeOptions{Internal: true, LowLatency: true})
	if errors.Is(err, hub.ErrNotFound) {
		return nil, fmt.Errorf("source %s: %w", s.Key, ErrSourceGone)
	}
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", s.Key, err)
	}
	return &hubReader{ctx: ctx, sub: sub}, nil
}

type hubReader struct {
	ctx  context.Context
	sub  *hub.Subscriber
	pkts []*hub.Packet
	next int
}

func (h *hubReader) Next() (flv.Tag, error) {
	for h.next >= len(h.pkts) {
		var err error
		h.pkts, err = h.sub.Read(h.ctx, h.pkts)
		h.next = 0
		if len(h.pkts) == 0 && err != nil {
			return flv.Tag{}, err
		}
	}
	p := h.pkts[h.next]
	h.next++
	return flv.Tag{Type: p.Type, Timestamp: p.Time, Data: p.Data()}, nil
}
func (h *hubReader) Tracks() (bool, bool) { return h.sub.Stream().Tracks() }
func (h *hubReader) Close() error         { h.sub.Close(); return nil }
