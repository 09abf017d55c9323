package rtmpclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/handshake"
	"github.com/yutopp/go-rtmp/message"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/media/rtmpguard"
	"github.com/livestack/livestack/shared/rtmpserver"
)

const testToken = "t0ken-secret"

// testAuth allows a publish when the sign parameter is testToken and the
// channel is known.
type testAuth struct{ channels map[string]*channel.Channel }

func newTestAuth(ids ...string) *testAuth {
	a := &testAuth{channels: map[string]*channel.Channel{}}
	for _, id := range ids {
		a.channels[id] = &channel.Channel{ID: id, Enabled: true}
	}
	return a
}

func (a *testAuth) AuthorizePublish(_ context.Context, req ingest.PublishRequest) (ingest.Grant, error) {
	if req.Sign != testToken {
		return ingest.Grant{}, ingest.Refuse(ingest.ReasonBadSignature, "test token mismatch")
	}
	ch := a.channels[req.ChannelID]
	if ch == nil {
		return ingest.Grant{}, ingest.Refuse(ingest.ReasonUnknownChannel, req.ChannelID)
	}
	return ingest.Grant{Channel: ch, LeaseUntil: time.Now().Add(time.Minute)}, nil
}

func (a *testAuth) Renew(ctx context.Context, req ingest.PublishRequest) (ingest.Grant, error) {
	return a.AuthorizePublish(ctx, req)
}

func (a *testAuth) Unpublish(context.Context, ingest.PublishRequest) error { return nil }

// testLogger writes to the test log until the test ends (late goroutine logs
// are dropped rather than reported against a finished test).
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	w := &testLogWriter{t: t}
	t.Cleanup(w.stop) // registered first, so it runs last
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testLogWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testLogWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

func (w *testLogWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// server is an in-process livestack RTMP server with its hub, allowing the
// channels of auth (app "stream").
type server struct {
	Hub  *hub.Hub
	Addr string
}

// startServer serves RTMP (RTMPS with tlsConf) on a fresh port until the test ends.
func startServer(t *testing.T, auth ingest.Authorizer, tlsConf *tls.Config) *server {
	t.Helper()
	log := testLogger(t)
	h := hub.New(hub.Config{Logger: log})
	srv, err := rtmpserver.New(rtmpserver.Config{Hub: h, Authorizer: auth, Logger: log})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln, tlsConf)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
		<-done
		h.Close()
	})
	return &server{Hub: h, Addr: ln.Addr().String()}
}

// waitStream waits for key to appear in the server's hub.
func (s *server) waitStream(t *testing.T, key string) *hub.Stream {
	t.Helper()
	var st *hub.Stream
	require.Eventually(t, func() bool {
		st = s.Hub.Stream(key)
		return st != nil
	}, 10*time.Second, 10*time.Millisecond, "stream %s never appeared", key)
	return st
}

// Synthetic payloads: an AVC sequence header (High profile, level 3.1, one
// tiny SPS and PPS) and frames of any size.
var synthAVCHeader = []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xee}

func synthFrame(key bool, size int) []byte {
	b := make([]byte, 9+size)
	b[0] = 0x27
	nal := byte(0x41)
	if key {
		b[0], nal = 0x17, 0x65
	}
	b[1] = 1
	b[5], b[6], b[7], b[8] = byte(size>>24), byte(size>>16), byte(size>>8), byte(size)
	if size > 0 {
		b[9] = nal
	}
	return b
}

