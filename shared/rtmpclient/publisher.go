package rtmpclient

import (
	"context"
	"crypto/tls"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
)

// Config tunes a Publish. Zero values take the documented defaults.
type Config struct {
	// TLS is used for rtmps; nil means the system roots with the URL's host
	// name (Options.TLS).
	TLS *tls.Config
	// ChunkSize announced to the server. Default 4096.
	ChunkSize uint32
	// Timeout bounds dial, connect and publish until the server accepts.
	// Default 10 s.
	Timeout time.Duration
	// WriteTimeout bounds each WriteTag, and fails the connection when the
	// server takes no data for this long (Options.WriteTimeout). Default 10 s.
	WriteTimeout time.Duration
}

// Publisher is one publishing connection with a context-free WriteTag, for
// tools and tests: a thin wrapper over Conn.
type Publisher struct {
	c            *Conn
	writeTimeout time.Duration
}

// Publish dials rawURL and publishes (see Dial): it returns once the server
// accepted the publish, and an ErrRefused error when it did not. ctx bounds
// the setup only.
func Publish(ctx context.Context, rawURL string, cfg Config) (*Publisher, error) {
	opts := Options{Timeout: cfg.Timeout, WriteTimeout: cfg.WriteTimeout, ChunkSize: cfg.ChunkSize, TLS: cfg.TLS}
	c, err := Dial(ctx, rawURL, opts)
	if err != nil {
		return nil, err
	}
	return &Publisher{c: c, writeTimeout: c.opts.WriteTimeout}, nil
}

// WriteTag sends one FLV tag body: audio, video or a script (onMetaData)
// body, waiting at most Config.WriteTimeout (see Conn.WriteTag). It fails
// once the connection failed, with Err.
func (p *Publisher) WriteTag(typ flv.TagType, ts uint32, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.writeTimeout)
	defer cancel()
	return p.c.WriteTag(ctx, typ, ts, data)
}

// AppendTag appends one FLV tag body to dst as RTMP chunks for WriteChunks
// (see Conn.AppendTag).
func (p *Publisher) AppendTag(dst []byte, typ flv.TagType, ts uint32, data []byte) ([]byte, error) {
	return p.c.AppendTag(dst, typ, ts, data)
}

// WriteChunks writes tags appended by AppendTag in one write, waiting for the
// socket at most until deadline (zero: until written or failed); an error
// wrapping ErrBlocked means the rest is queued for Flush (see
// Conn.WriteChunks).
func (p *Publisher) WriteChunks(b []byte, deadline time.Time) error {
	return p.c.WriteChunks(b, deadline)
}

// Flush writes what a blocked WriteChunks left queued (see Conn.Flush).
func (p *Publisher) Flush(deadline time.Time) error { return p.c.Flush(deadline) }

// Err is why the connection failed (the server closed it or ended the
// publish with an error status, or a write timed out); nil while it works.
func (p *Publisher) Err() error { return p.c.Err() }

// Close unpublishes and closes the connection (Conn.Close with graceful
// set). It always returns nil; the error is for io.Closer.
func (p *Publisher) Close() error {
	p.c.Close(true)
	return nil
}
