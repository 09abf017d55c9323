// Package rtmpguard checks the client→server byte stream of an RTMP connection
// before github.com/yutopp/go-rtmp sees it.
//
// We wrote our own because go-rtmp v0.0.7 and go-amf0 v0.1.0 trust their input:
//
//   - go-amf0 allocates from declared counts before checking that they fit: a
//     strict array (marker 0x0A) declaring 0x7fffffff elements makes a 32 GB
//     []interface{}, so one 20-byte connect command kills the process with an
//     out-of-memory error that no recover catches.
//   - go-rtmp never enforces StreamControlStateConfig.MaxMessageSize, keeps every
//     partial message of every chunk stream in memory, and panics on a
//     zero-length message ("invalid state" in readChunk).
//
// NewReader wraps the connection's reader. It passes the bytes through
// unchanged while it parses them, and fails the read with a *Violation (which
// wraps ErrViolation) at the first byte that breaks a rule, withholding that
// byte and everything after it, so go-rtmp never completes a header or a
// message the guard has refused. It parses the handshake (C0, C1, C2), the
// chunk stream (RTMP specification 1.0, section 5.3) and reassembles messages;
// AMF0 command and data messages (types 20 and 18) are buffered and walked
// whole: every string, long string and array length must fit in the message,
// nesting and value counts are bounded, unknown markers are refused. Audio and
// video payloads are only skipped over, without copying or allocating. AMF3
// messages (types 15, 16, 17), AMF0 shared objects (19), aggregates (22) and
// undefined types are refused: go-rtmp implements none of them and would
// close the connection anyway.
//
// The chunk parser follows go-rtmp's reader, not only the specification, so
// both see the same chunk boundaries:
//
//   - An extended timestamp (4 bytes) follows a type 0, 1 or 2 message header
//     whose timestamp field is 0xFFFFFF, never a type 3 header. The
//     specification (and librtmp, FFmpeg, OBS) repeat it on type 3 chunks; go-rtmp
//     reads those 4 bytes as payload, and so does the guard.
//   - The peer's chunk size changes when a Set Chunk Size message completes and
//     applies from the next chunk on, as in go-rtmp's message loop. go-rtmp
//     clamps sizes above 0xFFFFFF, so Limits.MaxChunkSize is capped there.
//
// Where go-rtmp's behaviour is broken or ill-defined the guard refuses instead:
//
//   - a 3-byte basic header (chunk stream IDs from 320, or any ID in that
//     form): go-rtmp reads its two ID bytes with io.ReadAtLeast into the rest
//     of a 64 KiB buffer and so swallows whatever else its bufio.Reader holds;
//   - a type 0, 1 or 2 header on a chunk stream whose message is unfinished
//     (go-rtmp would append to the old partial body under the new length);
//   - Set Chunk Size on a message stream other than 0.
//
// The guard assumes go-rtmp runs with ConnConfig.IgnoreMessagesOnNotExistStream
// false (its default): with it true, go-rtmp would drop a Set Chunk Size sent
// after deleteStream(0) that the guard applies.
//
// The package is pure: bytes in, bytes out, no sockets. Wire it in go-rtmp's
// ServerConfig.OnConnect by returning a ReadWriteCloser whose Read is the
// guard's.
package rtmpguard

import (
	"errors"
	"fmt"
)

// Defaults for the zero fields of Limits.
const (
	DefaultMaxMessageSize  = 8 << 20   // 8 MiB: a large keyframe
	DefaultMaxCommandSize  = 64 << 10  // 64 KiB: connect with a big object, onMetaData
	DefaultMaxChunkSize    = 1<<24 - 1 // the largest go-rtmp accepts
	DefaultMaxChunkStreams = 64
	DefaultMaxAMFDepth     = 32
	DefaultMaxAMFValues    = 4096
)

// maxControlSize bounds protocol control and user control messages (types 1-6).
// The largest the specification defines is a user control event with an 8-byte
// payload, 10 bytes in all.
const maxControlSize = 64

