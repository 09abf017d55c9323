package playback

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
)

// A watermarked channel's source (published with ViewAs) is never served to
// viewers: /{id}/live.flv is its "original" rendition, or not available
// before that is live; only the internal source token reads the raw source.
func TestFLVWatermarkedPlaysOriginal(t *testing.T) {
	e := newEnv(t, envOptions{pb: Config{SourceToken: func(id string) string { return "tok-" + id }}})
	tags := readFixture(t)
	raw, err := e.hub.Publish("cam", hub.PublishOptions{ViewAs: "cam/original"})
	require.NoError(t, err)
	publish(t, raw, tags)

	get := func(path, token string) *http.Response {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t.Cleanup(cancel)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+path, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set(SourceTokenHeader, token)
		}
		resp, err := e.srv.Client().Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, tc := range []struct {
		name, path, token string
		status            int
	}{
		{"channel path", "/cam/live.flv", "", 404},
		{"source rendition", "/cam/source/live.flv", "", 404},
		{"wrong token", "/cam/live.flv", "tok-other", 404},
		{"original not live", "/cam/original/live.flv", "", 404},
		{"internal source token", "/cam/live.flv", "tok-cam", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(tc.path, tc.token)
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.status == 200 {
				got, err := readTags(t, flv.NewReader(resp.Body, 0), 3)
				require.NoError(t, err)
				require.Equal(t, summarize(tags[:3]), summarize(got))
			}
			resp.Body.Close()
		})
	}
	// The internal reader may still be counted until its session notices the
	// close; viewers below must not add to it.
	rawViewers := e.hub.Stream("cam").Stats().Viewers

	// The worker's watermarked original goes live: the channel's path plays it.
	orig := e.publisher(t, "cam/original")
	publish(t, orig, tags)
	for _, path := range []string{"/cam/live.flv", "/cam/source/live.flv", "/cam/original/live.flv"} {
		resp := get(path, "")
		require.Equal(t, 200, resp.StatusCode, path)
		fr := flv.NewReader(resp.Body, 0)
		_, err := readTags(t, fr, 3) // metadata and sequence headers
		require.NoError(t, err)
		require.LessOrEqual(t, e.hub.Stream("cam").Stats().Viewers, rawViewers, "%s: no viewer reads the raw source", path)
		// A tag only the original carries reaches the viewer; one only the raw
		// source carries does not.
		require.NoError(t, raw.WriteVideo(900, tags[3].Data))
		marker := append([]byte(nil), tags[3].Data...)
		require.NoError(t, orig.WriteVideo(901, marker))
		for {
			tag, err := fr.Next()
			require.NoError(t, err, path)
			require.NotEqual(t, uint32(900), tag.Timestamp, "%s: a raw source tag was served", path)
			if tag.Timestamp == 901 {
				break
			}
		}
		resp.Body.Close()
	}
}
