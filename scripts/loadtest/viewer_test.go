package main

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
)

// TestViewer plays a chunked HTTP-FLV stream from a test server: headers
// and a keyframe first, then, once the window is open, frames whose send
// times the test logs the way the publisher does.
func TestViewer(t *testing.T) {
	stream := testStream()
	log := &sendLog{}
	win := &window{}
	win.end.Store(math.MaxInt64)
	openWindow := make(chan struct{})
	const later = 10 // frames sent inside the window
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/load/live.flv" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "video/x-flv")
		b := flv.Header(true, true)
		for _, tag := range stream[:4] { // metadata, sequence headers, keyframe at 0
			b, _ = flv.AppendTag(b, tag.typ, tag.ts, tag.data)
		}
		w.Write(b)
		w.(http.Flusher).Flush()
		<-openWindow
		for i := range later {
			ts := uint32(1000 + 33*i)
			if i != later-1 { // the last frame was never "sent": unmatched
				log.Put(ts, nanotime()-int64(5*time.Millisecond))
			}
			b, _ = flv.AppendTag(b[:0], flv.TagVideo, ts, stream[5].data)
			b, _ = flv.AppendTag(b, flv.TagAudio, ts, stream[4].data)
			w.Write(b)
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	u, err := url.Parse(srv.URL + "/load/live.flv")
	require.NoError(t, err)
	cfg := &viewerConfig{URL: u, ReadBuffer: 4096, ConnectTimeout: 5 * time.Second, Log: log, Window: win}

	v := &viewer{precise: true}
	done := make(chan struct{})
	go func() { v.run(context.Background(), cfg); close(done) }()
	require.Eventually(t, func() bool { return v.phase.Load() == phasePlaying }, 5*time.Second, time.Millisecond)
	time.Sleep(time.Millisecond)
	win.start.Store(nanotime())
	close(openWindow)
	<-done // the server ends the response: the viewer sees the end

	require.Equal(t, phaseEnded, v.phase.Load())
	require.Equal(t, "closed by server", errorClass(v.err))
	require.NotZero(t, v.endedAt)
	require.Greater(t, v.firstKey, v.start)
	require.Less(t, time.Duration(v.firstKey-v.start), 5*time.Second)
	require.Equal(t, uint64(later-1), v.delay.Count())
	require.Equal(t, int64(1), v.unmatched)
	require.Positive(t, v.lag.Count(), "the newest frame of each read")
	require.GreaterOrEqual(t, v.delay.Quantile(0), 5*time.Millisecond)
	require.Less(t, v.delay.Max(), time.Second)
	want := int64(later * (15 + len(stream[5].data) + 15 + len(stream[4].data)))
	require.Equal(t, want, v.bytes, "FLV bytes of the tags inside the window")
	require.Zero(t, v.stalls)
}

func TestViewerStatus(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/nope/live.flv")
	win := &window{}
	v := &viewer{}
	v.run(context.Background(), &viewerConfig{URL: u, ReadBuffer: 4096, ConnectTimeout: 5 * time.Second, Log: &sendLog{}, Window: win})
	require.Equal(t, "http status 404", errorClass(v.err))
	require.Zero(t, v.firstKey)
}

func TestViewerStop(t *testing.T) {
	// A stream that never sends a keyframe: the viewer stops with its context,
	// and a stop is not an error.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/x-flv")
		w.Write(flv.Header(true, true))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/load/live.flv")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	v := &viewer{}
	v.run(ctx, &viewerConfig{URL: u, ReadBuffer: 4096, ConnectTimeout: 5 * time.Second, Log: &sendLog{}, Window: &window{}})
	require.NoError(t, v.err)
	require.Zero(t, v.endedAt)
}
