package watermark

import (
	"bytes"
	"context"
	"crypto/tls"
	"image"
	"image/color"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/livestack/livestack/shared/channel"
)

func pngBytes(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	return b.Bytes()
}

func TestAddrAllowed(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"93.184.216.34", true},
		{"2606:2800:220:1:248:1893:25c8:1946", true},
		{"127.0.0.1", false},
		{"127.10.0.1", false},
		{"::1", false},
		{"169.254.169.254", false},
		{"fe80::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"fd00::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"224.0.0.1", false},
		{"ff02::1", false},
		{"255.255.255.255", false},
		{"100.64.0.1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"64:ff9b::a9fe:a9fe", false}, // NAT64 169.254.169.254
		{"64:ff9b::5db8:d822", true},  // NAT64 93.184.216.34
		{"fd00:ec2::254", false},      // AWS IMDS over IPv6
	} {
		require.Equal(t, tc.ok, AddrAllowed(netip.MustParseAddr(tc.addr)), tc.addr)
	}
}

// fakeDNS answers every A query with ip, so a host name can resolve to a
// forbidden address without touching real DNS.
func fakeDNS(t *testing.T, ip [4]byte) *net.Resolver {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if q.Type == dnsmessage.TypeA {
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: ip})
			}
			msg, err := b.Finish()
			if err == nil {
				_, _ = pc.WriteTo(msg, addr)
			}
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

func TestFetchRefusesPrivateAddresses(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(pngBytes(t, 4, 4))
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	tlsConf := &tls.Config{InsecureSkipVerify: true} // the refusal must come before TLS matters
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		url      string
		resolver *net.Resolver
		msg      string
	}{
		{"loopback literal", "https://127.0.0.1:" + itoa(port) + "/wm.png", nil, "127.0.0.1 is not a public address"},
		{"metadata literal", "https://169.254.169.254/latest/meta-data/", nil, "169.254.169.254 is not a public address"},
		{"ipv6 loopback", "https://[::1]:" + itoa(port) + "/wm.png", nil, "::1 is not a public address"},
		{"localhost", "https://localhost:" + itoa(port) + "/wm.png", nil, "localhost"},
		{"name resolving to loopback", "https://images.example.test:" + itoa(port) + "/wm.png", fakeDNS(t, [4]byte{127, 0, 0, 1}), "127.0.0.1 is not a public address"},
		{"name resolving to metadata", "https://meta.example.test/latest", fakeDNS(t, [4]byte{169, 254, 169, 254}), "169.254.169.254 is not a public address"},
		{"name resolving to private", "https://intranet.example.test/x.png", fakeDNS(t, [4]byte{10, 0, 0, 7}), "10.0.0.7 is not a public address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &Fetcher{Resolver: tc.resolver, TLS: tlsConf, Timeout: 5 * time.Second}
			_, err := f.Fetch(ctx, channel.ImageWatermark{URL: tc.url})
			require.ErrorIs(t, err, ErrForbiddenAddress)
			require.Contains(t, err.Error(), tc.msg)
		})
	}
	for _, u := range []string{"http://93.184.216.34/x.png", "ftp://example.com/x.png", "file:///etc/passwd", "gopher://x/"} {
		_, err := (&Fetcher{}).Fetch(ctx, channel.ImageWatermark{URL: u})
		require.ErrorIs(t, err, ErrNotHTTPS, u)
	}
}

