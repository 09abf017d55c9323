package hls

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hls/hlstest"
	"github.com/livestack/livestack/shared/media/hub"
)

type recSink struct {
	mu    sync.Mutex
	segs  []Segment
	ended []string
}

func (r *recSink) SegmentReady(_ context.Context, seg Segment) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.segs = append(r.segs, seg)
}

func (r *recSink) StreamEnded(_ context.Context, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended = append(r.ended, key)
}

func publishClip(t *testing.T, pub *hub.Publisher, tags []flv.Tag, upTo uint32) {
	t.Helper()
	for _, tag := range tags {
		if tag.Timestamp > upTo {
			break
		}
		var err error
		switch tag.Type {
		case flv.TagVideo:
			err = pub.WriteVideo(tag.Timestamp, tag.Data)
		case flv.TagAudio:
			err = pub.WriteAudio(tag.Timestamp, tag.Data)
		case flv.TagScript:
			err = pub.WriteMetadata(tag.Data)
		}
		require.NoError(t, err)
	}
}

func serveGet(h http.Handler, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w
}

func TestManagerServesRenditionsSinkAndAuth(t *testing.T) {
	h := hub.New(hub.Config{ReconnectWindow: -1})
	defer h.Close()
	sink := &recSink{}
	m := NewManager(ManagerConfig{Sink: sink, RenditionPoll: 20 * time.Millisecond, Linger: time.Minute})
	m.SetHub(h)
	denied := errors.New("unsigned")
	handler := m.Handler(func(r *http.Request, id string) error {
		if r.URL.Query().Get("sig") != "ok" {
			return denied
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := &channel.Channel{ID: "cam", Enabled: true}
	ch.Normalize()
	ch.Outputs.HLSSegmentSeconds = 1
	ch.Recording.HLSVOD = true
	ch.Transcode = channel.Transcode{Enabled: true, Renditions: []string{"720p"}}

	src, err := h.Publish("cam", hub.PublishOptions{})
	require.NoError(t, err)
	m.StreamStarted(ctx, ch, src.Stream())
	// nothing yet: the playlist request waits, then 503
	w := serveGet(handler, "/cam/live.m3u8?sig=ok")
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "1", w.Header().Get("Retry-After"))

	rend, err := h.Publish("cam/720p", hub.PublishOptions{})
	require.NoError(t, err)
	tags := clip(t)
	publishClip(t, src, tags, 2500)
	require.Eventually(t, func() bool { return m.lookup("cam/720p") != nil }, 2*time.Second, 5*time.Millisecond, "rendition picked up")
	publishClip(t, rend, tags, 2500)

	require.Equal(t, http.StatusForbidden, serveGet(handler, "/cam/live.m3u8").Code)
	require.Equal(t, http.StatusNotFound, serveGet(handler, "/other/live.m3u8?sig=ok").Code)
	require.Equal(t, http.StatusNotFound, serveGet(handler, "/cam/999p/live.m3u8?sig=ok").Code)
	require.Equal(t, http.StatusNotFound, serveGet(handler, "/cam/master.m3u8?sig=ok").Code, "CMAF off")
	for _, p := range []string{"/cam/live.m3u8", "/cam/source/live.m3u8", "/cam/720p/live.m3u8"} {
		var w *httptest.ResponseRecorder
		require.Eventually(t, func() bool {
			w = serveGet(handler, p+"?sig=ok")
			return w.Code == http.StatusOK && strings.Count(w.Body.String(), "#EXTINF") == 2
		}, 3*time.Second, 20*time.Millisecond, p)
		require.Equal(t, "*", w.Header().Get("Access-Control-Allow-Origin"))
		require.Equal(t, "public, max-age=1", w.Header().Get("Cache-Control"))
		pl, err := hlstest.ParseMedia(w.Body.Bytes())
		require.NoError(t, err)
		require.NoError(t, pl.Validate())
		require.Len(t, pl.Segments, 2, p)
		// HEAD announces the size without muxing; the first GET muxes it
		segURL := p[:strings.LastIndexByte(p, '/')+1] + pl.Segments[0].URI + "?sig=ok"
		key := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(p, "/live.m3u8"), "/"), "/source")
		e := m.lookup(key)
		require.NotNil(t, e, key)
		seq, ok := parseSegmentName(pl.Segments[0].URI, e.token)
		require.True(t, ok)
		held, ok := e.ts.snap.Load().segment(seq)
		require.True(t, ok)
		head := httptest.NewRecorder()
		handler.ServeHTTP(head, httptest.NewRequest(http.MethodHead, segURL, nil))
		require.Equal(t, http.StatusOK, head.Code)
		require.Equal(t, strconv.Itoa(held.Size()), head.Header().Get("Content-Length"))
		if !strings.Contains(p, "/source/") { // the same segments as /cam/: muxed by then
			require.NotNil(t, held.body.frames, "HEAD muxed the segment")
		}
		seg := serveGet(handler, segURL)
		require.Equal(t, http.StatusOK, seg.Code)
		require.Equal(t, "video/mp2t", seg.Header().Get("Content-Type"))
		require.Equal(t, strconv.Itoa(seg.Body.Len()), seg.Header().Get("Content-Length"))
		require.Equal(t, held.Size(), seg.Body.Len())
		require.Nil(t, held.body.frames, "frames kept after muxing")
		demux(t, seg.Body.Bytes())
	}

	// a signed playlist request passes the signature on to the segments it lists
	w = serveGet(handler, "/cam/live.m3u8?sig=ok&Expires=99&Signature=abc&Key-Pair-Id=K")
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "private, no-cache", w.Header().Get("Cache-Control"))
	signed, err := hlstest.ParseMedia(w.Body.Bytes())
	require.NoError(t, err)
	for _, s := range signed.Segments {
		require.True(t, strings.HasSuffix(s.URI, ".ts?Expires=99&Key-Pair-Id=K&Signature=abc"), s.URI)
	}

	// end both streams: the sink gets the last segment and the end, the playlist ENDLIST
	src.Close("test")
	rend.Close("test")
	require.Eventually(t, func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.ended) == 2
	}, 3*time.Second, 10*time.Millisecond)
	sink.mu.Lock()
	byKey := map[string][]Segment{}
	for _, s := range sink.segs {
		byKey[s.StreamKey] = append(byKey[s.StreamKey], s)
		require.Equal(t, "cam", s.ChannelID)
	}
	sink.mu.Unlock()
	for _, k := range []string{"cam", "cam/720p"} {
		segs := byKey[k]
		require.Len(t, segs, 3, k)
		var total time.Duration
		for i, s := range segs {
			require.Equal(t, uint64(i), s.Seq)
			total += s.Duration
		}
		require.InDelta(t, 2.54, total.Seconds(), 0.05, k)
	}
	w = serveGet(handler, "/cam/720p/live.m3u8?sig=ok")
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), "#EXT-X-ENDLIST")

	// a new broadcast on the same key continues the sequence after a discontinuity
	src2, err := h.Publish("cam", hub.PublishOptions{})
	require.NoError(t, err)
	m.StreamStarted(ctx, ch, src2.Stream())
	publishClip(t, src2, tags, 1500)
	src2.Close("test")
	require.Eventually(t, func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.ended) == 3
	}, 3*time.Second, 10*time.Millisecond)
	sink.mu.Lock()
	last := sink.segs[len(sink.segs)-1]
	sink.mu.Unlock()
	require.Equal(t, "cam", last.StreamKey)
	require.Equal(t, uint64(4), last.Seq)
	w = serveGet(handler, "/cam/live.m3u8?sig=ok")
	pl, err := hlstest.ParseMedia(w.Body.Bytes())
	require.NoError(t, err, w.Body.String())
	require.Equal(t, uint64(3), pl.MediaSequence)
	require.True(t, pl.Segments[0].Discontinuity)
}

