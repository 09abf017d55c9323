package playauth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	keyOnce sync.Once
	keyA    *rsa.PrivateKey
	keyB    *rsa.PrivateKey
)

func testKeys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		keyA, err = rsa.GenerateKey(rand.Reader, 2048)
		if err == nil {
			keyB, err = rsa.GenerateKey(rand.Reader, 2048)
		}
		if err != nil {
			panic(err)
		}
	})
	return keyA, keyB
}

var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newPair(t testing.TB) (*Signer, *Verifier) {
	a, _ := testKeys(t)
	s, err := NewSigner("K2JCJMDEHXQW5F", a)
	require.NoError(t, err)
	v := &Verifier{Keys: map[string]*rsa.PublicKey{"K2JCJMDEHXQW5F": &a.PublicKey}, Now: func() time.Time { return testNow }}
	return s, v
}

// reqOf turns a signed URL into a verification request from clientIP.
func reqOf(t testing.TB, signed, clientIP string) Request {
	t.Helper()
	u, err := url.Parse(signed)
	require.NoError(t, err)
	r := Request{Path: u.EscapedPath(), RawQuery: u.RawQuery, Bases: []string{u.Scheme + "://" + u.Host}}
	if clientIP != "" {
		r.ClientIP = netip.MustParseAddr(clientIP)
	}
	return r
}

func TestVerify(t *testing.T) {
	s, v := newPair(t)
	_, other := testKeys(t)
	otherSigner, err := NewSigner("K2JCJMDEHXQW5F", other)
	require.NoError(t, err)
	const base = "https://d111111abcdef8.cloudfront.net/ch-1/live.flv"
	canned, err := s.Sign(base, testNow.Add(time.Hour))
	require.NoError(t, err)
	require.Contains(t, canned, "Expires=")
	expired, err := s.Sign(base, testNow.Add(-time.Second))
	require.NoError(t, err)
	atNow, err := s.Sign(base, testNow)
	require.NoError(t, err)
	withQuery, err := s.Sign(base+"?x=1", testNow.Add(time.Hour))
	require.NoError(t, err)
	custom, err := s.SignPolicy(base, "", testNow.Add(time.Hour), "")
	require.NoError(t, err)
	require.Contains(t, custom, "Policy=")
	ipRange, err := s.SignPolicy(base, "", testNow.Add(time.Hour), "203.0.113.0/24")
	require.NoError(t, err)
	oneIP, err := s.SignPolicy(base, "", testNow.Add(time.Hour), "2001:db8::7")
	require.NoError(t, err)
	wildcard, err := s.SignPolicy(base, "https://d111111abcdef8.cloudfront.net/ch-1/*", testNow.Add(time.Hour), "")
	require.NoError(t, err)
	customExpired, err := s.SignPolicy(base, "", testNow.Add(-time.Minute), "")
	require.NoError(t, err)
	byOtherKey, err := otherSigner.Sign(base, testNow.Add(time.Hour))
	require.NoError(t, err)

	swap := func(u, from, to string) string {
		require.Contains(t, u, from)
		return strings.Replace(u, from, to, 1)
	}
	sigOf := func(u string) string {
		q, _ := url.Parse(u)
		return q.Query().Get("Signature")
	}
	flipped := []byte(sigOf(canned))
	if flipped[10] == 'A' {
		flipped[10] = 'B'
	} else {
		flipped[10] = 'A'
	}

	cases := []struct {
		name    string
		url     string
		ip      string
		wantErr error
	}{
		{"canned valid", canned, "198.51.100.1", nil},
		{"canned with other query parameters", withQuery, "198.51.100.1", nil},
		{"custom valid", custom, "198.51.100.1", nil},
		{"custom ip in range", ipRange, "203.0.113.77", nil},
		{"custom single ipv6", oneIP, "2001:db8::7", nil},
		{"custom wildcard other file", swap(wildcard, "live.flv", "720p/index.m3u8"), "198.51.100.1", nil},
		{"expired", expired, "198.51.100.1", ErrExpired},
		{"expires exactly now", atNow, "198.51.100.1", ErrExpired},
		{"custom expired", customExpired, "198.51.100.1", ErrExpired},
		{"tampered signature", swap(canned, sigOf(canned), string(flipped)), "198.51.100.1", ErrBadSignature},
		{"tampered expiry", swap(canned, "Expires=", "Expires=1"), "198.51.100.1", ErrBadSignature},
		{"wrong key id", swap(canned, "Key-Pair-Id=K2JCJMDEHXQW5F", "Key-Pair-Id=KOTHER"), "198.51.100.1", ErrUnknownKey},
		{"signed by another key", byOtherKey, "198.51.100.1", ErrBadSignature},
		{"wrong path", swap(canned, "/ch-1/", "/ch-2/"), "198.51.100.1", ErrBadSignature},
		{"custom wrong path", swap(custom, "/ch-1/", "/ch-2/"), "198.51.100.1", ErrWrongResource},
		{"wildcard other channel", swap(wildcard, "/ch-1/", "/ch-2/"), "198.51.100.1", ErrWrongResource},
		{"added query parameter", swap(canned, "?", "?x=2&"), "198.51.100.1", ErrBadSignature},
		{"custom ip mismatch", ipRange, "198.51.100.1", ErrIPMismatch},
		{"custom ip unknown", ipRange, "", ErrIPMismatch},
		{"unsigned", base, "198.51.100.1", ErrUnsigned},
		{"no key id", swap(canned, "&Key-Pair-Id=K2JCJMDEHXQW5F", ""), "198.51.100.1", ErrMalformed},
		{"both expires and policy", canned + "&Policy=e30_", "198.51.100.1", ErrMalformed},
		{"expires twice", canned + "&Expires=1", "198.51.100.1", ErrMalformed},
		{"signature not base64", swap(canned, "Signature=", "Signature=%21%21"), "198.51.100.1", ErrMalformed},
		{"expires not a number", swap(canned, "Expires=", "Expires=x"), "198.51.100.1", ErrMalformed},
	}
	sentinels := []error{ErrUnsigned, ErrMalformed, ErrUnknownKey, ErrBadSignature, ErrWrongResource, ErrExpired, ErrNotYetValid, ErrIPMismatch}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Verify(reqOf(t, tc.url, tc.ip))
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			require.Equal(t, 1, n, "error %v wraps %d sentinels", err, n)
		})
	}
}

