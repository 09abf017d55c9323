package rtmpclient

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/yutopp/go-rtmp/message"

	"github.com/livestack/livestack/shared/media/flv"
)

func TestDialFailures(t *testing.T) {
	srv := startServer(t, newTestAuth("ch"), nil)
	silent := silentServer(t)
	// go-rtmp's ClientConn.Connect waits forever on this one, even after Close.
	silentAfterHandshake := handshakeThen(t, nil)
	dropper := handshakeThen(t, func(c net.Conn) { c.Close() })
	// A chunk of a zero-length message: go-rtmp's chunk reader panics on it.
	malformed := handshakeThen(t, func(c net.Conn) { _, _ = c.Write([]byte{3, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0}) })
	publishUnanswered := (&fakeServer{silentOn: "publish"}).start(t)
	const timeout = 500 * time.Millisecond

	tests := []struct {
		name     string
		url      string
		cancel   time.Duration // cancel the context after this long
		refused  bool          // errors.Is(err, ErrRefused)
		contains []string
	}{
		{"connection refused", "rtmp://127.0.0.1:1/live/key", 0, false, []string{"connection refused"}},
		{"silent target", "rtmp://" + silent + "/live/key", 0, false, []string{"handshake", "no answer within 500ms"}},
		{"silent after handshake", "rtmp://" + silentAfterHandshake + "/live/key", 0, false, []string{`connect app "live"`, "no answer within 500ms"}},
		{"dropped after handshake", "rtmp://" + dropper + "/live/key", 0, false, []string{`connect app "live"`}},
		{"malformed message", "rtmp://" + malformed + "/live/key", 0, false, []string{"malformed message from server"}},
		{"publish unanswered", "rtmp://" + publishUnanswered + "/live/key", 0, false, []string{"waiting for the server's status", "no answer within 500ms"}},
		{"unknown app", "rtmp://" + srv.Addr + "/live/ch?sign=" + testToken, 0, true, []string{"NetConnection.Connect.Failed"}},
		{"bad signature", "rtmp://" + srv.Addr + "/stream/ch?sign=nope-nope", 0, true, []string{"NetStream.Publish.Failed"}},
		{"unknown channel", "rtmp://" + srv.Addr + "/stream/other?sign=" + testToken, 0, true, []string{"NetStream.Publish.Failed"}},
		{"cancelled", "rtmp://" + silent + "/live/key", 50 * time.Millisecond, false, []string{"context canceled"}},
		{"cancelled after handshake", "rtmp://" + silentAfterHandshake + "/live/key", 50 * time.Millisecond, false, []string{`connect app "live"`, "context canceled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel > 0 {
				time.AfterFunc(tt.cancel, cancel)
			}
			start := time.Now()
			c, err := Dial(ctx, tt.url, Options{Timeout: timeout, WriteTimeout: timeout})
			require.Error(t, err)
			require.Nil(t, c)
			require.Less(t, time.Since(start), timeout+time.Second, "bounded by the timeout")
			require.Equal(t, tt.refused, errors.Is(err, ErrRefused), "%v", err)
			for _, s := range tt.contains {
				require.Contains(t, err.Error(), s)
			}
			require.NotContains(t, err.Error(), testToken)
			require.NotContains(t, err.Error(), "nope-nope")
			if tt.cancel > 0 {
				require.ErrorIs(t, err, context.Canceled)
			}
		})
	}
}

func TestDialOptions(t *testing.T) {
	_, err := Dial(context.Background(), "rtmp://127.0.0.1:1/app", Options{})
	require.ErrorIs(t, err, ErrInvalidURL)
	_, err = Dial(context.Background(), "rtmp://127.0.0.1:1/app/secret-key", Options{ChunkSize: 1 << 24})
	require.ErrorContains(t, err, "chunk size 16777216 above 16777215")
	require.NotContains(t, err.Error(), "secret-key")

	o := Options{}
	require.NoError(t, o.setDefaults())
	require.Equal(t, Options{Timeout: 10 * time.Second, WriteTimeout: 10 * time.Second, ChunkSize: 4096,
		TLS: &tls.Config{MinVersion: tls.VersionTLS12}}, o)
}

func TestDialRTMPS(t *testing.T) {
	cert, pool := testCert(t)
	srv := startServer(t, newTestAuth("ch"), &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	url := "rtmps://" + srv.Addr + "/stream/ch?sign=" + testToken

	tests := []struct {
		name     string
		url      string
		tls      *tls.Config
		contains string // "" for success
	}{
		{"trusted root", url, &tls.Config{RootCAs: pool}, ""},
		{"system roots do not know the test CA", url, nil, "certificate"},
		{"server name checked", url, &tls.Config{RootCAs: pool, ServerName: "example.com"}, "certificate"},
		{"InsecureSkipVerify is the caller's choice", url, &tls.Config{InsecureSkipVerify: true}, ""},
		{"plain rtmp to the rtmps port", "rtmp://" + srv.Addr + "/stream/ch?sign=" + testToken, nil, "handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial(context.Background(), tt.url, Options{Timeout: 5 * time.Second, TLS: tt.tls})
			if tt.contains != "" {
				require.ErrorContains(t, err, tt.contains)
				return
			}
			require.NoError(t, err)
			defer c.Close(true)
			require.NoError(t, c.WriteTag(context.Background(), flv.TagVideo, 0, synthAVCHeader))
			require.NoError(t, c.WriteTag(context.Background(), flv.TagVideo, 0, synthFrame(true, 100)))
			s := srv.waitStream(t, "ch")
			require.Eventually(t, s.Live, 5*time.Second, 10*time.Millisecond)
			c.Close(true)
			require.Eventually(t, func() bool { return !s.Live() }, 5*time.Second, 10*time.Millisecond)
		})
	}
}

