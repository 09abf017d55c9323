package worker

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/flv"
)

// scriptedSource serves one scripted session per Open: a list of tags then
// io.EOF; past the script it reports ErrSourceGone.
type scriptedSource struct {
	mu       sync.Mutex
	sessions [][]flv.Tag
	opens    int
}

func (s *scriptedSource) Open(context.Context) (TagReader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opens++
	if len(s.sessions) == 0 {
		return nil, ErrSourceGone
	}
	tags := s.sessions[0]
	s.sessions = s.sessions[1:]
	return &sliceReader{tags: tags}, nil
}

type sliceReader struct{ tags []flv.Tag }

func (r *sliceReader) Next() (flv.Tag, error) {
	if len(r.tags) == 0 {
		return flv.Tag{}, io.EOF
	}
	t := r.tags[0]
	r.tags = r.tags[1:]
	return t, nil
}
func (r *sliceReader) Tracks() (bool, bool) { return false, true }
func (r *sliceReader) Close() error         { return nil }

func syntheticGOPs(n int) []flv.Tag {
	tags := []flv.Tag{{Type: flv.TagVideo, Data: []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe0, 0}}}
	for g := 0; g < n; g++ {
		tags = append(tags, flv.Tag{Type: flv.TagVideo, Timestamp: uint32(g * 1000), Data: []byte{0x17, 1, 0, 0, 0, 9}})
		for i := 1; i < 10; i++ {
			tags = append(tags, flv.Tag{Type: flv.TagVideo, Timestamp: uint32(g*1000 + i*100), Data: []byte{0x27, 1, 0, 0, 0, 9}})
		}
	}
	return tags
}

// fakeFFmpeg is a stand-in that swallows its input and exits when it ends,
// so the supervision logic runs without encoding anything.
func fakeFFmpeg(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "ffmpeg")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\ncat >/dev/null\n"), 0o755))
	return p
}

func TestSourceDropIsNotStreamEnd(t *testing.T) {
	src := &scriptedSource{sessions: [][]flv.Tag{syntheticGOPs(3), syntheticGOPs(2)}}
	ch := &channel.Channel{ID: "c", Transcode: channel.Transcode{Enabled: true, Renditions: []string{"360p"}}}
	var urls []string
	var mu sync.Mutex
	err := Run(context.Background(), Config{
		ChannelID: "c", Channel: ch, Source: src, FFmpeg: fakeFFmpeg(t), ProbeTimeout: time.Second,
		PublishURL: func(r string) (string, error) {
			mu.Lock()
			urls = append(urls, r)
			mu.Unlock()
			return "rtmp://127.0.0.1:1/stream/c/" + r + "?sign=1-a", nil
		},
	})
	require.NoError(t, err)
	require.Equal(t, 3, src.opens, "a dropped source connection is reopened; the worker exits once the stream is gone")
	require.Equal(t, []string{"360p", "360p"}, urls, "each ffmpeg run signs its URLs anew")
}

func TestCrashLoopBacksOff(t *testing.T) {
	// An ffmpeg that exits at once while the source is still live: restarted
	// with a growing delay until ctx ends.
	p := filepath.Join(t.TempDir(), "ffmpeg")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\nexit 1\n"), 0o755))
	src := &blockingSource{tags: syntheticGOPs(2)}
	reg := NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ch := &channel.Channel{ID: "c", Transcode: channel.Transcode{Enabled: true, Renditions: []string{"360p"}}}
	start := time.Now()
	err := Run(ctx, Config{
		ChannelID: "c", Channel: ch, Source: src, FFmpeg: p, ProbeTimeout: time.Second, Stats: reg,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 400 * time.Millisecond,
		PublishURL: func(r string) (string, error) { return "rtmp://127.0.0.1:1/stream/c/" + r, nil },
	})
	require.NoError(t, err, "cancelled while backing off")
	require.GreaterOrEqual(t, time.Since(start), 2*time.Second)
	// 100 + 200 + 400 + 400 ms of backoff fit in 2 s, plus start-up time: 3-6 runs.
	require.GreaterOrEqual(t, src.opens(), 3)
	require.LessOrEqual(t, src.opens(), 7)
	_, ok := reg.Get("c")
	require.False(t, ok, "the registry entry goes with the worker")
}

// blockingSource serves the same tags on every Open and then blocks (a live
// stream that never ends).
type blockingSource struct {
	mu   sync.Mutex
	n    int
	tags []flv.Tag
}

func (s *blockingSource) Open(ctx context.Context) (TagReader, error) {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	return &blockingReader{ctx: ctx, tags: append([]flv.Tag(nil), s.tags...)}, nil
}

func (s *blockingSource) opens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

type blockingReader struct {
	ctx  context.Context
	tags []flv.Tag
}

func (r *blockingReader) Next() (flv.Tag, error) {
	if len(r.tags) == 0 {
		<-r.ctx.Done()
		return flv.Tag{}, r.ctx.Err()
	}
	t := r.tags[0]
	r.tags = r.tags[1:]
	return t, nil
}
func (r *blockingReader) Tracks() (bool, bool) { return false, true }
func (r *blockingReader) Close() error         { return nil }
