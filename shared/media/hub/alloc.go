package hub

import "github.com/livestack/livestack/shared/media/flv"

// The hub keeps seconds of every stream's media alive: the GOP cache, and the
// HLS packager's and recorder's windows, which slice these packets instead of
// copying them (20 s a stream with 6 two-second HLS segments). Allocated one by
// one, that is two heap objects per packet, about 70 packets a second per
// stream: some 1.7 million packets, 3.5 million objects, at 1,200 publishers,
// which every GC cycle must visit. On two cores that mark phase took 0.4–2.4 s
// of wall clock every 7–8 s, and the publishers' reads stalled behind it
// (docs/performance.md, "Many publishers").
//
// packetAlloc carves a publisher's packets out of a few large blocks instead:
// the FLV tags out of slabs of slabSize bytes, the Packet structs out of arrays
// of chunkLen. The GC sees one object per slab and per chunk (a few a second
// per stream) and marks a packet by an interior pointer, which keeps its whole
// block alive; since a stream's packets are released oldest first, blocks die
// almost whole. Packets that live as long as the stream (sequence headers,
// metadata) and large frames are allocated on their own, so that they neither
// pin a slab nor waste most of one.
//
// Go has no manual memory management to do better (an arena freed when the
// last subscriber is done would need reference counts through every consumer);
// this keeps the GC's work in proportion to the seconds kept, not the packets.
type packetAlloc struct {
	slab []byte   // unused rest of the current slab
	pkts []Packet // unused rest of the current chunk
}

const (
	// slabSize is one second of a 1 Mbit/s stream; a tag of more than
	// slabSize/4 bytes (a large keyframe) gets its own allocation.
	slabSize = 128 << 10
	// chunkLen Packet structs (56 bytes each) are about 2 s of a 30 fps stream
	// with audio.
	chunkLen = 128
)

// packet is newPacket from the allocator's blocks.
func (a *packetAlloc) packet(typ flv.TagType, ts uint32, data []byte) *Packet {
	n := flv.TagHeaderSize + len(data) + flv.PrevSizeLength
	var tag []byte
	if n > slabSize/4 {
		tag = make([]byte, n)
	} else {
		if len(a.slab) < n {
			a.slab = make([]byte, slabSize)
		}
		tag, a.slab = a.slab[:n:n], a.slab[n:]
	}
	if len(a.pkts) == 0 {
		a.pkts = make([]Packet, chunkLen)
	}
	p := &a.pkts[0]
	a.pkts = a.pkts[1:]
	*p = Packet{Type: typ, Time: ts, tag: tag}
	putTag(tag, typ, ts, data)
	return p
}
