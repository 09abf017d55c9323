package relay

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/yutopp/go-rtmp/handshake"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/flv"
)

func tlsInsecure() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }

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

// handshakeThenClose completes the RTMP handshake and drops the connection
// without answering connect (go-rtmp's ClientConn.Connect waits forever here).
func handshakeThenClose(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = handshake.HandshakeWithClient(c, c, &handshake.Config{})
				buf := make([]byte, 512)
				_, _ = c.Read(buf) // the first chunk of connect
			}()
		}
	}()
	return ln.Addr().String()
}

func TestDialPublishFailures(t *testing.T) {
	log := testLogger(t)
	b := startInstance(t, "127.0.0.1:0", newTestAuth(&channel.Channel{ID: "chb"}), nil, nil, log)
	silent := silentListener(t)
	dropper := handshakeThenClose(t)
	const timeout = 500 * time.Millisecond

	tests := []struct {
		name     string
		url      string
		cancel   time.Duration // cancel the context after this long
		refused  bool          // errors.Is(err, ErrRefused)
		contains string
	}{
		{"connection refused", "rtmp://127.0.0.1:1/live/key", 0, false, "connection refused"},
		{"silent target", "rtmp://" + silent + "/live/key", 0, false, "no answer within 500ms"},
		{"dropped after handshake", "rtmp://" + dropper + "/live/key", 0, false, "connect app \"live\""},
		{"unknown app", "rtmp://" + b.Addr + "/live/chb?sign=" + testToken, 0, true, "NetConnection.Connect.Failed"},
		{"bad signature", "rtmp://" + b.Addr + "/stream/chb?sign=nope", 0, true, "NetStream.Publish.Failed"},
		{"unknown channel", "rtmp://" + b.Addr + "/stream/other?sign=" + testToken, 0, true, "NetStream.Publish.Failed"},
		{"cancelled", "rtmp://" + silent + "/live/key", 50 * time.Millisecond, false, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := parseTarget(tt.url)
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel > 0 {
				time.AfterFunc(tt.cancel, cancel)
			}
			start := time.Now()
			c, err := dialPublish(ctx, tg, dialOptions{timeout: timeout, writeTimeout: timeout, chunkSize: 4096})
			require.Error(t, err)
			require.Nil(t, c)
			require.Less(t, time.Since(start), timeout+time.Second, "bounded by the dial timeout")
			require.Equal(t, tt.refused, errors.Is(err, ErrRefused), "%v", err)
			require.Contains(t, err.Error(), tt.contains)
			require.NotContains(t, err.Error(), testToken)
			if tt.cancel > 0 {
				require.ErrorIs(t, err, context.Canceled)
			}
		})
	}
}

func TestDialPublishRTMPS(t *testing.T) {
	log := testLogger(t)
	cert, pool := testCert(t)
	b := startInstance(t, "127.0.0.1:0", newTestAuth(&channel.Channel{ID: "chb"}), nil,
		&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, log)
	url := "rtmps://" + b.Addr + "/stream/chb?sign=" + testToken

	tests := []struct {
		name     string
		cfg      Config
		contains string // "" for success
	}{
		{"trusted root", Config{TLS: &tls.Config{RootCAs: pool}}, ""},
		{"system roots do not know the test CA", Config{}, "certificate"},
		{"InsecureSkipVerify in Config.TLS is ignored", Config{TLS: tlsInsecure()}, "certificate"},
		{"test-only skip", Config{insecureSkipVerify: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.setDefaults()
			tg, err := parseTarget(url)
			require.NoError(t, err)
			c, err := dialPublish(context.Background(), tg, dialOptions{
				timeout: 5 * time.Second, writeTimeout: 5 * time.Second, chunkSize: 4096, tls: tt.cfg.tlsConfig(tg.Host),
			})
			if tt.contains != "" {
				require.ErrorContains(t, err, tt.contains)
				return
			}
			require.NoError(t, err)
			defer c.Close(true)
			require.NoError(t, c.WriteTag(context.Background(), flv.TagVideo, 0, synthAVCHeader))
			require.NoError(t, c.WriteTag(context.Background(), flv.TagVideo, 0, synthFrame(true, 100)))
			s := b.waitStream(t, "chb")
			require.Eventually(t, s.Live, 5*time.Second, 10*time.Millisecond)
		})
	}
}
