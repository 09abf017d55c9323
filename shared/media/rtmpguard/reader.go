package rtmpguard

import (
	"fmt"
	"io"
	"sync/atomic"
)

const (
	handshakeVersion = 3    // C0: plain RTMP; 6 (RTMPE) and others are refused
	handshakeSize    = 1536 // C1 and C2
	initialChunkSize = 128  // section 5.4.1
	extTimestamp     = 0xFFFFFF
)

// Message type IDs (RTMP specification 1.0, sections 5.4, 6.2 and 7.1).
const (
	typeSetChunkSize = 1
	typeAbort        = 2
	typeAck          = 3
	typeUserControl  = 4
	typeWinAckSize   = 5
	typeSetPeerBW    = 6
	typeAudio        = 8
	typeVideo        = 9
	typeDataAMF3     = 15
	typeSharedAMF3   = 16
	typeCommandAMF3  = 17
	typeDataAMF0     = 18
	typeSharedAMF0   = 19
	typeCommandAMF0  = 20
	typeAggregate    = 22
)

// messageHeaderSize is the size of the message header for each chunk type
// (fmt), without the extended timestamp.
var messageHeaderSize = [4]int{11, 7, 3, 0}

type parseState uint8

const (
	stateC0         parseState = iota + 1 // the version byte
	stateHandshake                        // C1 and C2, skipped
	stateBasic                            // first byte of a basic header
	stateBasicExt                         // second byte of a 2-byte basic header
	stateMessageHdr                       // the message header of a type 0, 1 or 2 chunk
	stateExtTime                          // 4-byte extended timestamp, skipped
	statePayload                          // chunk payload
)

// chunkStream is the receive state of one chunk stream ID, as go-rtmp keeps it.
type chunkStream struct {
	id       uint32
	length   uint32 // declared length of the current (or last) message
	received uint32 // bytes of the current message received; 0 between messages
	streamID uint32 // message stream ID
	typeID   uint8
	inspect  bool   // the current message is buffered in body and checked whole
	body     []byte // reused between messages
}

// Stats counts what a Reader has passed on.
type Stats struct {
	Bytes    uint64 // bytes handed to the caller, handshake included
	Messages uint64 // complete messages
}

// messageInfo describes a complete message, for tests.
type messageInfo struct {
	csid     uint32
	typeID   uint8
	streamID uint32
	length   uint32
}

// Reader passes an RTMP client's byte stream through while checking it. It is
// not safe for concurrent Reads; Stats may be called from any goroutine.
type Reader struct {
	src io.Reader
	lim Limits

	state     parseState
	need      int      // bytes still to come in the current state
	hdr       [11]byte // message header, or the second basic header byte
	hdrLen    int
	fmt       byte
	csid      uint32
	chunkSize uint32
	cur       *chunkStream
	streams   map[uint32]*chunkStream
	amf       amfWalker

	offset int64 // stream offset of the next byte to parse
	err    error // sticky violation

	bytes    atomic.Uint64
	messages atomic.Uint64

	onMessage func(messageInfo) // test hook, called for each complete message
}

// NewReader returns a Reader that reads the client side of an RTMP connection
// from r, starting with the handshake, and applies lim (zero fields take their
// defaults).
func NewReader(r io.Reader, lim Limits) *Reader {
	return &Reader{
		src:       r,
		lim:       lim.withDefaults(),
		state:     stateC0,
		chunkSize: initialChunkSize,
		streams:   make(map[uint32]*chunkStream),
	}
}

// Read reads from the underlying reader and returns the bytes unchanged. When
// they break a rule it returns the bytes before the offending one with a
// *Violation, and the same Violation from then on. Errors of the underlying
// reader (io.EOF included) are returned as they are.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.src.Read(p)
	if n > 0 {
		k, verr := r.parse(p[:n])
		r.bytes.Add(uint64(k))
		if verr != nil {
			r.err = verr
			return k, verr
		}
	}
	return n, err
}

// Stats returns the bytes and messages passed on so far.
func (r *Reader) Stats() Stats {
	return Stats{Bytes: r.bytes.Load(), Messages: r.messages.Load()}
}

