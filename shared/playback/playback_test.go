package playback

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
)

// corsError is the header set of every error answer.
var corsError = map[string]string{
	"Access-Control-Allow-Origin":   "*",
	"Access-Control-Allow-Methods":  "GET, HEAD, OPTIONS",
	"Access-Control-Allow-Headers":  "Range",
	"Access-Control-Expose-Headers": "Content-Length, Content-Range",
	"Content-Type":                  "text/plain; charset=utf-8",
	"Cache-Control":                 "no-store",
}

func TestFLVErrors(t *testing.T) {
	e := newEnv(t, envOptions{pb: Config{Authorize: func(r *http.Request, id string) error {
		if id == "private" && r.URL.Query().Get("token") != "ok" {
			return errors.New("no token")
		}
		return nil
	}}})
	publish(t, e.publisher(t, "cam"), readFixture(t)[:4])
	publish(t, e.publisher(t, "private"), readFixture(t)[:4])

	for _, tc := range []struct {
		name   string
		path   string
		status int
		body   string
	}{
		{"not live", "/nobody/live.flv", 404, "stream not live\n"},
		{"rendition not live", "/cam/720p/live.flv", 404, "stream not live\n"},
		{"unknown rendition", "/cam/4k/live.flv", 404, "no such stream\n"},
		{"rendition traversal", "/cam/%2e%2e/live.flv", 404, "no such stream\n"},
		{"dot in id", "/a.b/live.flv", 404, "no such stream\n"},
		{"escaped dots", "/%2e%2e/live.flv", 404, "no such stream\n"},
		{"escaped slash", "/cam%2F720p/live.flv", 404, "no such stream\n"},
		{"leading dash", "/-cam/live.flv", 404, "no such stream\n"},
		{"65 characters", "/" + strings.Repeat("c", 65) + "/live.flv", 404, "no such stream\n"},
		{"not authorized", "/private/live.flv", 403, "playback not authorized\n"},
		{"wrong token", "/private/live.flv?token=no", 403, "playback not authorized\n"},
		{"not authorized rendition", "/private/source/live.flv", 403, "playback not authorized\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.srv.Client().Get(e.srv.URL + tc.path)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, tc.status, resp.StatusCode)
			require.Equal(t, tc.body, string(body))
			for k, v := range corsError {
				require.Equal(t, v, resp.Header.Get(k), k)
			}
		})
	}

	// Paths the mux does not route (or cleans) never reach a stream.
	for _, path := range []string{"/cam/live.flv/x", "/cam/a/b/live.flv", "/live.flv", "/cam/../cam/live.flv"} {
		req, err := http.NewRequest("GET", e.srv.URL+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultTransport.RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Contains(t, []int{301, 307, 404, 405}, resp.StatusCode, path)
	}

	// Authorized and source renditions play.
	for _, path := range []string{"/private/live.flv?token=ok", "/private/source/live.flv?token=ok", "/cam/source/live.flv"} {
		ctx, cancel := context.WithCancel(context.Background())
		req, err := http.NewRequestWithContext(ctx, "GET", e.srv.URL+path, nil)
		require.NoError(t, err)
		resp, err := e.srv.Client().Do(req)
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, path)
		_, err = readTags(t, flv.NewReader(resp.Body, 0), 4)
		require.NoError(t, err, path)
		cancel()
		resp.Body.Close()
	}
}

func TestFLVPreflight(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, path := range []string{"/cam/live.flv", "/cam/720p/live.flv", "/nobody/live.flv"} {
		req, err := http.NewRequest("OPTIONS", e.srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Origin", "https://player.example")
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "range")
		resp, err := e.srv.Client().Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 204, resp.StatusCode, path)
		require.Empty(t, body)
		require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
		require.Equal(t, "GET, HEAD, OPTIONS", resp.Header.Get("Access-Control-Allow-Methods"))
		require.Equal(t, "Range", resp.Header.Get("Access-Control-Allow-Headers"))
		require.Equal(t, "Content-Length, Content-Range", resp.Header.Get("Access-Control-Expose-Headers"))
	}
}

