package rtmpserver_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
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

// slowAuth answers after delay, whatever its context says (as a store whose
// disk is stalled does), and counts the sessions it gave back.
type slowAuth struct {
	allowAll
	delay    time.Duration
	released *atomic.Int32
}

func (a slowAuth) AuthorizePublish(ctx context.Context, req ingest.PublishRequest) (ingest.Grant, error) {
	time.Sleep(a.delay)
	return a.allowAll.AuthorizePublish(ctx, req)
}

func (a slowAuth) Unpublish(context.Context, ingest.PublishRequest) error {
	a.released.Add(1)
	return nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A publish whose authorization outlasts the handshake timeout is dropped,
// and the log says where it was stuck; a slow authorization that makes it in
// time is logged as slow.
func TestSlowAuthorizationIsLogged(t *testing.T) {
	tests := []struct {
		name      string
		delay     time.Duration
		timeout   time.Duration
		published bool
		logs      []string
		live      bool // the stream started on the hub
	}{
		{"dropped while authorizing", 1500 * time.Millisecond, 500 * time.Millisecond, false,
			[]string{`msg="connection dropped: no publish or play in time"`, `step="authorizing publish"`}, false},
		{"slow but in time", 1100 * time.Millisecond, 5 * time.Second, true,
			[]string{`msg="publish authorization was slow"`, "took=1.1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			var released atomic.Int32
			h, addr := serve(t, rtmpserver.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				Authorizer: slowAuth{delay: tt.delay, released: &released}, HandshakeTimeout: tt.timeout})

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			pub, err := rtmpclient.Publish(ctx, "rtmp://"+addr+"/stream/cam", rtmpclient.Config{Timeout: 5 * time.Second})
			if tt.published {
				require.NoError(t, err)
				defer pub.Close()
			} else if err == nil {
				pub.Close()
			}
			require.Eventually(t, func() bool {
				for _, want := range tt.logs {
					if !bytes.Contains([]byte(logs.String()), []byte(want)) {
						return false
					}
				}
				return true
			}, 5*time.Second, 20*time.Millisecond, "log:\n%s", logs.String())
			if !tt.live {
				// The session taken by the late authorization is given back,
				// and no stream starts for the dropped connection.
				require.Eventually(t, func() bool { return released.Load() == 1 }, 5*time.Second, 20*time.Millisecond)
				require.Nil(t, h.Stream("cam"))
			} else {
				require.Zero(t, released.Load())
				require.NotNil(t, h.Stream("cam"))
			}
		})
	}
}

// slowHooks takes delay to start a stream, as a recorder waiting for its
// spool's flush does under heavy I/O.
type slowHooks struct{ delay time.Duration }

func (s slowHooks) StreamStarted(context.Context, *channel.Channel, *hub.Stream) { time.Sleep(s.delay) }

// A stream whose start outlasts the idle timeout is not dropped for "no
// media": none could be read meanwhile. The slow start is logged.
func TestSlowStreamStartIsNotIdle(t *testing.T) {
	var logs syncBuffer
	h, addr := serve(t, rtmpserver.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Hooks: slowHooks{delay: 1200 * time.Millisecond}, IdleTimeout: 800 * time.Millisecond})

	_, pub := publishCam(t, addr)
	// A publisher's first media comes a moment after its onStatus (an
	// encoder starting up); the idle check runs every 200 ms meanwhile.
	time.Sleep(400 * time.Millisecond)
	require.NoError(t, pub.WriteTag(flv.TagVideo, 0, avcHeader))
	for i := range 20 { // 1 s of keyframes, 50 ms apart
		require.NoError(t, pub.WriteTag(flv.TagVideo, uint32(i*50), avcKey))
		time.Sleep(50 * time.Millisecond)
	}
	require.Contains(t, logs.String(), `msg="stream start was slow"`)
	require.NotContains(t, logs.String(), "no media", "log:\n%s", logs.String())
	require.NotNil(t, h.Stream("cam"))
}

// A publisher past the idle timeout is dropped when it sent nothing, and kept
// (and logged) when what it sent waits unread in the socket: the server, not
// the publisher, is behind. A long ReadBatch stands for a server too busy to
// read.
func TestQuietPublisher(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batch   time.Duration
		sending bool
		want    string
	}{
		{"silent is dropped", 20 * time.Millisecond, false, `msg="publisher dropped: no media"`},
		{"unread is kept", 2 * time.Second, true, `msg="publisher not read in time: its media waits unread in the socket; the server is behind"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			h, addr := serve(t, rtmpserver.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				ReadBatch: tc.batch, IdleTimeout: 800 * time.Millisecond})
			_, pub := publishCam(t, addr)
			require.NoError(t, pub.WriteTag(flv.TagVideo, 0, avcHeader))
			require.NoError(t, pub.WriteTag(flv.TagVideo, 0, avcKey))
			for i := range 60 { // 3 s
				if tc.sending {
					require.NoError(t, pub.WriteTag(flv.TagVideo, uint32(i*50+50), avcKey))
				}
				time.Sleep(50 * time.Millisecond)
			}
			require.Contains(t, logs.String(), tc.want, "log:\n%s", logs.String())
			if tc.sending {
				require.NotContains(t, logs.String(), "no media", "log:\n%s", logs.String())
				require.NotNil(t, h.Stream("cam"))
				return
			}
			// The server closed the connection: writes fail.
			require.Eventually(t, func() bool {
				return pub.WriteTag(flv.TagVideo, 4000, avcKey) != nil
			}, 5*time.Second, 20*time.Millisecond)
		})
	}
}
