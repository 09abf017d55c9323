package playauth

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // CloudFront signs with RSA-SHA1; verifying it needs SHA-1.
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
)

// MaxPolicyLength bounds the decoded custom policy a URL may carry.
const MaxPolicyLength = 4096

// Verifier checks signed play URLs against a set of public keys.
type Verifier struct {
	// Keys are the public keys by key pair id.
	Keys map[string]*rsa.PublicKey
	// Bases returns the public URL prefixes ("https://cdn.example.com") a URL
	// may have been signed for, besides the request's own scheme://host. The
	// gateway's RTMP play check has no host, so it relies on these. May be nil.
	Bases func() []string
	// TrustProxyHeaders takes the client address from CloudFront-Viewer-Address
	// or X-Forwarded-For and the scheme from X-Forwarded-Proto (set only behind
	// CloudFront or a load balancer that overwrites them).
	TrustProxyHeaders bool
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Request is what Verify needs of a play request.
type Request struct {
	// Path is the URL path ("/ch1/live.flv"), RawQuery its query as received.
	Path, RawQuery string
	// Bases are the candidate scheme://host prefixes the URL was signed for.
	Bases []string
	// ClientIP is the viewer's address (invalid when unknown).
	ClientIP netip.Addr
}

// FromHTTP builds the verification request of r.
func (v *Verifier) FromHTTP(r *http.Request) Request {
	req := Request{Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery}
	if r.Host != "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		if v.TrustProxyHeaders {
			if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
				scheme = p
			}
		}
		req.Bases = append(req.Bases, scheme+"://"+r.Host)
	}
	if v.Bases != nil {
		req.Bases = append(req.Bases, v.Bases()...)
	}
	req.ClientIP = clientIP(r, v.TrustProxyHeaders)
	return req
}