func TestFetchRedirectToPrivateRefused(t *testing.T) {
	target := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(pngBytes(t, 4, 4))
	}))
	defer target.Close()
	front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	}))
	defer front.Close()
	// The servers are on loopback: let the test fetcher treat loopback as
	// public; every other address keeps the real rule.
	allowFront := func(a netip.Addr) bool { return a.IsLoopback() || AddrAllowed(a) }
	ctx := context.Background()
	f := &Fetcher{TLS: &tls.Config{InsecureSkipVerify: true}, allow: allowFront}

	// Redirect to plain http is refused.
	_, err := f.Fetch(ctx, channel.ImageWatermark{URL: front.URL + "/?to=http://127.0.0.1/x.png"})
	require.ErrorIs(t, err, ErrNotHTTPS)

	// Redirect to the metadata address is refused (by the redirect check and the dialer).
	_, err = f.Fetch(ctx, channel.ImageWatermark{URL: front.URL + "/?to=https://169.254.169.254/latest"})
	require.ErrorIs(t, err, ErrForbiddenAddress)

	// Redirects between allowed hosts are followed.
	img, err := f.Fetch(ctx, channel.ImageWatermark{URL: front.URL + "/?to=" + target.URL + "/wm.png"})
	require.NoError(t, err, "allowed hosts are followed")
	require.Equal(t, "png", img.Format)
}

func TestFetchChecksBody(t *testing.T) {
	bodies := map[string][]byte{
		"/ok.png":   pngBytes(t, 8, 6),
		"/big.png":  pngBytes(t, 8, 6),
		"/text.png": []byte("<html>not an image</html>"),
		"/gif.png":  []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
		"/fake.png": []byte("\x89PNG\r\n\x1a\nthen garbage"),
		"/huge.png": pngBytes(t, 5000, 5000),
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing.png" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Path == "/big.png" {
			w.Write(bytes.Repeat([]byte{0x89}, 100))
		}
		_, _ = w.Write(bodies[r.URL.Path])
	}))
	defer srv.Close()
	f := &Fetcher{TLS: &tls.Config{InsecureSkipVerify: true}, allow: func(netip.Addr) bool { return true }, MaxBytes: 64 << 10}
	ctx := context.Background()
	img, err := f.Fetch(ctx, channel.ImageWatermark{URL: srv.URL + "/ok.png"})
	require.NoError(t, err)
	require.Equal(t, 8, img.Width)
	require.Equal(t, 6, img.Height)
	for path, want := range map[string]error{"/text.png": ErrFormat, "/gif.png": ErrFormat, "/fake.png": ErrFormat, "/big.png": ErrFormat, "/huge.png": ErrTooLarge} {
		_, err := f.Fetch(ctx, channel.ImageWatermark{URL: srv.URL + path})
		require.ErrorIs(t, err, want, path)
	}
	small := *f
	small.MaxBytes = 10
	_, err = small.Fetch(ctx, channel.ImageWatermark{URL: srv.URL + "/ok.png"})
	require.ErrorIs(t, err, ErrTooLarge)
	_, err = f.Fetch(ctx, channel.ImageWatermark{URL: srv.URL + "/missing.png"})
	require.ErrorContains(t, err, "HTTP 404")
}

func TestOverlayFilters(t *testing.T) {
	got, err := OverlayFilters(channel.ImageWatermark{Width: 100, Top: 5, Left: 7}, "[0:v]", "[1:v]", "[wm]")
	require.NoError(t, err)
	require.Equal(t, "[1:v]scale=100:-1[wmimg];[0:v][wmimg]overlay=x=7:y=5:format=auto[wm]", got)
	got, err = OverlayFilters(channel.ImageWatermark{}, "[0:v]", "[1:v]", "[wm]")
	require.NoError(t, err)
	require.Equal(t, "[0:v][1:v]overlay=x=0:y=0:format=auto[wm]", got)
	_, err = OverlayFilters(channel.ImageWatermark{Width: -1}, "[0:v]", "[1:v]", "[wm]")
	require.ErrorIs(t, err, ErrInvalid)
}

func FuzzCheckImage(f *testing.F) {
	f.Add(pngBytes(f, 2, 2))
	f.Add([]byte{0xff, 0xd8, 0xff, 0xe0})
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := CheckImage(b)
		if err != nil {
			return
		}
		if img.Format != "png" && img.Format != "jpeg" || img.Width*img.Height > MaxImagePixels || img.Width <= 0 {
			t.Fatalf("accepted %+v", img)
		}
		if !strings.HasPrefix(string(b), "\x89PNG") && !strings.HasPrefix(string(b), "\xff\xd8\xff") {
			t.Fatal("accepted without magic")
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
