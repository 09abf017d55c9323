package playback

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
)

// fixturePath is the ffmpeg-made FLV committed with the flv package.
const fixturePath = "../media/flv/testdata/testsrc2-160x120.flv"

var quiet = slog.New(slog.DiscardHandler)

// readFixture returns the fixture's tags: onMetaData, AVC and AAC sequence
// headers, then two GOPs of H.264 (keyframes at 0 and 100 ms) with AAC.
func readFixture(t testing.TB) []flv.Tag {
	t.Helper()
	f, err := os.Open(fixturePath)
	require.NoError(t, err)
	defer f.Close()
	r := flv.NewReader(f, 1<<20)
	var tags []flv.Tag
	for {
		tag, err := r.Next()
		if err == io.EOF {
			return tags
		}
		require.NoError(t, err)
		tags = append(tags, tag)
	}
}

// publish writes tags into the hub through the publisher, as the RTMP server does.
func publish(t testing.TB, p *hub.Publisher, tags []flv.Tag) {
	t.Helper()
	for _, tag := range tags {
		switch tag.Type {
		case flv.TagScript:
			require.NoError(t, p.WriteMetadata(tag.Data))
		case flv.TagVideo:
			require.NoError(t, p.WriteVideo(tag.Timestamp, tag.Data))
		case flv.TagAudio:
			require.NoError(t, p.WriteAudio(tag.Timestamp, tag.Data))
		}
	}
}

// env is a hub and a playback server wired like shared/gateway does.
type env struct {
	hub *hub.Hub
	pb  *Server
	srv *httptest.Server
}

type envOptions struct {
	hub   hub.Config
	pb    Config
	http2 bool
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	o.hub.Logger = quiet
	if o.hub.ReconnectWindow == 0 {
		o.hub.ReconnectWindow = -1 // a stream ends with its publisher
	}
	h := hub.New(o.hub)
	o.pb.Hub, o.pb.Logger = h, quiet
	pb := New(o.pb)
	mux := http.NewServeMux()
	pb.Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	if o.http2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	// Cleanups run last-registered first: end the streams and viewers, then the server.
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		h.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, pb.Close(ctx))
	})
	return &env{hub: h, pb: pb, srv: srv}
}

func (e *env) publisher(t testing.TB, key string) *hub.Publisher {
	t.Helper()
	p, err := e.hub.Publish(key, hub.PublishOptions{Remote: "192.0.2.1:5000"})
	require.NoError(t, err)
	return p
}

func (e *env) addr() string { return e.srv.Listener.Addr().String() }

// rawResponse is an HTTP response read off a plain connection.
type rawResponse struct {
	conn   net.Conn
	br     *bufio.Reader
	status string
	header textproto.MIMEHeader
}

// rawRequest sends request (a whole HTTP request head) and reads the response
// status line and header.
func rawRequest(t *testing.T, addr, request string) *rawResponse {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(conn, request)
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	tp := textproto.NewReader(br)
	status, err := tp.ReadLine()
	require.NoError(t, err)
	header, err := tp.ReadMIMEHeader()
	require.NoError(t, err)
	return &rawResponse{conn: conn, br: br, status: status, header: header}
}

// dechunker decodes a chunked body strictly (RFC 9112 section 7.1, as the
// server writes it: lower-case hex sizes, no extensions, no trailers) and
// records the chunk sizes. After the last chunk it returns io.EOF.
type dechunker struct {
	br     *bufio.Reader
	left   int
	sizes  []int
	sawEnd bool
}

var chunkSize = regexp.MustCompile(`^[0-9a-f]{1,8}\r\n$`)

func (d *dechunker) Read(p []byte) (int, error) {
	if d.sawEnd {
		return 0, io.EOF
	}
	if d.left == 0 {
		line, err := d.br.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("chunk size line: %w", noEOF(err))
		}
		if !chunkSize.MatchString(line) {
			return 0, fmt.Errorf("bad chunk size line %q", line)
		}
		n, _ := strconv.ParseInt(line[:len(line)-2], 16, 64)
		d.sizes = append(d.sizes, int(n))
		if n == 0 {
			if err := d.expectCRLF(); err != nil {
				return 0, fmt.Errorf("after the last chunk: %w", err)
			}
			d.sawEnd = true
			return 0, io.EOF
		}
		d.left = int(n)
	}
	n, err := d.br.Read(p[:min(len(p), d.left)])
	d.left -= n
	if err != nil {
		return n, fmt.Errorf("chunk data: %w", noEOF(err))
	}
	if d.left == 0 {
		if err := d.expectCRLF(); err != nil {
			return n, fmt.Errorf("after chunk data: %w", err)
		}
	}
	return n, nil
}

func (d *dechunker) expectCRLF() error {
	var b [2]byte
	if _, err := io.ReadFull(d.br, b[:]); err != nil {
		return noEOF(err)
	}
	if b != [2]byte{'\r', '\n'} {
		return fmt.Errorf("want CRLF, got %q", b[:])
	}
	return nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readTags reads tags until n were read or the body ends.
func readTags(t *testing.T, r *flv.Reader, n int) ([]flv.Tag, error) {
	t.Helper()
	var tags []flv.Tag
	for len(tags) < n {
		tag, err := r.Next()
		if err != nil {
			return tags, err
		}
		tags = append(tags, tag)
	}
	return tags, nil
}

// tagSummary is a tag without its timestamp, for comparing what a viewer got
// with what was published (the hub restamps onto its own timeline).
type tagSummary struct {
	Type flv.TagType
	Data []byte
}

func summarize(tags []flv.Tag) []tagSummary {
	out := make([]tagSummary, 0, len(tags))
	for _, t := range tags {
		out = append(out, tagSummary{t.Type, bytes.Clone(t.Data)})
	}
	return out
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 5*time.Second, 5*time.Millisecond, what)
}

func hubConfigMaxViewers(n int) hub.Config { return hub.Config{MaxViewersPerStream: n} }

// statusCode parses the code of an HTTP/1.x status line.
func statusCode(t *testing.T, line string) int {
	t.Helper()
	_, rest, ok := strings.Cut(line, " ")
	require.True(t, ok, line)
	code, err := strconv.Atoi(rest[:3])
	require.NoError(t, err, line)
	return code
}
