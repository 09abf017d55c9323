package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
)

// selfSigned writes a certificate and key for 127.0.0.1 and returns their paths
// and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "livestack test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

func TestRTMPSPublish(t *testing.T) {
	fx := media(t)
	certPath, keyPath, pool := selfSigned(t)
	in := testInstance(t, func(c *config) {
		c.TLSCert, c.TLSKey = certPath, keyPath
		c.RTMPSAddr = "127.0.0.1:0"
	})
	in.addChannel(t, "secure", nil)
	rtmps := in.Gateway.Addrs().RTMPS
	require.NotEmpty(t, rtmps, "RTMPS listens when a certificate is configured")
	url := "rtmps://" + rtmps + "/stream/secure?sign=" + in.Signer.Sign("secure", time.Now().Add(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- publishTagsTLS(ctx, url, fx, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}) }()
	v := openViewer(t, in.flvURL("secure"))
	for {
		tag, err := v.r.Next()
		require.NoError(t, err)
		if tag.Type == flv.TagVideo {
			vi, err := flv.ParseVideo(tag.Data)
			require.NoError(t, err)
			if vi.PacketType == flv.VideoFrames {
				require.True(t, vi.Keyframe)
				break
			}
		}
	}
	require.True(t, strings.HasPrefix(in.Gateway.Hub.Stream("secure").Stats().Publisher, "127.0.0.1:"))

	// Plain RTMP spoken to the RTMPS port is dropped.
	c, err := net.Dial("tcp", rtmps)
	require.NoError(t, err)
	defer c.Close()
	_, _ = c.Write(append([]byte{3}, make([]byte, 1536)...))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1)
	_, err = c.Read(buf)
	var ne net.Error
	require.Error(t, err)
	require.False(t, errorsAs(err, &ne) && ne.Timeout(), "plain RTMP on the RTMPS port must be refused, not left hanging")
	cancel()
	<-errc
}
