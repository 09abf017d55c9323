package rtmpclient

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ErrInvalidURL is wrapped by ParseURL errors: the URL is not
// rtmp[s]://host[:port]/app/name.
var ErrInvalidURL = errors.New("invalid rtmp url")

// Default ports of the schemes.
const (
	DefaultRTMPPort  = "1935"
	DefaultRTMPSPort = "443"
)

// Target is a parsed RTMP URL. Only Redacted may appear in logs and stats: the
// stream name (and its query) is usually the broadcaster's secret key.
type Target struct {
	Scheme string // "rtmp" or "rtmps"
	Addr   string // host:port to dial
	Host   string // host name, for TLS verification
	App    string // first path segment
	Name   string // the rest of the path plus "?query": the publishing name
	TCURL  string // scheme://host[:port]/app
	// Redacted is the URL with the name replaced by "***".
	Redacted string
}

// ParseURL splits rtmp[s]://host[:port]/app/name[?query]: the app is the first
// path segment, the publishing name is the rest of the path plus the query
// (rtmp://a.rtmp.youtube.com/live2/KEY -> app "live2", name "KEY";
// rtmp://host:1935/stream/ch?sign=x -> app "stream", name "ch?sign=x"). The
// default ports are 1935 (rtmp) and 443 (rtmps); user info is dropped.
// Errors wrap ErrInvalidURL and never quote the URL, which carries the secret.
func ParseURL(raw string) (Target, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return Target{}, fmt.Errorf("%w: does not parse", ErrInvalidURL)
	}
	t := Target{Scheme: strings.ToLower(u.Scheme), Host: u.Hostname()}
	var port string
	switch t.Scheme {
	case "rtmp":
		port = DefaultRTMPPort
	case "rtmps":
		port = DefaultRTMPSPort
	default:
		return Target{}, fmt.Errorf("%w: scheme %q is not rtmp or rtmps", ErrInvalidURL, u.Scheme)
	}
	if t.Host == "" {
		return Target{}, fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return Target{}, fmt.Errorf("%w: port %q out of range", ErrInvalidURL, p)
		}
		port = p
	}
	if !validHost(t.Host) {
		return Target{}, fmt.Errorf("%w: host %q", ErrInvalidURL, t.Host)
	}
	t.Addr = net.JoinHostPort(t.Host, port)
	app, name, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if app == "" || name == "" {
		return Target{}, fmt.Errorf("%w: path is not /app/name", ErrInvalidURL)
	}
	t.App, t.Name = app, name
	if u.RawQuery != "" {
		t.Name += "?" + u.RawQuery
	}
	t.TCURL = t.Scheme + "://" + u.Host + "/" + app
	t.Redacted = t.TCURL + "/***"
	return t, nil
}

// Redact returns an RTMP URL safe for logs and stats: scheme, host and app are
// kept; the stream name, query, fragment and any user info are replaced by
// "***". A URL that does not parse far enough becomes "***".
func Redact(raw string) string {
	if t, err := ParseURL(raw); err == nil {
		return t.Redacted
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "***"
	}
	out := u.Scheme + "://" + u.Host
	if app, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/"); app != "" {
		out += "/" + app
	}
	return out + "/***"
}

// Scrub removes the target's secret name from a text such as an error (a
// server may echo the stream key in its status description). Key and query
// parts shorter than 4 bytes are left alone: they would mangle ordinary words.
func (t Target) Scrub(s string) string {
	if t.Name == "" {
		return s
	}
	s = strings.ReplaceAll(s, t.Name, "***")
	key, query, _ := strings.Cut(t.Name, "?")
	for _, secret := range []string{key, query} {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "***")
		}
	}
	return s
}

// validHost accepts DNS names and IP literals: letters, digits, '-', '.', '_'
// and, for IPv6, ':' and '%' (zone). url.Parse lets through hosts such as "]".
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(strings.SplitN(h, "%", 2)[0]) != nil {
		return true
	}
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}