// Limits bounds what a client may send. A zero (or negative) field takes its
// default.
type Limits struct {
	// MaxMessageSize is the largest message a message header may declare, in
	// bytes. Default DefaultMaxMessageSize (8 MiB). The header is refused at
	// once, before any of the message is read.
	MaxMessageSize int
	// MaxCommandSize is the largest AMF0 command or data message (types 20
	// and 18). Default DefaultMaxCommandSize (64 KiB). These are the only
	// messages the guard buffers, one per chunk stream at most.
	MaxCommandSize int
	// MaxChunkSize is the largest chunk size a Set Chunk Size message may set.
	// Default and cap DefaultMaxChunkSize (16 MiB - 1). It should match (or be
	// below) go-rtmp's StreamControlStateConfig.MaxChunkSize.
	MaxChunkSize int
	// MaxChunkStreams is the number of distinct chunk stream IDs a connection
	// may use. Default DefaultMaxChunkStreams (64), the count go-rtmp keeps a
	// reader for. It should match go-rtmp's StreamControlStateConfig.MaxChunkStreams.
	MaxChunkStreams int
	// MaxAMFDepth is how deeply objects, ECMA arrays and strict arrays may nest
	// in an AMF0 message. Default DefaultMaxAMFDepth (32).
	MaxAMFDepth int
	// MaxAMFValues is the number of AMF0 values (each array element and each
	// object property counts) one message may hold. Default
	// DefaultMaxAMFValues (4096).
	MaxAMFValues int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxMessageSize, DefaultMaxMessageSize)
	def(&l.MaxCommandSize, DefaultMaxCommandSize)
	def(&l.MaxChunkSize, DefaultMaxChunkSize)
	def(&l.MaxChunkStreams, DefaultMaxChunkStreams)
	def(&l.MaxAMFDepth, DefaultMaxAMFDepth)
	def(&l.MaxAMFValues, DefaultMaxAMFValues)
	// Both fields are 24 bits on the wire, and go-rtmp clamps larger chunk
	// sizes to 0xFFFFFF: accepting one above would desynchronise the parsers.
	l.MaxMessageSize = min(l.MaxMessageSize, 1<<24-1)
	l.MaxChunkSize = min(l.MaxChunkSize, 1<<24-1)
	return l
}

// ErrViolation is wrapped by every *Violation: errors.Is(err, ErrViolation)
// tells a hostile or broken client from a network error.
var ErrViolation = errors.New("rtmpguard: protocol violation")

// Reasons a Violation gives. They are short and fixed, fit for a metric label;
// Violation.Detail carries the numbers.
const (
	ReasonBadVersion         = "bad handshake version"
	ReasonTooManyChunkStream = "too many chunk streams"
	ReasonBasicHeader3       = "3-byte chunk basic header"
	ReasonHeaderInMessage    = "message header inside an unfinished message"
	ReasonZeroLength         = "zero-length message"
	ReasonMessageTooLarge    = "message too large"
	ReasonCommandTooLarge    = "command message too large"
	ReasonControlTooLarge    = "control message too large"
	ReasonUnsupportedType    = "unsupported message type"
	ReasonBadSetChunkSize    = "bad set chunk size"
	ReasonChunkSizeTooLarge  = "chunk size too large"
	ReasonAMFOverflow        = "amf0 length exceeds message"
	ReasonAMFTruncated       = "amf0 value truncated"
	ReasonAMFTooDeep         = "amf0 nesting too deep"
	ReasonAMFTooManyValues   = "amf0 too many values"
	ReasonAMFBadMarker       = "amf0 bad marker"
)

// Violation is the error Reader.Read returns when the stream breaks a rule.
// The byte at Offset and all later ones were withheld.
type Violation struct {
	Reason string // one of the Reason constants
	Detail string // what was seen, and where in the chunk stream
	Offset int64  // stream offset of the first withheld byte
}

func (v *Violation) Error() string {
	if v.Detail == "" {
		return fmt.Sprintf("rtmpguard: %s (stream byte %d)", v.Reason, v.Offset)
	}
	return fmt.Sprintf("rtmpguard: %s: %s (stream byte %d)", v.Reason, v.Detail, v.Offset)
}

// Unwrap makes errors.Is(err, ErrViolation) hold.
func (v *Violation) Unwrap() error { return ErrViolation }