// parse advances the state machine over p. On a violation it returns the
// index of the byte that completed the offending unit; the bytes before it are
// safe to hand on.
func (r *Reader) parse(p []byte) (int, error) {
	base := r.offset
	defer func() { r.offset = base + int64(len(p)) }()
	fail := func(i int, reason, format string, args ...any) (int, error) {
		return i, &Violation{Reason: reason, Detail: fmt.Sprintf(format, args...), Offset: base + int64(i)}
	}

	i := 0
	for i < len(p) {
		switch r.state {
		case stateC0:
			if p[i] != handshakeVersion {
				return fail(i, ReasonBadVersion, "C0 is %d, want %d", p[i], handshakeVersion)
			}
			i++
			r.state, r.need = stateHandshake, 2*handshakeSize

		case stateHandshake, stateExtTime:
			k := min(r.need, len(p)-i)
			i += k
			r.need -= k
			if r.need > 0 {
				continue
			}
			if r.state == stateHandshake {
				r.state = stateBasic
				continue
			}
			r.startPayload()

		case stateBasic:
			b := p[i]
			r.fmt = b >> 6
			switch b & 0x3f {
			case 0:
				r.state, r.need, r.hdrLen = stateBasicExt, 1, 0
				i++
				continue
			case 1:
				// go-rtmp reads the two ID bytes with io.ReadAtLeast into the
				// rest of its 64 KiB buffer, swallowing whatever else is
				// buffered: its framing is lost, so this form is refused.
				return fail(i, ReasonBasicHeader3, "chunk type %d", r.fmt)
			}
			r.csid = uint32(b & 0x3f)
			if reason, detail := r.startChunk(); reason != "" {
				return fail(i, reason, "%s", detail)
			}
			i++

		case stateBasicExt:
			r.hdr[r.hdrLen] = p[i]
			r.hdrLen++
			r.need--
			if r.need > 0 {
				i++
				continue
			}
			r.csid = uint32(r.hdr[0]) + 64
			if reason, detail := r.startChunk(); reason != "" {
				return fail(i, reason, "%s", detail)
			}
			i++

		case stateMessageHdr:
			k := min(r.need, len(p)-i)
			copy(r.hdr[r.hdrLen:], p[i:i+k])
			r.hdrLen += k
			r.need -= k
			if r.need > 0 {
				i += k
				continue
			}
			last := i + k - 1
			i += k
			if reason, detail := r.messageHeader(); reason != "" {
				return fail(last, reason, "%s", detail)
			}

		case statePayload:
			cs := r.cur
			k := min(r.need, len(p)-i)
			if cs.inspect {
				cs.body = append(cs.body, p[i:i+k]...)
			}
			cs.received += uint32(k)
			r.need -= k
			i += k
			if r.need > 0 {
				continue
			}
			r.state = stateBasic
			if cs.received == cs.length {
				if reason, detail := r.endMessage(cs); reason != "" {
					return fail(i-1, reason, "%s", detail)
				}
			}
		}
	}
	return len(p), nil
}

// startChunk runs once the basic header is complete.
func (r *Reader) startChunk() (reason, detail string) {
	cs := r.cur
	if cs == nil || cs.id != r.csid {
		cs = r.streams[r.csid]
		if cs == nil {
			if len(r.streams) >= r.lim.MaxChunkStreams {
				return ReasonTooManyChunkStream, fmt.Sprintf("chunk stream %d would be the %dth, limit %d",
					r.csid, len(r.streams)+1, r.lim.MaxChunkStreams)
			}
			cs = &chunkStream{id: r.csid}
			r.streams[r.csid] = cs
		}
		r.cur = cs
	}
	if r.fmt == 3 {
		if cs.received == 0 {
			if reason, detail := r.startMessage(cs); reason != "" {
				return reason, detail
			}
		}
		r.startPayload()
		return "", ""
	}
	if cs.received != 0 {
		// go-rtmp would keep the partial body and take the new length.
		return ReasonHeaderInMessage, fmt.Sprintf("type %d header on chunk stream %d, %d of %d bytes received",
			r.fmt, cs.id, cs.received, cs.length)
	}
	r.state, r.need, r.hdrLen = stateMessageHdr, messageHeaderSize[r.fmt], 0
	return "", ""
}

