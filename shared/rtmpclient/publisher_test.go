package rtmpclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
)

// TestPublish: a publish goes live with the tags written, and Close ends it.
func TestPublish(t *testing.T) {
	srv := startServer(t, newTestAuth("ch"), nil)
	p, err := Publish(context.Background(), "rtmp://"+srv.Addr+"/stream/ch?sign="+testToken, Config{})
	require.NoError(t, err)
	require.NoError(t, p.WriteTag(flv.TagVideo, 0, synthAVCHeader))
	require.NoError(t, p.WriteTag(flv.TagVideo, 0, synthFrame(true, 5000)))
	require.NoError(t, p.WriteTag(flv.TagVideo, 40, synthFrame(false, 500)))
	require.ErrorContains(t, p.WriteTag(7, 40, nil), "type 7")
	s := srv.waitStream(t, "ch")
	require.Eventually(t, s.Live, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, p.Err())

	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "a second Close is harmless")
	require.Eventually(t, func() bool { return !s.Live() }, 5*time.Second, 10*time.Millisecond)
	require.Error(t, p.WriteTag(flv.TagVideo, 80, synthFrame(false, 500)))
}

// TestPublishRefused: Publish waits for the server's answer, so a refused
// publish is an error from Publish itself, naming the status but not the key.
func TestPublishRefused(t *testing.T) {
	srv := startServer(t, newTestAuth("ch"), nil)
	live, err := Publish(context.Background(), "rtmp://"+srv.Addr+"/stream/ch?sign="+testToken, Config{})
	require.NoError(t, err)
	defer live.Close()
	require.NoError(t, live.WriteTag(flv.TagVideo, 0, synthAVCHeader))
	require.Eventually(t, func() bool { s := srv.Hub.Stream("ch"); return s != nil && s.Live() }, 5*time.Second, 10*time.Millisecond)

	for name, url := range map[string]string{
		"bad signature": "rtmp://" + srv.Addr + "/stream/ch?sign=wrong-secret",
		"already live":  "rtmp://" + srv.Addr + "/stream/ch?sign=" + testToken,
	} {
		p, err := Publish(context.Background(), url, Config{Timeout: 5 * time.Second})
		require.Nil(t, p, name)
		require.ErrorIs(t, err, ErrRefused, name)
		require.ErrorContains(t, err, "NetStream.Publish", name)
		require.NotContains(t, err.Error(), "wrong-secret", name)
		require.NotContains(t, err.Error(), testToken, name)
	}
	require.NoError(t, live.Err(), "the live publisher is untouched")
}

// TestPublisherErr: once the server ends an accepted publish, Err says so and
// writes fail.
func TestPublisherErr(t *testing.T) {
	srv := startServer(t, newTestAuth("ch"), nil)
	p, err := Publish(context.Background(), "rtmp://"+srv.Addr+"/stream/ch?sign="+testToken, Config{WriteTimeout: time.Second})
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.WriteTag(flv.TagVideo, 0, synthAVCHeader))
	s := srv.waitStream(t, "ch")
	s.Kick("test over")
	require.Eventually(t, func() bool { return p.Err() != nil }, 5*time.Second, 10*time.Millisecond)
	err = p.WriteTag(flv.TagVideo, 40, synthFrame(true, 100))
	require.Error(t, err)
	require.True(t, errors.Is(err, p.Err()), "%v", err)
}
