// Package rtmpclient publishes a stream to an RTMP or RTMPS URL with
// github.com/yutopp/go-rtmp: parse rtmp://host[:port]/app/name?query, connect,
// create a stream, publish, then write FLV tags. Tests, the load harness and
// tools use it; relays use the same URL rules.
package rtmpclient

import (
	"io"

	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/sirupsen/logrus"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"

	"github.com/livestack/livestack/shared/media/flv"
)

// Target is a parsed RTMP URL.
type Target struct {
	Scheme string // rtmp or rtmps
	Addr   string // host:port
	Host   string
	App    string
	// Name is the stream name with its query ("{id}?sign=...").
	Name  string
	TCURL string
}

// ParseURL splits rtmp[s]://host[:port]/app/name[?query]; the default ports are
// 1935 (rtmp) and 443 (rtmps).
func ParseURL(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("parse rtmp url: %w", err)
	}
	t := Target{Scheme: u.Scheme, Host: u.Hostname()}
	switch u.Scheme {
	case "rtmp":
		t.Addr = net.JoinHostPort(u.Hostname(), portOr(u.Port(), "1935"))
	case "rtmps":
		t.Addr = net.JoinHostPort(u.Hostname(), portOr(u.Port(), "443"))
	default:
		return Target{}, fmt.Errorf("parse rtmp url: scheme %q is not rtmp or rtmps", u.Scheme)
	}
	if t.Host == "" {
		return Target{}, errors.New("parse rtmp url: no host")
	}
	path := strings.TrimPrefix(u.Path, "/")
	app, name, ok := strings.Cut(path, "/")
	if !ok || app == "" || name == "" {
		return Target{}, fmt.Errorf("parse rtmp url: path %q is not /app/name", u.Path)
	}
	t.App, t.Name = app, name
	if u.RawQuery != "" {
		t.Name += "?" + u.RawQuery
	}
	t.TCURL = u.Scheme + "://" + u.Host + "/" + app
	return t, nil
}

func portOr(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

// Config tunes a publish.
type Config struct {
	// TLS is used for rtmps; nil means system roots with the URL's host name.
	TLS *tls.Config
	// ChunkSize announced to the server. Default 4096.
	ChunkSize uint32
	// Timeout bounds dial, connect and publish. Default 10 s.
	Timeout time.Duration
}

// Publisher is one publishing connection.
type Publisher struct {
	cc     *rtmp.ClientConn
	stream *rtmp.Stream
}

// Publish dials target and starts publishing.
func Publish(ctx context.Context, rawURL string, cfg Config) (*Publisher, error) {
	t, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = 4096
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	var cc *rtmp.ClientConn
	nd := &net.Dialer{Timeout: cfg.Timeout}
	if t.Scheme == "rtmps" {
		tc := cfg.TLS
		if tc == nil {
			tc = &tls.Config{ServerName: t.Host, MinVersion: tls.VersionTLS12}
		}
		cc, err = rtmp.DialWithTLSDialer(&tls.Dialer{NetDialer: nd, Config: tc}, "rtmps", t.Addr, &rtmp.ConnConfig{Logger: quiet()})
	} else {
		cc, err = rtmp.DialWithDialer(nd, "rtmp", t.Addr, &rtmp.ConnConfig{Logger: quiet()})
	}
	if err != nil {
		return nil, fmt.Errorf("publish %s: dial: %w", t.Addr, err)
	}
	// go-rtmp's client calls take no context: closing the connection when ctx
	// ends unblocks them.
	stop := context.AfterFunc(ctx, func() { cc.Close() })
	defer stop()
	p := &Publisher{cc: cc}
	if err := cc.Connect(&message.NetConnectionConnect{Command: message.NetConnectionConnectCommand{
		App: t.App, Type: "nonprivate", FlashVer: "FMLE/3.0 (compatible; livestack)", TCURL: t.TCURL,
	}}); err != nil {
		p.Close()
		return nil, fmt.Errorf("publish %s: connect: %w", t.Addr, err)
	}
	if p.stream, err = cc.CreateStream(nil, cfg.ChunkSize); err != nil {
		p.Close()
		return nil, fmt.Errorf("publish %s: create stream: %w", t.Addr, err)
	}
	if err := p.stream.Publish(&message.NetStreamPublish{PublishingName: t.Name, PublishingType: "live"}); err != nil {
		p.Close()
		return nil, fmt.Errorf("publish %s: %w", t.Addr, err)
	}
	return p, nil
}

// Chunk stream ids for the media this client sends.
const (
	csidData  = 4
	csidAudio = 6
	csidVideo = 7
)

// WriteTag sends one FLV tag body: audio, video or a script (onMetaData) body.
func (p *Publisher) WriteTag(typ flv.TagType, ts uint32, data []byte) error {
	if err := p.cc.LastError(); err != nil {
		return fmt.Errorf("write tag: connection closed: %w", err)
	}
	var err error
	switch typ {
	case flv.TagAudio:
		err = p.stream.Write(csidAudio, ts, &message.AudioMessage{Payload: bytes.NewReader(data)})
	case flv.TagVideo:
		err = p.stream.Write(csidVideo, ts, &message.VideoMessage{Payload: bytes.NewReader(data)})
	case flv.TagScript:
		// "@setDataFrame" followed by the script body ("onMetaData", object).
		err = p.stream.Write(csidData, ts, &message.DataMessage{Name: "@setDataFrame", Encoding: message.EncodingTypeAMF0, Body: bytes.NewReader(data)})
	default:
		return fmt.Errorf("write tag: type %d", typ)
	}
	if err != nil {
		return fmt.Errorf("write %s tag: %w", typ, err)
	}
	return nil
}

// Err reports the connection's error, if it ended (a refused publish ends it).
func (p *Publisher) Err() error { return p.cc.LastError() }

// Close ends the publish and the connection.
func (p *Publisher) Close() error {
	return p.cc.Close()
}

// quiet is a logger for go-rtmp that drops its chatter; errors come back as values.
func quiet() *logrus.Logger {
	l := logrus.New()
	l.Out = io.Discard
	return l
}
