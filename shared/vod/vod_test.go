package vod_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/blob/fsblob"
	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/vod"
)

type recordings map[string]*store.Recording

func (m recordings) GetRecording(_ context.Context, id string) (*store.Recording, error) {
	if r, ok := m[id]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("recording %s: %w", id, store.ErrNotFound)
}

// getOnly hides RangeGetter: the handler must still answer ranges.
type getOnly struct{ blob.Store }

func setup(t *testing.T, wrap func(blob.Store) blob.Store) (*httptest.Server, string) {
	bs, err := fsblob.New(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = bs.Close() })
	ctx := context.Background()
	mp4 := strings.Repeat("0123456789", 100)
	require.NoError(t, bs.Put(ctx, "recordings/ch/r1-mp4/000001.mp4", strings.NewReader(mp4), int64(len(mp4)), ""))
	require.NoError(t, bs.Put(ctx, "vod/ch/r1-hls/index.m3u8", strings.NewReader("#EXTM3U\n"), 8, ""))
	require.NoError(t, bs.Put(ctx, "vod/ch/r1-hls/000001.ts", strings.NewReader("ts"), 2, ""))
	require.NoError(t, bs.Put(ctx, "recordings/other/secret.mp4", strings.NewReader("secret"), 6, ""))
	recs := recordings{
		"r1-mp4": {ID: "r1-mp4", ChannelID: "ch", Kind: store.KindMP4, Status: store.StatusComplete, Prefix: "recordings/ch/r1-mp4/"},
		"r1-hls": {ID: "r1-hls", ChannelID: "ch", Kind: store.KindHLS, Status: store.StatusRecording, Prefix: "vod/ch/r1-hls/"},
		"locked": {ID: "locked", ChannelID: "private", Kind: store.KindMP4, Status: store.StatusComplete, Prefix: "recordings/ch/r1-mp4/"},
	}
	var s blob.Store = bs
	if wrap != nil {
		s = wrap(s)
	}
	h := vod.New(vod.Config{Store: recs, Blob: s, Authorize: func(r *http.Request, ch string) error {
		if ch == "private" && r.URL.Query().Get("Signature") == "" {
			return fmt.Errorf("unsigned")
		}
		return nil
	}})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, mp4
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestServe(t *testing.T) {
	for name, wrap := range map[string]func(blob.Store) blob.Store{
		"RangeGetter": nil,
		"GetOnly":     func(s blob.Store) blob.Store { return getOnly{s} },
	} {
		t.Run(name, func(t *testing.T) {
			srv, mp4 := setup(t, wrap)
			resp, body := get(t, srv.URL+"/vod/r1-mp4/000001.mp4", nil)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, mp4, body)
			assert.Equal(t, "video/mp4", resp.Header.Get("Content-Type"))
			assert.Equal(t, "bytes", resp.Header.Get("Accept-Ranges"))
			assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
			assert.Contains(t, resp.Header.Get("Cache-Control"), "immutable")

			resp, body = get(t, srv.URL+"/vod/r1-mp4/000001.mp4", map[string]string{"Range": "bytes=105-114"})
			assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
			assert.Equal(t, "5678901234", body)
			assert.Equal(t, "bytes 105-114/1000", resp.Header.Get("Content-Range"))

			resp, body = get(t, srv.URL+"/vod/r1-mp4/000001.mp4", map[string]string{"Range": "bytes=-3"})
			assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
			assert.Equal(t, "789", body)

			resp, _ = get(t, srv.URL+"/vod/r1-mp4/000001.mp4", map[string]string{"Range": "bytes=2000-"})
			assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp.StatusCode)

			resp, _ = get(t, srv.URL+"/vod/r1-mp4/000001.mp4", nil)
			etag := resp.Header.Get("ETag")
			require.NotEmpty(t, etag)
			resp, body = get(t, srv.URL+"/vod/r1-mp4/000001.mp4", map[string]string{"If-None-Match": etag})
			assert.Equal(t, http.StatusNotModified, resp.StatusCode)
			assert.Empty(t, body)

			resp, body = get(t, srv.URL+"/vod/r1-hls/index.m3u8", nil)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "#EXTM3U\n", body)
			assert.Equal(t, "application/vnd.apple.mpegurl", resp.Header.Get("Content-Type"))
			assert.Equal(t, "no-cache", resp.Header.Get("Cache-Control"), "a playlist still recording")

			resp, body = get(t, srv.URL+"/vod/r1-hls/000001.ts", nil)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "video/mp2t", resp.Header.Get("Content-Type"))
			assert.Equal(t, "ts", body)

			req, _ := http.NewRequest(http.MethodHead, srv.URL+"/vod/r1-mp4/000001.mp4", nil)
			hr, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			hr.Body.Close()
			assert.Equal(t, http.StatusOK, hr.StatusCode)
			assert.Equal(t, int64(1000), hr.ContentLength)
		})
	}
}

func TestRefused(t *testing.T) {
	srv, _ := setup(t, nil)
	cases := []struct {
		path   string
		status int
	}{
		{"/vod/nope/000001.mp4", 404},
		{"/vod/r1-mp4/000002.mp4", 404},
		{"/vod/r1-mp4/", 404},
		{"/vod/r1-mp4", 404},
		{"/vod/r1-mp4/../../other/secret.mp4", 404},
		{"/vod/r1-mp4/..%2F..%2Fother%2Fsecret.mp4", 404},
		{"/vod/r1-mp4/.hidden", 404},
		{"/vod/r1-mp4/a/b.mp4", 404},
		{"/vod/..%2Fx/index.m3u8", 404},
		{"/vod/locked/000001.mp4", 403},
		{"/vod/locked/000001.mp4?Signature=x", 200},
	}
	for _, c := range cases {
		resp, body := get(t, srv.URL+c.path, nil)
		assert.Equal(t, c.status, resp.StatusCode, "%s: %s", c.path, body)
		assert.NotContains(t, body, "secret")
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/vod/r1-mp4/000001.mp4", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	req, _ = http.NewRequest(http.MethodOptions, srv.URL+"/vod/r1-mp4/000001.mp4", nil)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), "Range")
}
