package hub

import (
	"github.com/livestack/livestack/shared/media/flv"
)

// Packet is one media message as every subscriber sees it. It is immutable once
// published and shared by all subscribers: the FLV tag bytes are built once by the
// publisher, so HTTP-FLV viewers write them without a per-viewer copy.
type Packet struct {
	// Type is audio, video or script (metadata).
	Type flv.TagType
	// Time is the hub timestamp in milliseconds (DTS), continuous across
	// publisher reconnects.
	Time uint32
	// Keyframe marks a video keyframe (a GOP start).
	Keyframe bool
	// Header marks a sequence header (AVC/AAC config) or metadata.
	Header bool
	// Arrived is when the hub received it, in nanoseconds on the hub's monotonic clock.
	Arrived int64
	// offset is the stream byte count before this packet (for lag in bytes).
	offset int64
	// tag is the whole FLV tag: 11-byte header, data, 4-byte previous tag size.
	tag []byte
}

// Data is the tag payload (the RTMP message body).
func (p *Packet) Data() []byte { return p.tag[flv.TagHeaderSize : len(p.tag)-flv.PrevSizeLength] }

// FLVTag is the whole serialized FLV tag, ready to write to an FLV stream.
func (p *Packet) FLVTag() []byte { return p.tag }

// Size is the payload length in bytes.
func (p *Packet) Size() int { return len(p.tag) - flv.TagHeaderSize - flv.PrevSizeLength }

// newPacket copies data into a fresh FLV tag buffer. The single copy is the one
// the publisher must make anyway (the RTMP reader reuses its buffers).
// Media packets come from the publisher's packetAlloc instead; this is for
// packets that live as long as their stream (headers, metadata).
func newPacket(typ flv.TagType, ts uint32, data []byte) *Packet {
	buf := make([]byte, flv.TagHeaderSize+len(data)+flv.PrevSizeLength)
	putTag(buf, typ, ts, data)
	return &Packet{Type: typ, Time: ts, tag: buf}
}

// putTag writes the FLV tag of data into buf, which is exactly its size.
func putTag(buf []byte, typ flv.TagType, ts uint32, data []byte) {
	n := len(data)
	flv.PutTagHeader(buf, typ, ts, n)
	copy(buf[flv.TagHeaderSize:], data)
	total := uint32(n + flv.TagHeaderSize)
	buf[len(buf)-4], buf[len(buf)-3], buf[len(buf)-2], buf[len(buf)-1] = byte(total>>24), byte(total>>16), byte(total>>8), byte(total)
}

// withTime returns a copy of p restamped to ts (used to re-send sequence headers).
func (p *Packet) withTime(ts uint32) *Packet {
	q := newPacket(p.Type, ts, p.Data())
	q.Keyframe, q.Header, q.Arrived, q.offset = p.Keyframe, p.Header, p.Arrived, p.offset
	return q
}
