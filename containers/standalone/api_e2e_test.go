package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
)

// compatCurlBody is exactly the body of the earlier solution's users'
// example (issue 4, point 2).
const compatCurlBody = `{"isFlv":true,"isHls":false,"isVideo":false,"isImage":false,"isMotion":false,"isOnDemand":false,"isCMAF":false,"video_time":"60","image_time":"30","hls_time":"2","hls_list_size":"5","outdate":"2030-12-09"}`

// apiCall sends a request with the admin token to the running standalone.
func (in *instance) apiCall(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, in.URLs.PlayBase+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+in.AdminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// readVideo reads tags until an H.264 keyframe and a later frame arrive.
func readVideo(t *testing.T, v *viewer) {
	t.Helper()
	keyframes, frames := 0, 0
	for frames < 10 {
		tag, err := v.r.Next()
		require.NoError(t, err)
		if tag.Type != flv.TagVideo {
			continue
		}
		vt, err := flv.ParseVideo(tag.Data)
		require.NoError(t, err)
		if vt.PacketType == flv.VideoSequenceHeader {
			continue
		}
		if vt.Keyframe {
			keyframes++
		}
		if keyframes > 0 {
			frames++
		}
	}
	require.Positive(t, keyframes)
}

// TestCompatCurlThenPush runs the earlier solution's users' request as is
// against the standalone, then publishes to the push URL it returned and
// plays the stream back over HTTP-FLV.
func TestCompatCurlThenPush(t *testing.T) {
	fx := media(t)
	in := testInstance(t, nil)
	status, body := in.apiCall(t, "POST", "/videostream", compatCurlBody)
	require.Equal(t, 201, status, body)
	var rec struct {
		ID      string `json:"id"`
		Key     string `json:"key"`
		PushURL string `json:"pushUrl"`
		FLVURL  string `json:"flvUrl"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &rec))
	require.Equal(t, in.URLs.PushBase+"/stream/"+rec.ID+"?sign="+rec.Key, rec.PushURL)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- publishTags(ctx, rec.PushURL, fx, publishOpts{loops: 3}) }()
	v := openViewer(t, rec.FLVURL)
	readVideo(t, v)

	status, body = in.apiCall(t, "GET", "/api/v1/streams", "")
	require.Equal(t, 200, status)
	require.Contains(t, body, `"key":"`+rec.ID+`"`)
	require.Contains(t, body, `"videoCodec":"h264"`)
	cancel()
	<-done

	// The push URL of the list is not there: lists carry no push signatures.
	status, body = in.apiCall(t, "GET", "/videostream", "")
	require.Equal(t, 200, status)
	require.Contains(t, body, rec.ID)
	require.NotContains(t, body, rec.Key)
}

// TestSignedFLVPlay: a channel with playAuth plays only with the signed URL
// the API hands out.
func TestSignedFLVPlay(t *testing.T) {
	fx := media(t)
	in := testInstance(t, nil)
	status, body := in.apiCall(t, "POST", "/api/v1/channels", `{"id":"vip","playAuth":true}`)
	require.Equal(t, 201, status, body)
	status, body = in.apiCall(t, "POST", "/api/v1/channels", `{"id":"vip2","playAuth":true}`)
	require.Equal(t, 201, status, body)
	status, body = in.apiCall(t, "POST", "/api/v1/channels", `{"id":"open"}`)
	require.Equal(t, 201, status, body)
	urlsOf := func(id string) (push, flvURL string) {
		status, body := in.apiCall(t, "GET", "/api/v1/channels/"+id+"/urls", "")
		require.Equal(t, 200, status, body)
		var u struct {
			Push string
			Play map[string]string
		}
		require.NoError(t, json.Unmarshal([]byte(body), &u))
		return u.Push, u.Play["flv"]
	}
	vipPush, vipFLV := urlsOf("vip")
	openPush, openFLV := urlsOf("open")
	require.Contains(t, vipFLV, "Signature=")
	require.NotContains(t, openFLV, "Signature=")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: publishers end before the instance stops
	defer cancel()
	for _, u := range []string{vipPush, openPush} {
		wg.Go(func() { _ = publishTags(ctx, u, fx, publishOpts{loops: 3}) })
	}
	waitFor(t, 5*time.Second, func() bool {
		s, o := in.Gateway.Hub.Stream("vip"), in.Gateway.Hub.Stream("open")
		return s != nil && s.Live() && o != nil && o.Live()
	}, "streams never went live")

	get := func(u string) int {
		resp, err := http.Get(u)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	unsigned, _, _ := strings.Cut(vipFLV, "?")
	tampered := strings.Replace(vipFLV, "Expires=", "Expires=9", 1)
	require.Equal(t, 403, get(unsigned), "unsigned")
	require.Equal(t, 403, get(tampered), "tampered")
	require.Equal(t, 403, get(strings.Replace(vipFLV, "/vip/", "/vip2/", 1)), "signed for another channel's path")
	readVideo(t, openViewer(t, vipFLV))
	readVideo(t, openViewer(t, openFLV))
}

// TestSignedRTMPPlay: RTMP play of a playAuth channel needs the signature
// /urls puts on its rtmp URL; ffprobe reads the stream with it and is refused
// without it.
func TestSignedRTMPPlay(t *testing.T) {
	fx := media(t)
	if _, err := exec.LookPath("ffprobe"); err != nil {
		needFFmpeg(t) // ffprobe ships with ffmpeg
		t.Skip("ffprobe not installed")
	}
	in := testInstance(t, nil)
	status, body := in.apiCall(t, "POST", "/api/v1/channels", `{"id":"vip","playAuth":true}`)
	require.Equal(t, 201, status, body)
	status, body = in.apiCall(t, "GET", "/api/v1/channels/vip/urls", "")
	require.Equal(t, 200, status, body)
	var u struct {
		Push string
		Play map[string]string
	}
	require.NoError(t, json.Unmarshal([]byte(body), &u))
	require.Contains(t, u.Play["rtmp"], "Signature=")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = publishTags(ctx, u.Push, fx, publishOpts{loops: 5}) })
	waitFor(t, 5*time.Second, func() bool { s := in.Gateway.Hub.Stream("vip"); return s != nil && s.Live() }, "never went live")

	probe := func(target string) (string, error) {
		pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
		defer pcancel()
		out, err := exec.CommandContext(pctx, "ffprobe", "-v", "error", "-rw_timeout", "5000000",
			"-show_entries", "stream=codec_name", "-of", "csv=p=0", target).CombinedOutput()
		return string(out), err
	}
	out, err := probe(u.Play["rtmp"])
	require.NoError(t, err, out)
	require.Contains(t, out, "h264")
	require.Contains(t, out, "aac")
	unsigned, _, _ := strings.Cut(u.Play["rtmp"], "?")
	out, err = probe(unsigned)
	require.Error(t, err, "unsigned RTMP play must be refused: %s", out)
}

// TestSignedHLSPlay: the HLS URL /urls signs (a custom policy for the
// channel's files) plays: the playlist answers and its segment URIs carry the
// signature, which the segment requests pass; unsigned requests get 403.
func TestSignedHLSPlay(t *testing.T) {
	fx := media(t)
	in := testInstance(t, nil)
	status, body := in.apiCall(t, "POST", "/api/v1/channels", `{"id":"vipts","playAuth":true}`)
	require.Equal(t, 201, status, body)
	status, body = in.apiCall(t, "GET", "/api/v1/channels/vipts/urls", "")
	require.Equal(t, 200, status, body)
	var u struct {
		Push string
		Play map[string]string
	}
	require.NoError(t, json.Unmarshal([]byte(body), &u))
	require.Contains(t, u.Play["hls"], "Policy=")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = publishTags(ctx, u.Push, fx, publishOpts{loops: 3}) })

	get := func(target string) (int, string) {
		resp, err := http.Get(target)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	var playlist string
	waitFor(t, 10*time.Second, func() bool {
		s, b := get(u.Play["hls"])
		playlist = b
		return s == 200 && strings.Contains(b, "#EXTINF")
	}, "the signed playlist never listed a segment")
	var segment string
	for _, line := range strings.Split(playlist, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			segment = line
			break
		}
	}
	require.Contains(t, segment, "Signature=", "segment URIs carry the signature")
	base := u.Play["hls"][:strings.LastIndex(u.Play["hls"], "/")+1]
	s, data := get(base + segment)
	require.Equal(t, 200, s)
	require.Positive(t, len(data))
	require.Equal(t, byte(0x47), data[0], "an MPEG-TS segment")

	unsigned, _, _ := strings.Cut(u.Play["hls"], "?")
	s, _ = get(unsigned)
	require.Equal(t, 403, s, "unsigned playlist")
	segNoSig, _, _ := strings.Cut(segment, "?")
	s, _ = get(base + segNoSig)
	require.Equal(t, 403, s, "unsigned segment")
}