func clientIP(r *http.Request, trustProxy bool) netip.Addr {
	if trustProxy {
		if h := r.Header.Get("CloudFront-Viewer-Address"); h != "" {
			// "198.51.100.10:46532" or "2001:db8::1:46532": the port follows the last ':'.
			if i := strings.LastIndexByte(h, ':'); i > 0 {
				if a, err := netip.ParseAddr(strings.Trim(h[:i], "[]")); err == nil {
					return a.Unmap()
				}
			}
		}
		if h := r.Header.Get("X-Forwarded-For"); h != "" {
			first, _, _ := strings.Cut(h, ",")
			if a, err := netip.ParseAddr(strings.TrimSpace(first)); err == nil {
				return a.Unmap()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// VerifyHTTP checks the signature of an HTTP play request.
func (v *Verifier) VerifyHTTP(r *http.Request) error { return v.Verify(v.FromHTTP(r)) }

// Verify checks that req carries a valid signature for one of its bases.
func (v *Verifier) Verify(req Request) error {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	params, rest, err := splitQuery(req.RawQuery)
	if err != nil {
		return fmt.Errorf("verify play URL: %w", err)
	}
	if len(params) == 0 {
		return fmt.Errorf("verify play URL: %w", ErrUnsigned)
	}
	keyID, sigText := params[ParamKeyPairID], params[ParamSignature]
	expText, policyText := params[ParamExpires], params[ParamPolicy]
	if keyID == "" || sigText == "" || (expText == "") == (policyText == "") {
		return fmt.Errorf("verify play URL: %w: need Signature, Key-Pair-Id and one of Expires or Policy", ErrMalformed)
	}
	pub := v.Keys[keyID]
	if pub == nil {
		return fmt.Errorf("verify play URL: %w", ErrUnknownKey)
	}
	sig, err := decode(sigText, 1024)
	if err != nil {
		return fmt.Errorf("verify play URL: %w: signature: %v", ErrMalformed, err)
	}
	resources := make([]string, 0, len(req.Bases))
	for _, b := range req.Bases {
		r := strings.TrimRight(b, "/") + req.Path
		if rest != "" {
			r += "?" + rest
		}
		resources = append(resources, r)
	}
	if expText != "" {
		return verifyCanned(pub, sig, expText, resources, now)
	}
	return verifyCustom(pub, sig, policyText, resources, req.ClientIP, now)
}

func verifyCanned(pub *rsa.PublicKey, sig []byte, expText string, resources []string, now time.Time) error {
	exp, err := strconv.ParseInt(expText, 10, 64)
	if err != nil || exp < 0 || strconv.FormatInt(exp, 10) != expText {
		return fmt.Errorf("verify play URL: %w: Expires is not a Unix time", ErrMalformed)
	}
	for _, res := range resources {
		doc, err := policyJSON(sign.NewCannedPolicy(res, time.Unix(exp, 0)))
		if err != nil {
			return fmt.Errorf("verify play URL: %w", err)
		}
		if checkSig(pub, doc, sig) {
			if now.Unix() >= exp {
				return fmt.Errorf("verify play URL: %w: at %s", ErrExpired, time.Unix(exp, 0).UTC().Format(time.RFC3339))
			}
			return nil
		}
	}
	return fmt.Errorf("verify play URL: %w", ErrBadSignature)
}

func verifyCustom(pub *rsa.PublicKey, sig []byte, policyText string, resources []string, ip netip.Addr, now time.Time) error {
	doc, err := decode(policyText, MaxPolicyLength)
	if err != nil {
		return fmt.Errorf("verify play URL: %w: policy: %v", ErrMalformed, err)
	}
	if !checkSig(pub, doc, sig) {
		return fmt.Errorf("verify play URL: %w", ErrBadSignature)
	}
	var p sign.Policy
	if err := json.Unmarshal(doc, &p); err != nil || len(p.Statements) != 1 {
		return fmt.Errorf("verify play URL: %w: policy is not one statement", ErrMalformed)
	}
	st := p.Statements[0]
	matched := false
	for _, r := range resources {
		if wildcardMatch(st.Resource, r) {
			matched = true
			break
		}
	}
	if !matched {
		return fmt.Errorf("verify play URL: %w", ErrWrongResource)
	}
	c := st.Condition
	if c.DateLessThan == nil {
		return fmt.Errorf("verify play URL: %w: policy has no DateLessThan", ErrMalformed)
	}
	if !now.Before(c.DateLessThan.Time) {
		return fmt.Errorf("verify play URL: %w: at %s", ErrExpired, c.DateLessThan.UTC().Format(time.RFC3339))
	}
	if c.DateGreaterThan != nil && now.Before(c.DateGreaterThan.Time) {
		return fmt.Errorf("verify play URL: %w", ErrNotYetValid)
	}
	if c.IPAddress != nil && c.IPAddress.SourceIP != "" {
		pfx, err := parseRange(c.IPAddress.SourceIP)
		if err != nil {
			return fmt.Errorf("verify play URL: %w: source IP range: %v", ErrMalformed, err)
		}
		if !ip.IsValid() || !pfx.Contains(ip) {
			return fmt.Errorf("verify play URL: %w", ErrIPMismatch)
		}
	}
	return nil
}

// parseRange accepts a CIDR prefix or one address.
func parseRange(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// policyJSON encodes p exactly as the sign package does before signing.
func policyJSON(p *sign.Policy) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("encode policy: %w", err)
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

func checkSig(pub *rsa.PublicKey, doc, sig []byte) bool {
	h := sha1.Sum(doc) //nolint:gosec // CloudFront's algorithm.
	return rsa.VerifyPKCS1v15(pub, crypto.SHA1, h[:], sig) == nil
}

// cfReplacer maps CloudFront's URL-safe base64 back to standard base64.
var cfReplacer = strings.NewReplacer("-", "+", "_", "=", "~", "/")

// decode reads CloudFront's base64 (- _ ~ for + = /) of at most max bytes.
func decode(s string, max int) ([]byte, error) {
	if base64.StdEncoding.DecodedLen(len(s)) > max {
		return nil, fmt.Errorf("longer than %d bytes", max)
	}
	return base64.StdEncoding.DecodeString(cfReplacer.Replace(s))
}

// splitQuery takes the signature parameters out of a raw query and returns
// the rest as it was written (CloudFront signs the URL with its other
// parameters, which come before the signature ones).
func splitQuery(raw string) (map[string]string, string, error) {
	params := map[string]string{}
	var rest []string
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, val, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			rest = append(rest, part)
			continue
		}
		switch name {
		case ParamExpires, ParamPolicy, ParamSignature, ParamKeyPairID:
			if _, dup := params[name]; dup {
				return nil, "", fmt.Errorf("%w: %s given twice", ErrMalformed, name)
			}
			v, err := url.QueryUnescape(val)
			if err != nil {
				return nil, "", fmt.Errorf("%w: %s is not URL-encoded", ErrMalformed, name)
			}
			// QueryUnescape turns '+' into ' '; CloudFront's alphabet has no '+', but
			// a client may have re-encoded one: keep it a '+'.
			params[name] = strings.ReplaceAll(v, " ", "+")
		default:
			rest = append(rest, part)
		}
	}
	return params, strings.Join(rest, "&"), nil
}

// wildcardMatch matches s against pattern, where '*' stands for any run of
// characters (CloudFront's custom policy resources) and '?' for one.
func wildcardMatch(pattern, s string) bool {
	// Iterative glob with backtracking to the last '*': linear in practice.
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
