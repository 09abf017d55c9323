package abr

import (
	"bytes"
	"context"
	"sync"

	"github.com/yutopp/go-amf0"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
)

// frameRates caches each rendition stream's nominal frame rate, read once
// from its onMetaData ("framerate", which ffmpeg writes from the encoded
// stream's rate). The hub's measured rate counts frames per wall-clock
// second, which reads low whenever the encoder runs behind real time.
type frameRates struct {
	mu sync.Mutex
	m  map[string]cachedRate
}

type cachedRate struct {
	s   *hub.Stream
	fps float64
}

func (c *frameRates) get(s *hub.Stream) float64 {
	c.mu.Lock()
	if e, ok := c.m[s.Key()]; ok && e.s == s {
		c.mu.Unlock()
		return e.fps
	}
	c.mu.Unlock()
	fps := metadataFrameRate(s)
	if fps <= 0 {
		return 0 // not cached: metadata may come later
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]cachedRate{}
	}
	for k, e := range c.m { // forget ended streams
		select {
		case <-e.s.Done():
			delete(c.m, k)
		default:
		}
	}
	c.m[s.Key()] = cachedRate{s: s, fps: fps}
	c.mu.Unlock()
	return fps
}

// metadataFrameRate returns the "framerate" of the stream's onMetaData, or 0.
func metadataFrameRate(s *hub.Stream) float64 {
	sub, err := s.Subscribe(hub.SubscribeOptions{Internal: true})
	if err != nil {
		return 0
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the first Read returns the cached headers at once, or nothing
	pkts, _ := sub.Read(ctx, nil)
	for _, p := range pkts {
		if p.Type == flv.TagScript {
			return parseFrameRate(p.Data())
		}
	}
	return 0
}

// parseFrameRate reads "framerate" from an onMetaData script body (AMF0
// "onMetaData" followed by an ECMA array or object).
func parseFrameRate(b []byte) float64 {
	dec := amf0.NewDecoder(bytes.NewReader(b))
	var name string
	if err := dec.Decode(&name); err != nil || name != "onMetaData" {
		return 0
	}
	var meta map[string]interface{}
	if err := dec.Decode(&meta); err != nil {
		return 0
	}
	if f, ok := meta["framerate"].(float64); ok && f > 0 && f <= 1000 {
		return f
	}
	return 0
}