func TestFLVTooManyViewers(t *testing.T) {
	e := newEnv(t, envOptions{hub: hubConfigMaxViewers(1)})
	tags := readFixture(t)
	p := e.publisher(t, "cam")
	publish(t, p, tags[:4])

	first := rawRequest(t, e.addr(), "GET /cam/live.flv HTTP/1.1\r\nHost: test\r\n\r\n")
	require.Equal(t, "HTTP/1.1 200 OK", first.status)

	resp, err := e.srv.Client().Get(e.srv.URL + "/cam/live.flv")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 503, resp.StatusCode)
	require.Equal(t, "10", resp.Header.Get("Retry-After"))
	require.Equal(t, "too many viewers\n", string(body))
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))

	// Another stream is not affected.
	publish(t, e.publisher(t, "other"), tags[:4])
	other := rawRequest(t, e.addr(), "GET /other/live.flv HTTP/1.1\r\nHost: test\r\n\r\n")
	require.Equal(t, "HTTP/1.1 200 OK", other.status)

	// When the first viewer leaves (noticed on the next writes), its place frees up.
	first.conn.Close()
	ts := uint32(1000)
	waitFor(t, "the departed viewer's place is free", func() bool {
		ts += 33
		_ = p.WriteVideo(ts, tags[4].Data)
		resp, err := e.srv.Client().Get(e.srv.URL + "/cam/live.flv?again")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// TestFLVChunked reads a viewer's response off the wire and checks the chunk
// framing, the FLV inside it and the end of stream.
func TestFLVChunked(t *testing.T) {
	e := newEnv(t, envOptions{})
	tags := readFixture(t)
	p := e.publisher(t, "cam")
	publish(t, p, tags)

	r := rawRequest(t, e.addr(), "GET /cam/live.flv HTTP/1.1\r\nHost: test\r\nUser-Agent: raw\r\n\r\n")
	require.Equal(t, "HTTP/1.1 200 OK", r.status)
	require.Equal(t, map[string][]string{
		"Content-Type":                  {"video/x-flv"},
		"Cache-Control":                 {"no-cache, no-store"},
		"Access-Control-Allow-Origin":   {"*"},
		"Access-Control-Expose-Headers": {"Content-Length"},
		"X-Content-Type-Options":        {"nosniff"},
		"Connection":                    {"close"},
		"Transfer-Encoding":             {"chunked"},
	}, map[string][]string(r.header))

	dc := &dechunker{br: r.br}
	body := &countingReader{r: dc}
	fr := flv.NewReader(body, 0)
	// The viewer starts with the metadata and both sequence headers, then the
	// GOP cache from the latest keyframe (tags[9], at 100 ms).
	want := append(append([]flv.Tag{}, tags[:3]...), tags[9:]...)
	got, err := readTags(t, fr, len(want))
	require.NoError(t, err)
	require.True(t, fr.HasAudio)
	require.True(t, fr.HasVideo)
	require.Equal(t, summarize(want), summarize(got))
	require.Equal(t, []uint32{0, 100, 100}, []uint32{got[0].Timestamp, got[1].Timestamp, got[2].Timestamp},
		"headers are stamped at the GOP start")
	for i := 3; i < len(got); i++ {
		require.Equal(t, want[i].Timestamp, got[i].Timestamp, "tag %d", i)
	}
	v, err := flv.ParseVideo(got[3].Data)
	require.NoError(t, err)
	require.True(t, v.Keyframe)

	// Media published now reaches the viewer.
	require.NoError(t, p.WriteVideo(200, tags[3].Data))
	live, err := readTags(t, fr, 1)
	require.NoError(t, err)
	require.Equal(t, flv.Tag{Type: flv.TagVideo, Timestamp: 200, Data: tags[3].Data}, live[0])

	// The publisher leaves: the stream ends, the body ends with the last chunk
	// and the server closes the connection.
	p.Close("done")
	_, err = fr.Next()
	require.Equal(t, io.EOF, err, "the body ends at a tag boundary")
	require.True(t, dc.sawEnd, "terminating chunk 0\\r\\n\\r\\n")
	for i, n := range dc.sizes[:len(dc.sizes)-1] {
		require.Positive(t, n, "chunk %d", i)
	}
	rest, err := io.ReadAll(r.br)
	require.NoError(t, err)
	require.Empty(t, rest, "nothing follows the last chunk; the server closes")

	waitFor(t, "the viewer is counted out", func() bool { return e.pb.Counters.FLVViewers.Load() == 0 })
	require.Equal(t, int64(1), e.pb.Counters.FLVSessions.Load())
	require.Equal(t, body.n, e.pb.Counters.FLVBytes.Load(), "FLV bytes counted without the chunk framing")
	require.Zero(t, e.pb.Counters.FLVWriteErrors.Load())
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestFLVJoinBeforeMedia has the viewer wait on a stream with no media yet,
// through Go's HTTP client (which undoes the chunking).
func TestFLVJoinBeforeMedia(t *testing.T) {
	e := newEnv(t, envOptions{})
	tags := readFixture(t)
	p := e.publisher(t, "cam")

	// On HTTP/1.x the response head goes out with the first media.
	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := e.srv.Client().Get(e.srv.URL + "/cam/live.flv")
		got <- result{resp, err}
	}()
	waitFor(t, "the viewer is subscribed", func() bool { return e.pb.Counters.FLVViewers.Load() == 1 })
	publish(t, p, tags)
	res := <-got
	require.NoError(t, res.err)
	resp := res.resp
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, []string{"chunked"}, resp.TransferEncoding)
	require.Equal(t, "video/x-flv", resp.Header.Get("Content-Type"))

	fr := flv.NewReader(resp.Body, 0)
	read, err := readTags(t, fr, len(tags))
	require.NoError(t, err)
	require.Equal(t, summarize(tags), summarize(read), "everything, from the first keyframe on")
	p.Close("done")
	_, err = fr.Next()
	require.Equal(t, io.EOF, err)
}

func TestFLVHTTP10(t *testing.T) {
	e := newEnv(t, envOptions{})
	tags := readFixture(t)
	p := e.publisher(t, "cam")
	publish(t, p, tags)

	r := rawRequest(t, e.addr(), "GET /cam/live.flv HTTP/1.0\r\n\r\n")
	require.Equal(t, "HTTP/1.0 200 OK", r.status)
	require.Empty(t, r.header.Get("Transfer-Encoding"))
	require.Empty(t, r.header.Get("Content-Length"))
	require.Equal(t, "close", r.header.Get("Connection"))
	require.Equal(t, "video/x-flv", r.header.Get("Content-Type"))

	fr := flv.NewReader(r.br, 0)
	want := append(append([]flv.Tag{}, tags[:3]...), tags[9:]...)
	got, err := readTags(t, fr, len(want))
	require.NoError(t, err)
	require.Equal(t, summarize(want), summarize(got))

	// The body is delimited by the server closing the connection.
	p.Close("done")
	_, err = fr.Next()
	require.Equal(t, io.EOF, err)
}

func TestFLVCloseEndsViewers(t *testing.T) {
	e := newEnv(t, envOptions{})
	tags := readFixture(t)
	publish(t, e.publisher(t, "cam"), tags)

	chunked := rawRequest(t, e.addr(), "GET /cam/live.flv HTTP/1.1\r\nHost: test\r\n\r\n")
	plain := rawRequest(t, e.addr(), "GET /cam/live.flv HTTP/1.0\r\n\r\n")
	dc := &dechunker{br: chunked.br}
	readers := []*flv.Reader{flv.NewReader(dc, 0), flv.NewReader(plain.br, 0)}
	for _, fr := range readers {
		_, err := readTags(t, fr, 3)
		require.NoError(t, err)
	}
	waitFor(t, "both viewers are subscribed", func() bool { return e.pb.Counters.FLVViewers.Load() == 2 })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, e.pb.Close(ctx), "Close waits for the viewers")
	require.Zero(t, e.pb.Counters.FLVViewers.Load())

	for i, fr := range readers {
		var err error
		for err == nil {
			_, err = fr.Next()
		}
		require.Equal(t, io.EOF, err, "viewer %d ends cleanly", i)
	}
	require.True(t, dc.sawEnd, "the chunked viewer got 0\\r\\n\\r\\n")
	require.Equal(t, 0, dc.sizes[len(dc.sizes)-1])
	rest, err := io.ReadAll(chunked.br)
	require.NoError(t, err)
	require.Empty(t, rest)
	require.Zero(t, e.pb.Counters.FLVWriteErrors.Load())
}

