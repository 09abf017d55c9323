package rtmpguard

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
	"github.com/yutopp/go-amf0"
	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"
)

var update = flag.Bool("update", false, "rewrite the seed corpus in testdata/fuzz/FuzzReader")

// session is what the go-rtmp client publishes.
type session struct {
	chunkSize int
	videos    [][]byte
	times     []uint32
}

func newSession(chunkSize int, sizes ...int) session {
	s := session{chunkSize: chunkSize}
	ts := uint32(0)
	for i, n := range sizes {
		v := video(0, n).body
		v[1] = byte(i)
		s.videos = append(s.videos, v)
		s.times = append(s.times, ts)
		ts += 33
		if i == len(sizes)-2 {
			ts = 0x1000000 + 7 // the last one needs an extended timestamp
		}
	}
	return s
}

// recordingHandler is the server side: go-rtmp's handler recording what it got.
type recordingHandler struct {
	rtmp.DefaultHandler
	mu      sync.Mutex
	publish string
	meta    []byte
	videos  [][]byte
	audios  int
	gotAll  chan struct{}
	want    int
	closed  chan struct{}
}

func (h *recordingHandler) OnPublish(_ *rtmp.StreamContext, _ uint32, cmd *message.NetStreamPublish) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.publish = cmd.PublishingName
	return nil
}

func (h *recordingHandler) OnSetDataFrame(_ uint32, data *message.NetStreamSetDataFrame) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.meta = append([]byte(nil), data.Payload...)
	return nil
}

func (h *recordingHandler) OnAudio(uint32, io.Reader) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.audios++
	return nil
}

func (h *recordingHandler) OnVideo(_ uint32, payload io.Reader) error {
	b, err := io.ReadAll(payload)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.videos = append(h.videos, b)
	if len(h.videos) == h.want {
		close(h.gotAll)
	}
	return nil
}

func (h *recordingHandler) OnClose() { close(h.closed) }

// tapConn is the server's connection: reads go through the guard, and both
// the raw bytes and what the guard passed on are recorded.
type tapConn struct {
	net.Conn
	guard  *Reader
	raw    bytes.Buffer
	passed bytes.Buffer
	err    error // first error other than EOF the guard returned
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.guard.Read(p)
	c.passed.Write(p[:n])
	if err != nil && c.err == nil && !errors.Is(err, io.EOF) {
		c.err = err
	}
	return n, err
}

type tee struct {
	r io.Reader
	w *bytes.Buffer
}

func (t tee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.w.Write(p[:n])
	return n, err
}

// runGoRTMP publishes s with go-rtmp's client to a go-rtmp server whose
// connection reads through the guard, and returns the raw client bytes.
func runGoRTMP(t *testing.T, s session) []byte {
	quiet := logrus.New()
	quiet.Out = io.Discard

	h := &recordingHandler{gotAll: make(chan struct{}), closed: make(chan struct{}), want: len(s.videos)}
	var tap *tapConn
	srv := rtmp.NewServer(&rtmp.ServerConfig{
		OnConnect: func(conn net.Conn) (io.ReadWriteCloser, *rtmp.ConnConfig) {
			tap = &tapConn{Conn: conn}
			tap.guard = NewReader(tee{conn, &tap.raw}, Limits{})
			return tap, &rtmp.ConnConfig{Handler: h, Logger: quiet}
		},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	client, err := rtmp.Dial("rtmp", ln.Addr().String(), &rtmp.ConnConfig{Logger: quiet})
	require.NoError(t, err)
	require.NoError(t, client.Connect(&message.NetConnectionConnect{
		Command: message.NetConnectionConnectCommand{App: "live", TCURL: "rtmp://127.0.0.1/live", FlashVer: "FMLE/3.0"},
	}))
	// CreateStream sends Set Chunk Size (WriteSetChunkSize) before createStream.
	stream, err := client.CreateStream(nil, uint32(s.chunkSize))
	require.NoError(t, err)
	require.NoError(t, stream.Publish(&message.NetStreamPublish{PublishingName: "key", PublishingType: "live"}))
	require.NoError(t, stream.WriteDataMessage(5, 0, "@setDataFrame", &message.NetStreamSetDataFrame{
		AmfData: amf0.ECMAArray{"width": 1280.0, "height": 720.0, "videocodecid": 7.0, "encoder": "go-rtmp"},
	}))
	for i, v := range s.videos {
		require.NoError(t, stream.Write(4, s.times[i], &message.AudioMessage{Payload: bytes.NewReader([]byte{0xaf, 1, 0x21, byte(i)})}))
		require.NoError(t, stream.Write(6, s.times[i], &message.VideoMessage{Payload: bytes.NewReader(v)}))
	}

	wait := func(ch chan struct{}, what string) {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("server did not get %s", what)
		}
	}
	wait(h.gotAll, "all video")
	require.NoError(t, client.Close())
	wait(h.closed, "the close")

	// The server goroutine that read tap has finished (OnClose ran after it).
	// Closing with unread server replies may reset the connection; that is
	// the network's error, not the guard's.
	require.False(t, errors.Is(tap.err, ErrViolation), "guard refused go-rtmp's client: %v", tap.err)
	require.Equal(t, tap.raw.Len(), tap.passed.Len())
	require.True(t, bytes.Equal(tap.raw.Bytes(), tap.passed.Bytes()), "guard changed the bytes")
	st := tap.guard.Stats()
	require.Equal(t, uint64(tap.raw.Len()), st.Bytes)
	// connect, Set Chunk Size, createStream, publish, metadata, audio+video
	require.Equal(t, uint64(5+2*len(s.videos)), st.Messages)

	h.mu.Lock()
	defer h.mu.Unlock()
	require.Equal(t, "key", h.publish)
	require.NotEmpty(t, h.meta)
	require.Equal(t, len(s.videos), h.audios)
	require.Equal(t, s.videos, h.videos)
	return tap.raw.Bytes()
}

func TestGoRTMPClientThroughGuard(t *testing.T) {
	runGoRTMP(t, newSession(65536, 40, 200000, 70000, 65536, 1000, 130000))
}

// TestUpdateCorpus rewrites the committed fuzz seeds with -update: the rule
// cases, and a small session captured from go-rtmp's client.
func TestUpdateCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz/FuzzReader")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzReader")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	write := func(name string, data []byte, split uint16) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint16(%d)\n", data, split)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	raw := runGoRTMP(t, newSession(1024, 40, 3000, 500))
	write("gortmp_publish", raw[1+2*handshakeSize:], 0)
	write("gortmp_publish_split", raw[1+2*handshakeSize:], 7)
	for _, tc := range ruleCases(t) {
		if len(tc.input) <= 1+2*handshakeSize || tc.input[0] != handshakeVersion || len(tc.input) > 16<<10 {
			continue
		}
		name := strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			return '_'
		}, strings.ToLower(tc.name))
		write("rule_"+name, tc.input[1+2*handshakeSize:], 0)
	}
}
