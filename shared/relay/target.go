package relay

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ErrInvalidURL is returned for relay URLs that are not rtmp[s]://host[:port]/app/name.
var ErrInvalidURL = errors.New("invalid relay url")

// Default ports of the relay schemes.
const (
	DefaultRTMPPort  = "1935"
	DefaultRTMPSPort = "443"
)

// target is a parsed relay URL. Only Redacted may appear in logs and stats: the
// stream name (and its query) is usually the broadcaster's secret key.
type target struct {
	Scheme string // "rtmp" or "rtmps"
	Addr   string // host:port to dial
	Host   string // host name, for TLS verification
	App    string // first path segment
	Name   string // the rest of the path plus "?query": the publishing name
	TCURL  string // scheme://host[:port]/app
	// Redacted is the URL with the name replaced by "***".
	Redacted string
}

// parseTarget splits rtmp[s]://host[:port]/app/name[?query]: the app is the first
// path segment, the publishing name is the rest of the path plus the query
// (rtmp://a.rtmp.youtube.com/live2/KEY -> app "live2", name "KEY";
// rtmp://host:1935/stream/ch?sign=x -> app "stream", name "ch?sign=x").
// Errors never quote the URL, which carries the secret.
func parseTarget(raw string) (target, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return target{}, fmt.Errorf("%w: does not parse", ErrInvalidURL)
	}
	t := target{Scheme: strings.ToLower(u.Scheme), Host: u.Hostname()}
	var port string
	switch t.Scheme {
	case "rtmp":
		port = DefaultRTMPPort
	case "rtmps":
		port = DefaultRTMPSPort
	default:
		return target{}, fmt.Errorf("%w: scheme %q is not rtmp or rtmps", ErrInvalidURL, u.Scheme)
	}
	if t.Host == "" {
		return target{}, fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return target{}, fmt.Errorf("%w: port %q out of range", ErrInvalidURL, p)
		}
		port = p
	}
	t.Addr = net.JoinHostPort(t.Host, port)
	app, name, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if app == "" || name == "" {
		return target{}, fmt.Errorf("%w: path is not /app/name", ErrInvalidURL)
	}
	t.App, t.Name = app, name
	if u.RawQuery != "" {
		t.Name += "?" + u.RawQuery
	}
	t.TCURL = t.Scheme + "://" + u.Host + "/" + app
	t.Redacted = t.TCURL + "/***"
	return t, nil
}

// Redact returns a relay URL safe for logs and stats: scheme, host and app are
// kept; the stream name, query, fragment and any user info are replaced by
// "***". A URL that does not parse far enough becomes "***".
func Redact(raw string) string {
	if t, err := parseTarget(raw); err == nil {
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

// scrub removes the target's secret name from an error text (a target may echo
// the stream key in its status description).
func (t target) scrub(s string) string {
	if t.Name == "" {
		return s
	}
	s = strings.ReplaceAll(s, t.Name, "***")
	key, query, _ := strings.Cut(t.Name, "?")
	for _, secret := range []string{key, query} {
		if len(secret) >= 4 { // shorter ones would mangle ordinary words
			s = strings.ReplaceAll(s, secret, "***")
		}
	}
	return s
}
