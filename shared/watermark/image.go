package watermark

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeConfig for JPEG watermarks
	_ "image/png"  // DecodeConfig for PNG watermarks
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/channel"
)

// Image limits.
const (
	DefaultMaxImageBytes = 2 << 20
	MaxImagePixels       = 4096 * 4096
	maxRedirects         = 3
)

// Image fetch refusals; errors from Fetch wrap one of them.
var (
	// ErrForbiddenAddress: the URL's host is or resolves to an address the
	// worker must not reach (loopback, private, link-local...).
	ErrForbiddenAddress = errors.New("watermark image address not allowed")
	// ErrNotHTTPS: the URL (or a redirect) is not https://.
	ErrNotHTTPS = errors.New("watermark image URL must be https")
	// ErrTooLarge: the body exceeds the size cap.
	ErrTooLarge = errors.New("watermark image too large")
	// ErrFormat: the body is not a PNG or JPEG image.
	ErrFormat = errors.New("watermark image must be PNG or JPEG")
)

// Image is a fetched, checked watermark image.
type Image struct {
	Data          []byte
	Format        string // "png" or "jpeg"
	Width, Height int
}

// Fetcher fetches watermark images. The zero value is ready to use.
type Fetcher struct {
	// MaxBytes caps the image size. Default DefaultMaxImageBytes.
	MaxBytes int64
	// Timeout bounds the whole fetch. Default 10 s.
	Timeout time.Duration
	// Blob serves "blob:{key}" URLs; nil refuses them.
	Blob blob.Store
	// Resolver resolves host names; nil is the system resolver.
	Resolver *net.Resolver
	// TLS configures certificate checks; nil uses the system roots.
	TLS *tls.Config
	// allow overrides the address check (tests only).
	allow func(netip.Addr) bool
}

// AddrAllowed reports whether the worker may connect to a: a public unicast
// address. Loopback, private (RFC 1918, fc00::/7), link-local (169.254/16 with
// the cloud metadata service, fe80::/10), unspecified, multicast, broadcast,
// carrier-grade NAT (100.64/10), benchmarking (198.18/15), the reserved 240/4,
// 0/8, and IPv4-mapped or NAT64 forms of any of those are refused.
func AddrAllowed(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is6() {
		if nat64.Contains(a) {
			b := a.As16()
			return AddrAllowed(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		}
	}
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range deniedPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

var (
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	deniedPrefixes = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("240.0.0.0/4"), // includes 255.255.255.255
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("::/128"),
	}
)

func (f *Fetcher) allowed(a netip.Addr) bool {
	if f.allow != nil {
		return f.allow(a)
	}
	return AddrAllowed(a)
}

// control runs after DNS resolution, on the socket about to connect: it is
// the one place every connection (first request and redirects) passes, so a
// host name that resolves to a forbidden address is refused here.
func (f *Fetcher) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrForbiddenAddress, address)
	}
	if !f.allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s is not a public address", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

func (f *Fetcher) client() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, Resolver: f.Resolver, Control: f.control}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would connect for us, past the address check
		DialContext:           d.DialContext,
		TLSClientConfig:       f.TLS,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 5 * time.Second,
		DisableKeepAlives:     true,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			if req.URL.Scheme != "https" {
				return fmt.Errorf("%w: redirect to %s", ErrNotHTTPS, req.URL.Scheme)
			}
			return checkLiteralHost(req.URL, f.allowed)
		},
	}
}

// checkLiteralHost refuses IP-literal hosts early with a clear error (the
// dialer would refuse them too).
func checkLiteralHost(u *url.URL, allowed func(netip.Addr) bool) error {
	h := u.Hostname()
	if a, err := netip.ParseAddr(h); err == nil && !allowed(a) {
		return fmt.Errorf("%w: %s is not a public address", ErrForbiddenAddress, a)
	}
	if strings.EqualFold(h, "localhost") || strings.HasSuffix(strings.ToLower(h), ".localhost") {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, h)
	}
	return nil
}