func TestManagerVODOnlyServesNoLivePlaylist(t *testing.T) {
	h := hub.New(hub.Config{ReconnectWindow: -1})
	defer h.Close()
	sink := &recSink{}
	m := NewManager(ManagerConfig{Sink: sink})
	off := false
	ch := &channel.Channel{ID: "rec", Enabled: true}
	ch.Normalize()
	ch.Outputs.HLS = &off
	ch.Recording.HLSVOD = true
	pub, err := h.Publish("rec", hub.PublishOptions{})
	require.NoError(t, err)
	m.StreamStarted(context.Background(), ch, pub.Stream())
	publishClip(t, pub, clip(t), 2500) // within the hub's 3 s MaxLag: the packager reads after we wrote
	pub.Close("done")
	require.Eventually(t, func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.ended) == 1
	}, 3*time.Second, 10*time.Millisecond)
	require.Len(t, sink.segs, 2)
	require.Equal(t, http.StatusNotFound, serveGet(m.Handler(nil), "/rec/live.m3u8").Code)
	// a channel with nothing to package starts nothing
	none := &channel.Channel{ID: "flvonly", Enabled: true}
	none.Normalize()
	none.Outputs.HLS = &off
	pub2, err := h.Publish("flvonly", hub.PublishOptions{})
	require.NoError(t, err)
	m.StreamStarted(context.Background(), none, pub2.Stream())
	require.Nil(t, m.lookup("flvonly"))
}

func TestManagerCMAFContinuesSequenceAcrossBroadcasts(t *testing.T) {
	h := hub.New(hub.Config{ReconnectWindow: -1})
	defer h.Close()
	m := NewManager(ManagerConfig{})
	handler := m.Handler(nil)
	ch := &channel.Channel{ID: "ll", Enabled: true}
	ch.Normalize()
	ch.Outputs.CMAF = true
	ch.Outputs.HLSSegmentSeconds = 1
	var firstLast uint64
	for round := 0; round < 2; round++ {
		pub, err := h.Publish("ll", hub.PublishOptions{})
		require.NoError(t, err)
		m.StreamStarted(context.Background(), ch, pub.Stream())
		publishClip(t, pub, clip(t), 2500)
		pub.Close("done")
		var pl *hlstest.Media
		require.Eventually(t, func() bool {
			w := serveGet(handler, "/ll/media.m3u8")
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "#EXT-X-ENDLIST") {
				return false
			}
			pl, err = hlstest.ParseMedia(w.Body.Bytes())
			return err == nil && m.lookup("ll").stream == pub.Stream()
		}, 3*time.Second, 10*time.Millisecond)
		require.NoError(t, pl.Validate())
		if round == 0 {
			require.Zero(t, pl.MediaSequence)
			firstLast = pl.Segments[len(pl.Segments)-1].Seq
			continue
		}
		require.Equal(t, firstLast+1, pl.MediaSequence)
		require.True(t, pl.Segments[0].Discontinuity)
	}
}
