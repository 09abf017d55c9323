package rtmpserver_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/rtmpclient"
	"github.com/livestack/livestack/shared/rtmpserver"
)

type allowAll struct{}

func (allowAll) AuthorizePublish(_ context.Context, req ingest.PublishRequest) (ingest.Grant, error) {
	return ingest.Grant{Channel: &channel.Channel{ID: req.ChannelID, Enabled: true}, LeaseUntil: time.Now().Add(time.Minute)}, nil
}

func (a allowAll) Renew(ctx context.Context, req ingest.PublishRequest) (ingest.Grant, error) {
	return a.AuthorizePublish(ctx, req)
}

func (allowAll) Unpublish(context.Context, ingest.PublishRequest) error { return nil }

func startServer(t *testing.T, batch time.Duration) (*hub.Hub, string) {
	t.Helper()
	return serve(t, rtmpserver.Config{ReadBatch: batch})
}

// Test media: an AVC sequence header and a one-NALU keyframe.
var (
	avcHeader = []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe0, 0, 0}
	avcKey    = []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65}
)

// publishCam publishes the stream "cam" to the server at addr and returns the
// publisher, which closes when the test ends, and the context (20 s) it runs in.
func publishCam(t *testing.T, addr string) (context.Context, *rtmpclient.Publisher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	pub, err := rtmpclient.Publish(ctx, "rtmp://"+addr+"/stream/cam", rtmpclient.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pub.Close() })
	return ctx, pub
}

// serve runs a server with cfg on a free loopback port until the test ends
// and returns its hub and address. A nil Hub is made with cfg.Logger, a nil
// Authorizer allows everything, and a nil Logger discards.
func serve(t *testing.T, cfg rtmpserver.Config) (*hub.Hub, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Hub == nil {
		cfg.Hub = hub.New(hub.Config{Logger: cfg.Logger})
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = allowAll{}
	}
	srv, err := rtmpserver.New(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln, nil)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
		<-done
		cfg.Hub.Close()
	})
	return cfg.Hub, ln.Addr().String()
}

// A publisher's messages reach the hub in batches of ReadBatch while only
// internal subscribers (packagers, recorders) read the stream, and one by one
// once a viewer watches it; either way every message arrives, in order.
func TestReadBatchOnlyWithoutLowLatencyReaders(t *testing.T) {
	const batch = 150 * time.Millisecond
	for _, tc := range []struct {
		name   string
		opts   hub.SubscribeOptions
		server time.Duration
		// bursts: how many groups of messages (arrivals further apart than
		// 10 ms start a new group) the 60 frames 33 ms apart may come in.
		minBursts, maxBursts int
	}{
		{name: "internal reader only", opts: hub.SubscribeOptions{Internal: true}, server: batch, minBursts: 8, maxBursts: 20},
		{name: "a viewer", opts: hub.SubscribeOptions{}, server: batch, minBursts: 30, maxBursts: 61},
		{name: "LL-HLS packager", opts: hub.SubscribeOptions{Internal: true, LowLatency: true}, server: batch, minBursts: 30, maxBursts: 61},
		{name: "batching off", opts: hub.SubscribeOptions{Internal: true}, server: -1, minBursts: 30, maxBursts: 61},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, addr := startServer(t, tc.server)
			ctx, pub := publishCam(t, addr)
			require.NoError(t, pub.WriteTag(flv.TagVideo, 0, avcHeader))
			var s *hub.Stream
			require.Eventually(t, func() bool { s = h.Stream("cam"); return s != nil }, 5*time.Second, 5*time.Millisecond)
			sub, err := s.Subscribe(tc.opts)
			require.NoError(t, err)
			defer sub.Close()

			arrivals := make(chan []time.Time, 1)
			go func() {
				var at []time.Time
				for len(at) < 60 {
					pkts, err := sub.Read(ctx, nil)
					now := time.Now()
					for _, p := range pkts {
						if !p.Header {
							at = append(at, now)
						}
					}
					if err != nil {
						break
					}
				}
				arrivals <- at
			}()
			start := time.Now()
			for i := 0; i < 60; i++ {
				time.Sleep(time.Until(start.Add(time.Duration(i) * 33 * time.Millisecond)))
				frame := []byte{0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41}
				if i == 0 {
					frame[0] = 0x17
				}
				require.NoError(t, pub.WriteTag(flv.TagVideo, uint32(i*33), frame))
			}
			var at []time.Time
			select {
			case at = <-arrivals:
			case <-ctx.Done():
				t.Fatal("not every frame arrived")
			}
			require.Len(t, at, 60)
			bursts := 1
			for i := 1; i < len(at); i++ {
				if at[i].Sub(at[i-1]) > 10*time.Millisecond {
					bursts++
				}
			}
			t.Logf("60 frames in %d bursts", bursts)
			require.GreaterOrEqual(t, bursts, tc.minBursts)
			require.LessOrEqual(t, bursts, tc.maxBursts)
			last := time.Since(start.Add(59 * 33 * time.Millisecond))
			require.Less(t, last, batch+200*time.Millisecond, "batching delays the last frame by at most about one interval")
		})
	}
}

// A viewer arriving while the publisher's reads are batched gets the next
// frames without waiting for the batch interval.
func TestReadBatchStopsWhenAViewerArrives(t *testing.T) {
	const batch = 400 * time.Millisecond
	h, addr := startServer(t, batch)
	ctx, pub := publishCam(t, addr)
	require.NoError(t, pub.WriteTag(flv.TagVideo, 0, avcHeader))
	var s *hub.Stream
	require.Eventually(t, func() bool { s = h.Stream("cam"); return s != nil }, 5*time.Second, 5*time.Millisecond)
	frame := func(i int) {
		f := []byte{0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41}
		if i == 0 {
			f[0] = 0x17
		}
		require.NoError(t, pub.WriteTag(flv.TagVideo, uint32(i*33), f))
	}
	pkgr, err := s.Subscribe(hub.SubscribeOptions{Internal: true})
	require.NoError(t, err)
	defer pkgr.Close()
	for i := 0; i < 10; i++ { // batching: nobody watches
		frame(i)
		time.Sleep(33 * time.Millisecond)
	}
	// Right after a batch arrived the server sleeps for most of an interval.
	for done := false; !done; {
		pkts, err := pkgr.Read(ctx, nil)
		require.NoError(t, err)
		done = pkts[len(pkts)-1].Time == 297
	}
	viewer, err := s.Subscribe(hub.SubscribeOptions{})
	require.NoError(t, err)
	defer viewer.Close()
	_, err = viewer.Read(ctx, nil) // the GOP cache
	require.NoError(t, err)
	sent := time.Now()
	frame(10)
	for {
		pkts, err := viewer.Read(ctx, nil)
		require.NoError(t, err)
		if pkts[len(pkts)-1].Time == 330 {
			break
		}
	}
	require.Less(t, time.Since(sent), batch/2, "the viewer waited for the batch interval")
}