// messageHeader runs once the message header of a type 0, 1 or 2 chunk is
// complete, before its extended timestamp.
func (r *Reader) messageHeader() (reason, detail string) {
	cs, h := r.cur, r.hdr[:]
	ts := uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
	switch r.fmt {
	case 0:
		cs.length = uint32(h[3])<<16 | uint32(h[4])<<8 | uint32(h[5])
		cs.typeID = h[6]
		cs.streamID = uint32(h[7]) | uint32(h[8])<<8 | uint32(h[9])<<16 | uint32(h[10])<<24
	case 1:
		cs.length = uint32(h[3])<<16 | uint32(h[4])<<8 | uint32(h[5])
		cs.typeID = h[6]
	}
	if reason, detail := r.startMessage(cs); reason != "" {
		return reason, detail
	}
	if ts == extTimestamp {
		r.state, r.need = stateExtTime, 4
		return "", ""
	}
	r.startPayload()
	return "", ""
}

// startMessage checks the header of a message about to start on cs.
func (r *Reader) startMessage(cs *chunkStream) (reason, detail string) {
	where := func() string {
		return fmt.Sprintf("type %d, %d bytes, chunk stream %d, message stream %d", cs.typeID, cs.length, cs.id, cs.streamID)
	}
	if cs.length == 0 {
		return ReasonZeroLength, where()
	}
	if cs.length > uint32(r.lim.MaxMessageSize) {
		return ReasonMessageTooLarge, fmt.Sprintf("%s, limit %d", where(), r.lim.MaxMessageSize)
	}
	cs.inspect = false
	switch cs.typeID {
	case typeSetChunkSize:
		if cs.length != 4 || cs.streamID != 0 {
			return ReasonBadSetChunkSize, fmt.Sprintf("%s, want 4 bytes on message stream 0", where())
		}
		cs.inspect = true
	case typeAbort, typeAck, typeUserControl, typeWinAckSize, typeSetPeerBW:
		if cs.length > maxControlSize {
			return ReasonControlTooLarge, fmt.Sprintf("%s, limit %d", where(), maxControlSize)
		}
	case typeAudio, typeVideo:
	case typeDataAMF0, typeCommandAMF0:
		if cs.length > uint32(r.lim.MaxCommandSize) {
			return ReasonCommandTooLarge, fmt.Sprintf("%s, limit %d", where(), r.lim.MaxCommandSize)
		}
		cs.inspect = true
	case typeDataAMF3, typeSharedAMF3, typeCommandAMF3, typeSharedAMF0, typeAggregate:
		// go-rtmp implements none of these and closes the connection.
		return ReasonUnsupportedType, where()
	default:
		return ReasonUnsupportedType, where()
	}
	cs.body = cs.body[:0]
	return "", ""
}

// startPayload enters the payload of the chunk whose header is complete.
func (r *Reader) startPayload() {
	cs := r.cur
	r.state, r.need = statePayload, int(min(cs.length-cs.received, r.chunkSize))
}

// endMessage checks a complete message and applies a new chunk size.
func (r *Reader) endMessage(cs *chunkStream) (reason, detail string) {
	cs.received = 0
	switch cs.typeID {
	case typeSetChunkSize:
		b := cs.body
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		switch {
		case v&0x80000000 != 0:
			return ReasonBadSetChunkSize, fmt.Sprintf("value 0x%08x has the reserved bit set", v)
		case v == 0:
			return ReasonBadSetChunkSize, "chunk size 0"
		case v > uint32(r.lim.MaxChunkSize):
			return ReasonChunkSizeTooLarge, fmt.Sprintf("chunk size %d, limit %d", v, r.lim.MaxChunkSize)
		}
		r.chunkSize = v
	case typeDataAMF0, typeCommandAMF0:
		r.amf.maxDepth, r.amf.maxValues = r.lim.MaxAMFDepth, r.lim.MaxAMFValues
		if reason, detail := r.amf.walk(cs.body); reason != "" {
			return reason, fmt.Sprintf("%s (message type %d, %d bytes, chunk stream %d)", detail, cs.typeID, cs.length, cs.id)
		}
	}
	r.messages.Add(1)
	if r.onMessage != nil {
		r.onMessage(messageInfo{csid: cs.id, typeID: cs.typeID, streamID: cs.streamID, length: cs.length})
	}
	return "", ""
}