// TestVerifyBases: a URL signed for the public CloudFront domain verifies at
// the origin (other Host) when that domain is one of the configured bases.
func TestVerifyBases(t *testing.T) {
	s, v := newPair(t)
	signed, err := s.Sign("https://play.example.com/ch-1/live.flv", testNow.Add(time.Hour))
	require.NoError(t, err)
	u, err := url.Parse(signed)
	require.NoError(t, err)
	r := httptest.NewRequest("GET", "http://10.0.0.5:8080"+u.RequestURI(), nil)
	require.ErrorIs(t, v.VerifyHTTP(r), ErrBadSignature)
	v.Bases = func() []string { return []string{"https://play.example.com"} }
	require.NoError(t, v.VerifyHTTP(r))
}

func TestClientIPFromProxyHeaders(t *testing.T) {
	s, v := newPair(t)
	signed, err := s.SignPolicy("https://play.example.com/ch-1/live.flv", "", testNow.Add(time.Hour), "203.0.113.0/24")
	require.NoError(t, err)
	u, _ := url.Parse(signed)
	r := httptest.NewRequest("GET", "https://play.example.com"+u.RequestURI(), nil)
	r.RemoteAddr = "10.0.0.9:1234"
	r.Header.Set("X-Forwarded-For", "203.0.113.5, 10.0.0.1")
	require.ErrorIs(t, v.VerifyHTTP(r), ErrIPMismatch, "proxy headers are ignored unless trusted")
	v.TrustProxyHeaders = true
	require.NoError(t, v.VerifyHTTP(r))
	r.Header.Del("X-Forwarded-For")
	r.Header.Set("CloudFront-Viewer-Address", "203.0.113.200:46532")
	require.NoError(t, v.VerifyHTTP(r))
	r.Header.Set("CloudFront-Viewer-Address", "198.51.100.1:46532")
	require.ErrorIs(t, v.VerifyHTTP(r), ErrIPMismatch)
}

func TestSignPolicyRejectsBadRange(t *testing.T) {
	s, _ := newPair(t)
	_, err := s.SignPolicy("https://a.example/x", "", testNow, "not-an-ip")
	require.Error(t, err)
}

func TestWildcardMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "anything", true},
		{"https://a/*", "https://a/b/c", true},
		{"https://a/*/live.flv", "https://a/ch/live.flv", true},
		{"https://a/*/live.flv", "https://a/ch/live.m3u8", false},
		{"https://a/?h/x", "https://a/ch/x", true},
		{"https://a/b", "https://a/bc", false},
		{"", "", true},
		{"a**b", "ab", true},
	} {
		require.Equal(t, tc.want, wildcardMatch(tc.pattern, tc.s), "%q vs %q", tc.pattern, tc.s)
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	s1, err := LoadOrCreate(dir)
	require.NoError(t, err)
	s2, err := LoadOrCreate(dir)
	require.NoError(t, err)
	require.Equal(t, s1.KeyID(), s2.KeyID())
	require.True(t, s1.PublicKey().Equal(s2.PublicKey()))
	require.Regexp(t, `^LS[0-9A-F]{12}$`, s1.KeyID())
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestFromEnv(t *testing.T) {
	a, _ := testKeys(t)
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(a)}))
	pubPEM, err := PublicKeyPEM(&a.PublicKey)
	require.NoError(t, err)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	_, _, err = FromEnv(env(nil))
	require.ErrorIs(t, err, ErrNoKey)
	_, _, err = FromEnv(env(map[string]string{EnvPrivateKey: privPEM}))
	require.ErrorContains(t, err, EnvKeyID)
	_, _, err = FromEnv(env(map[string]string{EnvKeyID: "K1", EnvPrivateKey: "garbage"}))
	require.Error(t, err)

	s, keys, err := FromEnv(env(map[string]string{EnvKeyID: "K1", EnvPrivateKey: privPEM}))
	require.NoError(t, err)
	require.Equal(t, "K1", s.KeyID())
	require.True(t, keys["K1"].Equal(&a.PublicKey))

	pubFile := filepath.Join(t.TempDir(), "pub.pem")
	require.NoError(t, os.WriteFile(pubFile, pubPEM, 0o600))
	s, keys, err = FromEnv(env(map[string]string{EnvKeyID: "K1", EnvPublicKeyFile: pubFile}))
	require.NoError(t, err)
	require.Nil(t, s)
	require.True(t, keys["K1"].Equal(&a.PublicKey))
}