// TestFLVCloseDuringWrite closes the server while a viewer's write is blocked
// (the viewer is not reading): the viewer still gets every tag once, then the
// terminating chunk.
func TestFLVCloseDuringWrite(t *testing.T) {
	e := newEnv(t, envOptions{pb: Config{SendBuffer: 4096}})
	tags := readFixture(t)
	p := e.publisher(t, "cam")
	publish(t, p, tags[:3])
	// A keyframe far larger than the socket buffers.
	big := append(append([]byte{}, tags[3].Data...), make([]byte, 4<<20)...)
	require.NoError(t, p.WriteVideo(0, big))

	r := rawRequest(t, e.addr(), "GET /cam/live.flv HTTP/1.1\r\nHost: test\r\n\r\n")
	require.Equal(t, "HTTP/1.1 200 OK", r.status)
	// The server is now stuck writing the first batch. Cancel it without
	// waiting (the context is already done), then read everything.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, e.pb.Close(done), context.Canceled)

	dc := &dechunker{br: r.br}
	fr := flv.NewReader(dc, 8<<20)
	var got []flv.Tag
	for {
		tag, err := fr.Next()
		if err != nil {
			require.Equal(t, io.EOF, err)
			break
		}
		got = append(got, tag)
	}
	require.Equal(t, 4, len(got), "metadata, two headers and the keyframe, once")
	require.Equal(t, len(big), len(got[3].Data))
	require.True(t, dc.sawEnd)
}