// testCert returns a self-signed certificate for 127.0.0.1 and a pool trusting it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "livestack test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// rawServer accepts TCP connections and runs serve on each until the test
// ends, when the connections are closed.
func rawServer(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// silentServer accepts TCP connections and never says a word.
func silentServer(t *testing.T) string {
	return rawServer(t, func(net.Conn) {})
}

// handshakeThen completes the RTMP handshake, reads the first bytes of
// connect and then runs then (nil: stay silent until the test ends).
func handshakeThen(t *testing.T, then func(net.Conn)) string {
	return rawServer(t, func(c net.Conn) {
		if handshake.HandshakeWithClient(c, c, &handshake.Config{}) != nil {
			return
		}
		buf := make([]byte, 512)
		if _, err := c.Read(buf); err != nil {
			return
		}
		if then != nil {
			then(c)
		}
	})
}

// fakeServer is a scripted RTMP server for what livestack's own server never
// does: it accepts connect, createStream and publish (stream id 1), unless
// silentOn names the command it leaves unanswered, then runs afterPublish.
type fakeServer struct {
	silentOn string
	// chunkSize, when set, is announced before the connect result.
	chunkSize    uint32
	afterPublish func(p *fakePeer)
	// commands receives the name of every command the client sent, if set
	// (buffered: the server never waits for it).
	commands chan string
	// media receives every audio, video and data message, if set (the server
	// waits for the test to take it).
	media chan gotMsg
	// paused, when set and true, stops the server from reading, so the
	// client's socket fills up.
	paused *atomic.Bool
}

// gotMsg is a media message the fake server read.
type gotMsg struct {
	csid   int
	typeID int
	ts     uint32
	body   []byte // a data message's body after its name
	name   string // a data message's name
}

// readBody copies a message payload.
func readBody(r io.Reader) []byte {
	b, err := io.ReadAll(r)
	if err != nil {
		panic(err)
	}
	return b
}

// fakePeer is the server side of one connection.
type fakePeer struct {
	nc    net.Conn
	cs    *rtmp.ChunkStreamer
	pongs chan uint32 // ping response timestamps
}

func (f *fakeServer) start(t testing.TB) string {
	return rawServer(t, func(nc net.Conn) {
		// What the client sends passes the guard our server reads through.
		guard := rtmpguard.NewReader(nc, rtmpguard.Limits{})
		if handshake.HandshakeWithClient(guard, nc, &handshake.Config{}) != nil {
			return
		}
		cs := rtmp.NewChunkStreamer(bufio.NewReader(guard), bufio.NewWriter(nc), controlConfig())
		defer cs.Close()
		if f.chunkSize != 0 {
			// Before anything is scheduled, so the writer goroutine sees it.
			if cs.SelfState().SetChunkSize(f.chunkSize) != nil {
				return
			}
		}
		p := &fakePeer{nc: nc, cs: cs, pongs: make(chan uint32, 8)}
		var cmsg rtmp.ChunkMessage
		for {
			for f.paused != nil && f.paused.Load() {
				time.Sleep(5 * time.Millisecond)
			}
			csid, ts, err := cs.Read(&cmsg)
			if err != nil {
				if f.media != nil {
					select {
					case f.media <- gotMsg{typeID: -1, name: err.Error()}:
					case <-time.After(5 * time.Second):
					}
				}
				return
			}
			got := gotMsg{csid: csid, typeID: int(cmsg.Message.TypeID()), ts: ts}
			if f.media != nil {
				switch m := cmsg.Message.(type) {
				case *message.AudioMessage:
					got.body = readBody(m.Payload)
				case *message.VideoMessage:
					got.body = readBody(m.Payload)
				case *message.DataMessage:
					got.name, got.body = m.Name, readBody(m.Body)
				}
			}
			if got.body != nil {
				select {
				case f.media <- got:
				case <-time.After(5 * time.Second):
					return
				}
			}
			switch m := cmsg.Message.(type) {
			case *message.SetChunkSize:
				if cs.PeerState().SetChunkSize(m.ChunkSize) != nil {
					return
				}
			case *message.UserCtrl:
				if pong, ok := m.Event.(*message.UserCtrlEventPingResponse); ok {
					p.pongs <- pong.Timestamp
				}
			case *message.CommandMessage:
				if f.commands != nil {
					select {
					case f.commands <- m.CommandName:
					default:
					}
				}
				if m.CommandName == f.silentOn {
					continue
				}
				switch m.CommandName {
				case "connect":
					if f.chunkSize != 0 {
						p.send(2, 0, &message.SetChunkSize{ChunkSize: f.chunkSize})
					}
					p.command(0, "_result", m.TransactionID, map[string]any{"fmsVer": "FMS/3,0,1,123"},
						map[string]any{"level": "status", "code": "NetConnection.Connect.Success"})
				case "createStream":
					p.command(0, "_result", m.TransactionID, nil, 1.0)
				case "publish":
					p.command(1, "onStatus", 0, nil, map[string]any{"level": "status", "code": "NetStream.Publish.Start"})
					if f.afterPublish != nil {
						go f.afterPublish(p)
					}
				}
			}
		}
	})
}

// command sends an AMF0 command with args.
func (p *fakePeer) command(streamID uint32, name string, txn int64, args ...any) {
	buf := new(bytes.Buffer)
	enc := message.NewAMFEncoder(buf, message.EncodingTypeAMF0)
	for _, a := range args {
		if err := enc.Encode(a); err != nil {
			panic(err)
		}
	}
	p.send(3, streamID, &message.CommandMessage{CommandName: name, TransactionID: txn, Encoding: message.EncodingTypeAMF0, Body: buf})
}

// send queues one message; errors show up on the client side.
func (p *fakePeer) send(csid int, streamID uint32, msg message.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.cs.Write(ctx, csid, 0, &rtmp.ChunkMessage{StreamID: streamID, Message: msg})
}