// Fetch returns the image of w.URL: "https://..." fetched once, or
// "blob:{key}" read from the blob store; PNG or JPEG only (by magic bytes),
// at most MaxBytes and MaxImagePixels.
func (f *Fetcher) Fetch(ctx context.Context, w channel.ImageWatermark) (*Image, error) {
	max := f.MaxBytes
	if max <= 0 {
		max = DefaultMaxImageBytes
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u, err := url.Parse(w.URL)
	if err != nil {
		return nil, fmt.Errorf("watermark image: %w: URL does not parse", ErrInvalid)
	}
	var body io.ReadCloser
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return nil, fmt.Errorf("watermark image: %w: no host", ErrInvalid)
		}
		if err := checkLiteralHost(u, f.allowed); err != nil {
			return nil, fmt.Errorf("watermark image: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, fmt.Errorf("watermark image: %w", err)
		}
		req.Header.Set("Accept", "image/png, image/jpeg")
		resp, err := f.client().Do(req)
		if err != nil {
			return nil, fmt.Errorf("watermark image %s: %w", redactURL(u), err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("watermark image %s: HTTP %d", redactURL(u), resp.StatusCode)
		}
		if resp.ContentLength > max {
			resp.Body.Close()
			return nil, fmt.Errorf("watermark image: %w: %d bytes, limit %d", ErrTooLarge, resp.ContentLength, max)
		}
		body = resp.Body
	case "blob":
		if f.Blob == nil {
			return nil, fmt.Errorf("watermark image: %w: no blob store configured", ErrInvalid)
		}
		key := strings.TrimPrefix(u.Opaque+u.Path, "/")
		if u.Host != "" {
			key = u.Host + "/" + key
		}
		if err := blob.ValidateKey(key); err != nil {
			return nil, fmt.Errorf("watermark image: %w: %v", ErrInvalid, err)
		}
		rc, _, err := f.Blob.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("watermark image blob %s: %w", key, err)
		}
		body = rc
	default:
		return nil, fmt.Errorf("watermark image: %w: scheme %q", ErrNotHTTPS, u.Scheme)
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return nil, fmt.Errorf("watermark image: read: %w", err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("watermark image: %w: more than %d bytes", ErrTooLarge, max)
	}
	return CheckImage(data)
}

// CheckImage accepts PNG or JPEG bytes (by magic number) whose header decodes
// and whose size is at most MaxImagePixels.
func CheckImage(data []byte) (*Image, error) {
	var format string
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		format = "png"
	case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
		format = "jpeg"
	default:
		return nil, fmt.Errorf("watermark image: %w", ErrFormat)
	}
	cfg, got, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || got != format {
		return nil, fmt.Errorf("watermark image: %w: header does not decode", ErrFormat)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxImagePixels {
		return nil, fmt.Errorf("watermark image: %w: %dx%d pixels", ErrTooLarge, cfg.Width, cfg.Height)
	}
	return &Image{Data: data, Format: format, Width: cfg.Width, Height: cfg.Height}, nil
}

func redactURL(u *url.URL) string { return u.Scheme + "://" + u.Host + u.EscapedPath() }

// ValidateImage checks an image watermark's geometry (the URL is checked by Fetch).
func ValidateImage(w channel.ImageWatermark) error {
	if w.Width < 0 || w.Height < 0 || w.Width > MaxOffset || w.Height > MaxOffset {
		return fmt.Errorf("%w: image width and height must be 0-%d", ErrInvalid, MaxOffset)
	}
	if w.Top < 0 || w.Left < 0 || w.Top > MaxOffset || w.Left > MaxOffset {
		return fmt.Errorf("%w: image top and left must be 0-%d", ErrInvalid, MaxOffset)
	}
	return nil
}

// OverlayFilters returns the filters that overlay the image input (label in,
// e.g. "[1:v]") on the video (label base) into label out: the image is scaled
// to Width x Height when given (one side 0 keeps the aspect ratio) and placed
// at Left, Top.
func OverlayFilters(w channel.ImageWatermark, base, in, out string) (string, error) {
	if err := ValidateImage(w); err != nil {
		return "", err
	}
	img := in
	var b strings.Builder
	if w.Width > 0 || w.Height > 0 {
		wd, ht := w.Width, w.Height
		if wd == 0 {
			wd = -1
		}
		if ht == 0 {
			ht = -1
		}
		fmt.Fprintf(&b, "%sscale=%d:%d[wmimg];", in, wd, ht)
		img = "[wmimg]"
	}
	fmt.Fprintf(&b, "%s%soverlay=x=%s:y=%s:format=auto%s", base, img, strconv.Itoa(w.Left), strconv.Itoa(w.Top), out)
	return b.String(), nil
}
