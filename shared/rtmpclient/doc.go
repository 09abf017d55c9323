// Package rtmpclient publishes a live stream to an RTMP or RTMPS server: it
// parses rtmp[s]://host[:port]/app/name[?query] (ParseURL), connects,
// publishes, waits for the server to accept, then sends FLV tag bodies. It is
// the one RTMP publishing client of livestack: relays (shared/relay) use Conn
// with a context per write; tests, the load harness and tools use the simpler
// Publisher.
//
// It is built from go-rtmp's handshake, chunk streamer and message codec on a
// net.Conn it opens itself, not from go-rtmp's client (rtmp.Dial,
// ClientConn), because that client takes no context or deadline and can hang
// for good: against a server that completes the handshake and then goes
// silent, ClientConn.Connect stays blocked even after ClientConn.Close; the
// handshake has no timeout; writes use a fixed 5 s timeout and, once its
// writer died, can queue silently and then block; onStatus is discarded, so a
// refused publish shows only as a closed connection; and pings are never
// answered. Here every step of the setup is bounded by a timeout and ctx,
// every write by a write timeout, the server's statuses are read (ErrRefused),
// pings are answered, the server's chunk size is applied, and panics of
// go-rtmp's chunk reader on malformed input become errors.
//
// For many publishers driven from a few goroutines (the load harness),
// AppendTag encodes tags into RTMP chunks in a caller's buffer and
// WriteChunks sends them in one write with a deadline, keeping what a full
// socket did not take for the next write (ErrBlocked) instead of blocking:
// no goroutine hand-off, context or system call per chunk (chunks.go).
//
// Stream URLs carry the broadcaster's secret key: errors never show it, and
// Redact and Target.Redacted give the form for logs and stats.
package rtmpclient