// TestConnAfterPublish: what a server may do once the publish started. The
// server's chunk size is 8192 throughout, and the status descriptions are
// longer than the default chunk size, so they read right only once applied.
func TestConnAfterPublish(t *testing.T) {
	const key = "stream-key-1234"
	long := strings.Repeat("x", 300)
	tests := []struct {
		name     string
		then     func(p *fakePeer)
		refused  bool
		contains string
	}{
		{"error status", func(p *fakePeer) {
			p.command(1, "onStatus", 0, nil, map[string]any{
				"level": "error", "code": "NetStream.Publish.BadName", "description": "name " + key + " taken " + long})
		}, true, "NetStream.Publish.BadName (name *** taken xxx"},
		{"close command", func(p *fakePeer) { p.command(0, "close", 0, nil) }, true, "server closed the stream"},
		{"warning status is not a failure, hang up is", func(p *fakePeer) {
			p.command(1, "onStatus", 0, nil, map[string]any{"level": "warning", "code": "NetStream.Publish.Idle", "description": long})
			time.Sleep(100 * time.Millisecond)
			p.nc.Close()
		}, false, "read from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pong := make(chan uint32, 1)
			addr := (&fakeServer{chunkSize: 8192, afterPublish: func(p *fakePeer) {
				// A ping first: the client answers it.
				p.send(2, 0, &message.UserCtrl{Event: &message.UserCtrlEventPingRequest{Timestamp: 1234}})
				select {
				case ts := <-p.pongs:
					pong <- ts
				case <-time.After(5 * time.Second):
					return
				}
				tt.then(p)
			}}).start(t)
			c, err := Dial(context.Background(), "rtmp://"+addr+"/live/"+key, Options{Timeout: 5 * time.Second})
			require.NoError(t, err)
			defer c.Close(false)
			select {
			case ts := <-pong:
				require.Equal(t, uint32(1234), ts)
			case <-time.After(5 * time.Second):
				t.Fatal("the ping was not answered")
			}
			select {
			case <-c.Failed():
			case <-time.After(5 * time.Second):
				t.Fatal("the failure was not reported")
			}
			err = c.Err()
			require.Equal(t, tt.refused, errors.Is(err, ErrRefused), "%v", err)
			require.ErrorContains(t, err, tt.contains)
			require.NotContains(t, err.Error(), key)
			require.Equal(t, err, c.WriteTag(context.Background(), flv.TagVideo, 0, synthAVCHeader))
		})
	}
}

// TestConnClose: a graceful Close unpublishes (FCUnpublish, deleteStream);
// Close without it, or a second Close, sends nothing more.
func TestConnClose(t *testing.T) {
	for _, graceful := range []bool{true, false} {
		f := &fakeServer{commands: make(chan string, 16)}
		addr := f.start(t)
		c, err := Dial(context.Background(), "rtmp://"+addr+"/live/key", Options{Timeout: 5 * time.Second})
		require.NoError(t, err)
		require.NoError(t, c.WriteTag(context.Background(), flv.TagVideo, 0, synthAVCHeader))
		c.Close(graceful)
		c.Close(true)
		require.Error(t, c.WriteTag(context.Background(), flv.TagVideo, 0, synthAVCHeader))
		want := []string{"connect", "releaseStream", "FCPublish", "createStream", "publish"}
		if graceful {
			want = append(want, "FCUnpublish", "deleteStream")
		}
		var got []string
		for len(got) < len(want) {
			select {
			case name := <-f.commands:
				got = append(got, name)
			case <-time.After(5 * time.Second):
				t.Fatalf("graceful %v: got %v, want %v", graceful, got, want)
			}
		}
		require.Equal(t, want, got, "graceful %v", graceful)
		select {
		case name := <-f.commands:
			t.Fatalf("graceful %v: unexpected %s", graceful, name)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestWriteTagUnknownType(t *testing.T) {
	addr := (&fakeServer{}).start(t)
	c, err := Dial(context.Background(), "rtmp://"+addr+"/live/key", Options{})
	require.NoError(t, err)
	defer c.Close(true)
	require.ErrorContains(t, c.WriteTag(context.Background(), 7, 0, nil), "type 7")
	require.NoError(t, c.Err())
}
