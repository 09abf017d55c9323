package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseCounters(t *testing.T) {
	text := `# HELP livestack_subscriber_skips_total Times a lagging subscriber skipped.
# TYPE livestack_subscriber_skips_total counter
livestack_subscriber_skips_total 7
livestack_subscribers_dropped_total 2
livestack_flv_viewers 500
livestack_flv_viewers_too_slow_total 1
livestack_flv_write_errors_total 3e+00
livestack_stream_viewers{stream="load"} 500
livestack_subscriber_skips_total_other 99
`
	var c serverCounters
	got, err := parseCounters(strings.NewReader(text), &c)
	require.NoError(t, err)
	require.Equal(t, serverCounters{Skips: 7, Dropped: 2, TooSlow: 1, WriteErrors: 3, FLVViewers: 500}, got)

	_, err = parseCounters(strings.NewReader("livestack_flv_viewers many\n"), &c)
	require.ErrorContains(t, err, "livestack_flv_viewers")
}

func TestEnsureChannel(t *testing.T) {
	var created []map[string]any
	exists := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.Method + " " + r.URL.Path {
		case "POST /api/v1/channels":
			var body map[string]any
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			created = append(created, body)
			if exists {
				w.WriteHeader(http.StatusConflict)
				io.WriteString(w, `{"error":{"code":"exists","message":"a channel with this id exists"}}`)
				return
			}
			exists = true
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{}`)
		case "GET /api/v1/channels/load/urls":
			io.WriteString(w, `{"push":"rtmp://127.0.0.1:1935/stream/load?sign=1-ab","play":{"flv":"http://127.0.0.1:8080/load/live.flv","rtmp":"rtmp://127.0.0.1:1935/stream/load"}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	api := &apiClient{Base: srv.URL, Token: "s3cret"}

	u, err := api.ensureChannel(ctx, "load", 0, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "rtmp://127.0.0.1:1935/stream/load?sign=1-ab", u.Push)
	require.Equal(t, "http://127.0.0.1:8080/load/live.flv", u.Play.FLV)
	require.Equal(t, map[string]any{"id": "load", "name": "load", "delivery": map[string]any{"mergeWindowMillis": 0.0}}, created[0])

	_, err = api.ensureChannel(ctx, "load", -1, io.Discard) // exists: reused
	require.NoError(t, err)
	require.Equal(t, map[string]any{"id": "load", "name": "load"}, created[1])

	_, err = (&apiClient{Base: srv.URL, Token: "wrong"}).ensureChannel(ctx, "load", -1, io.Discard)
	require.ErrorContains(t, err, "401")

	_, err = api.ensureChannel(ctx, "other", -1, io.Discard)
	require.ErrorContains(t, err, "404")
}

func TestFreePorts(t *testing.T) {
	p, err := freePorts(3)
	require.NoError(t, err)
	require.Len(t, p, 3)
	require.NotEqual(t, p[0], p[1])
	require.NotEqual(t, p[1], p[2])
}

func TestSleep(t *testing.T) {
	pub := &pubState{done: make(chan struct{})}
	require.NoError(t, sleep(context.Background(), pub, time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, sleep(ctx, pub, time.Hour), context.Canceled)
	pub.err = io.ErrClosedPipe
	close(pub.done)
	require.ErrorIs(t, sleep(context.Background(), pub, time.Hour), io.ErrClosedPipe)
}

// An answer of several megabytes (/api/v1/streams with thousands of
// streams) is read whole.
func TestAPIClientReadsLargeAnswers(t *testing.T) {
	type item struct {
		Key string `json:"key"`
		Pad string `json:"pad"`
	}
	var want struct {
		Streams []item `json:"streams"`
	}
	for i := range 5000 {
		want.Streams = append(want.Streams, item{Key: fmt.Sprintf("load%04d", i), Pad: strings.Repeat("x", 600)})
	}
	body, err := json.Marshal(want)
	require.NoError(t, err)
	require.Greater(t, len(body), 2<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	var got struct {
		Streams []item `json:"streams"`
	}
	_, err = (&apiClient{Base: srv.URL}).do(context.Background(), http.MethodGet, "/api/v1/streams", nil, &got)
	require.NoError(t, err)
	require.Equal(t, want, got)
}
