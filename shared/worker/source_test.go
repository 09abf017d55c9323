package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/playback"
)

// The AWS worker pulls a watermarked channel's raw source from the gateway's
// /{id}/live.flv with its source token; without the token the same URL is the
// watermarked original (not live here), so the worker never reads its own
// output as its input.
func TestHTTPSourceTokenReadsRawSource(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := hub.New(hub.Config{ReconnectWindow: -1, Logger: quiet})
	defer h.Close()
	pb := playback.New(playback.Config{Hub: h, Logger: quiet,
		SourceToken: func(id string) string { return "token-of-" + id }})
	defer func() { _ = pb.Close(context.Background()) }()
	mux := http.NewServeMux()
	pb.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	f, err := os.Open("../media/flv/testdata/testsrc2-160x120.flv")
	require.NoError(t, err)
	defer f.Close()
	fr := flv.NewReader(f, 1<<20)
	p, err := h.Publish("cam", hub.PublishOptions{ViewAs: "cam/original"})
	require.NoError(t, err)
	defer p.Close("test")
	for {
		tag, err := fr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		switch tag.Type {
		case flv.TagScript:
			require.NoError(t, p.WriteMetadata(tag.Data))
		case flv.TagVideo:
			require.NoError(t, p.WriteVideo(tag.Timestamp, tag.Data))
		case flv.TagAudio:
			require.NoError(t, p.WriteAudio(tag.Timestamp, tag.Data))
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := srv.URL + "/cam/live.flv"
	for _, token := range []string{"", "token-of-other"} {
		_, err = HTTPSource{URL: url, Token: token}.Open(ctx)
		require.True(t, errors.Is(err, ErrSourceGone), "token %q: %v", token, err)
	}
	r, err := HTTPSource{URL: url, Token: "token-of-cam"}.Open(ctx)
	require.NoError(t, err)
	defer r.Close()
	audio, video := r.Tracks()
	require.True(t, video)
	require.True(t, audio)
	var sawVideo bool
	for i := 0; i < 4; i++ {
		tag, err := r.Next()
		require.NoError(t, err)
		sawVideo = sawVideo || tag.Type == flv.TagVideo
	}
	require.True(t, sawVideo, "the raw source's media reaches the worker")
}
