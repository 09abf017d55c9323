package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/jpeg"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/blob/fsblob"
	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/snapshot"
	"github.com/livestack/livestack/shared/store"
)

// snapPush publishes ffmpeg's input args (encoded as H.264 320x240, keyframe
// every second) to url in real time for secs seconds.
func snapPush(ctx context.Context, url string, secs int, input ...string) *exec.Cmd {
	args := append([]string{"-hide_banner", "-loglevel", "error", "-re"}, input...)
	args = append(args, "-t", strconv.Itoa(secs), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-c:a", "aac", "-f", "flv", url)
	return exec.CommandContext(ctx, "ffmpeg", args...)
}

// snapRecordings lists the channel's recordings of kind, oldest first.
func snapRecordings(t *testing.T, st store.Store, ch, kind string) []*store.Recording {
	page, err := st.ListRecordings(context.Background(), store.RecordingQuery{ChannelID: ch, Kind: kind, Limit: 100})
	require.NoError(t, err)
	recs := page.Recordings
	sort.Slice(recs, func(i, j int) bool { return recs[i].StartedAt.Before(recs[j].StartedAt) })
	return recs
}

// TestSnapshotsE2E pushes a test pattern for 8 s to a channel with snapshots
// every 2 s: pictures appear every 2 ± 1 s, each a 320x240 JPEG in the blob
// store indexed as a snapshot recording, and /{id}/snapshot.jpg serves the
// latest while the stream is live.
func TestSnapshotsE2E(t *testing.T) {
	needFFmpeg(t)
	var dataDir string
	in := testInstance(t, func(c *config) { dataDir = c.DataDir; c.ReconnectWindow = time.Second })
	push := in.addChannel(t, "snapcam", func(c *channel.Channel) {
		c.Recording.Snapshots = true
		c.Recording.SnapshotSeconds = 2
	})
	snapURL := in.URLs.PlayBase + "/snapcam/snapshot.jpg"
	resp, err := http.Get(snapURL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "no picture before the stream")

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := snapPush(ctx, push, 8, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// while live: the served picture is the newest indexed one
	waitFor(t, 15*time.Second, func() bool { return len(snapRecordings(t, in.Store, "snapcam", store.KindSnapshot)) >= 2 }, "two snapshots while live")
	resp, err = http.Get(snapURL)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
	require.Contains(t, resp.Header.Get("Cache-Control"), "max-age=")
	served := resp.Header.Get("X-Snapshot-Key")
	recs := snapRecordings(t, in.Store, "snapcam", store.KindSnapshot)
	newest := recs[len(recs)-1].Keys[0]
	if served != newest { // a new picture may have landed between the two requests
		require.Equal(t, recs[len(recs)-2].Keys[0], served, "served picture is the latest")
	}
	img, err := jpeg.Decode(bytes.NewReader(body))
	require.NoError(t, err)
	require.Equal(t, 320, img.Bounds().Dx())

	require.NoError(t, <-done, "ffmpeg: %s", stderr.String())
	// after the stream ends (1 s reconnect window) the picture is gone
	waitFor(t, 10*time.Second, func() bool {
		r, err := http.Get(snapURL)
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusNotFound
	}, "snapshot.jpg 404 after the stream ended")

	recs = snapRecordings(t, in.Store, "snapcam", store.KindSnapshot)
	// 8 s of stream: a picture at the first keyframe, then every 2 s
	require.GreaterOrEqual(t, len(recs), 4, "pictures in 8 s at 2 s")
	require.LessOrEqual(t, len(recs), 6)
	bs, err := fsblob.New(filepath.Join(dataDir, "blob"))
	require.NoError(t, err)
	for i, r := range recs {
		require.Len(t, r.Keys, 1)
		key := r.Keys[0]
		require.True(t, strings.HasPrefix(key, "snapshots/snapcam/"+r.BroadcastID+"/"), key)
		require.Equal(t, strconv.FormatInt(r.StartedAt.Unix(), 10)+".jpg", key[strings.LastIndexByte(key, '/')+1:])
		rc, info, err := bs.Get(context.Background(), key)
		require.NoError(t, err)
		require.Equal(t, "image/jpeg", info.ContentType)
		img, err := jpeg.Decode(rc)
		rc.Close()
		require.NoError(t, err, "picture %d", i)
		require.Equal(t, 320, img.Bounds().Dx())
		require.Equal(t, 240, img.Bounds().Dy())
		if i > 0 {
			gap := r.StartedAt.Sub(recs[i-1].StartedAt)
			require.InDelta(t, 2*time.Second, gap, float64(time.Second), "picture %d taken %v after the previous", i, gap)
		}
	}

	code, _, metricsBody := httpGet(t, in.URLs.PlayBase+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(metricsBody), "livestack_snapshots_taken_total "+strconv.Itoa(len(recs)))
}

// TestSnapshotsFromHTTPFLV runs the snapshotter as a worker does: on the
// stream pulled from the gateway over HTTP-FLV, not on the hub.
func TestSnapshotsFromHTTPFLV(t *testing.T) {
	needFFmpeg(t)
	in := testInstance(t, nil)
	push := in.addChannel(t, "pullcam", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := snapPush(ctx, push, 5, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine")
	require.NoError(t, cmd.Start())
	defer cmd.Wait()
	var src *snapshot.FLVSource
	waitFor(t, 10*time.Second, func() bool {
		var err error
		src, err = snapshot.OpenHTTPFLV(ctx, nil, in.flvURL("pullcam"))
		return err == nil
	}, "stream playable over HTTP-FLV")
	defer src.Close()
	bs, err := fsblob.New(t.TempDir())
	require.NoError(t, err)
	dec := snapshot.NewPersistent(snapshot.DecoderConfig{MaxWidth: 160})
	defer dec.Close()
	var pics []snapshot.Picture
	rctx, rcancel := context.WithTimeout(ctx, 3500*time.Millisecond)
	defer rcancel()
	err = snapshot.Run(rctx, snapshot.Config{ChannelID: "pullcam", BroadcastID: "b", Interval: time.Second, Blob: bs, Decoder: dec,
		OnPicture: func(p snapshot.Picture) { pics = append(pics, p) }}, src)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.GreaterOrEqual(t, len(pics), 3)
	for _, p := range pics {
		img, err := jpeg.Decode(bytes.NewReader(p.JPEG))
		require.NoError(t, err)
		require.Equal(t, 160, img.Bounds().Dx(), "scaled to MaxWidth")
		require.Equal(t, 120, img.Bounds().Dy())
	}
}

// TestSnapshotSignedPlayback: a channel that requires signed playback serves
// its picture only on the signed URL the API hands out.
func TestSnapshotSignedPlayback(t *testing.T) {
	needFFmpeg(t)
	in := testInstance(t, nil)
	push := in.addChannel(t, "signedcam", func(c *channel.Channel) {
		c.PlayAuth = true
		c.Recording.Snapshots = true
		c.Recording.SnapshotSeconds = 1
	})
	req, err := http.NewRequest(http.MethodGet, in.URLs.PlayBase+"/api/v1/channels/signedcam/urls", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+in.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var urls struct {
		Play map[string]string `json:"play"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&urls))
	resp.Body.Close()
	signed := urls.Play["snapshot"]
	require.Contains(t, signed, "/signedcam/snapshot.jpg?")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := snapPush(ctx, push, 4, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine")
	require.NoError(t, cmd.Start())
	defer cmd.Wait()
	waitFor(t, 10*time.Second, func() bool { return len(snapRecordings(t, in.Store, "signedcam", store.KindSnapshot)) >= 1 }, "a snapshot")
	// The picture is served once indexed and handed over (OnPicture comes
	// after the index write): on a loaded machine a moment later.
	waitFor(t, 5*time.Second, func() bool { code, _, _ := httpGet(t, signed); return code == http.StatusOK }, "the snapshot served")
	code, _, _ := httpGet(t, in.URLs.PlayBase+"/signedcam/snapshot.jpg")
	require.Equal(t, http.StatusForbidden, code, "unsigned")
	code, _, _ = httpGet(t, strings.Replace(signed, "Signature=", "Signature=AAAA", 1))
	require.Equal(t, http.StatusForbidden, code, "tampered")
	code, hdr, body := httpGet(t, signed)
	require.Equal(t, http.StatusOK, code, "signed")
	require.Equal(t, "image/jpeg", hdr.Get("Content-Type"))
	_, err = jpeg.Decode(bytes.NewReader(body))
	require.NoError(t, err)
}