func TestFLVHTTP2(t *testing.T) {
	e := newEnv(t, envOptions{http2: true})
	tags := readFixture(t)
	p := e.publisher(t, "cam")
	publish(t, p, tags)

	resp, err := e.srv.Client().Get(e.srv.URL + "/cam/live.flv")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, 2, resp.ProtoMajor, "served over HTTP/2, by the ResponseWriter path")
	require.Equal(t, "video/x-flv", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache, no-store", resp.Header.Get("Cache-Control"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Empty(t, resp.TransferEncoding)

	body := &countingReader{r: resp.Body}
	fr := flv.NewReader(body, 0)
	want := append(append([]flv.Tag{}, tags[:3]...), tags[9:]...)
	got, err := readTags(t, fr, len(want))
	require.NoError(t, err)
	require.Equal(t, summarize(want), summarize(got))

	require.NoError(t, p.WriteVideo(200, tags[3].Data))
	live, err := readTags(t, fr, 1)
	require.NoError(t, err)
	require.Equal(t, flv.Tag{Type: flv.TagVideo, Timestamp: 200, Data: tags[3].Data}, live[0])

	p.Close("done")
	_, err = fr.Next()
	require.Equal(t, io.EOF, err)
	waitFor(t, "the viewer is counted out", func() bool { return e.pb.Counters.FLVViewers.Load() == 0 })
	require.Equal(t, body.n, e.pb.Counters.FLVBytes.Load())
	require.Zero(t, e.pb.Counters.FLVWriteErrors.Load())

	// Close ends an HTTP/2 viewer too.
	publish(t, e.publisher(t, "cam2"), tags)
	resp2, err := e.srv.Client().Get(e.srv.URL + "/cam2/live.flv")
	require.NoError(t, err)
	defer resp2.Body.Close()
	fr2 := flv.NewReader(resp2.Body, 0)
	_, err = readTags(t, fr2, 3)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, e.pb.Close(ctx))
	for err == nil {
		_, err = fr2.Next()
	}
	require.Equal(t, io.EOF, err)
	require.Zero(t, e.pb.Counters.FLVWriteErrors.Load(), "shutdown is not a write error")
}

// TestFLVHead answers HEAD with the headers a GET would get, no body, and
// takes no viewer slot.
func TestFLVHead(t *testing.T) {
	e := newEnv(t, envOptions{hub: hubConfigMaxViewers(1)})
	publish(t, e.publisher(t, "cam"), readFixture(t))
	for _, tc := range []struct {
		name   string
		path   string
		status int
	}{
		{"live", "/cam/live.flv", 200},
		{"source rendition", "/cam/source/live.flv", 200},
		{"not live", "/nobody/live.flv", 404},
		{"bad id", "/a.b/live.flv", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < 3; i++ { // more than MaxViewersPerStream
				r := rawRequest(t, e.addr(), "HEAD "+tc.path+" HTTP/1.1\r\nHost: test\r\n\r\n")
				require.Equal(t, tc.status, statusCode(t, r.status))
				require.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
				if tc.status == 200 {
					require.Equal(t, "video/x-flv", r.header.Get("Content-Type"))
				}
				// Another request on the same connection is answered right after:
				// no body came in between.
				_, err := io.WriteString(r.conn, "OPTIONS "+tc.path+" HTTP/1.1\r\nHost: test\r\n\r\n")
				require.NoError(t, err)
				line, err := r.br.ReadString('\n')
				require.NoError(t, err)
				require.Equal(t, "HTTP/1.1 204 No Content\r\n", line)
			}
		})
	}
	require.Zero(t, e.pb.Counters.FLVSessions.Load())
}
