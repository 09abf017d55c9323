package recording

import (
	"encoding/binary"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// fragSample is one sample of a journal fragment: where its payload is,
// relative to the fragment's start.
type fragSample struct {
	fmp4.Sample // without Payload
	Offset      int64
	Size        uint32
}

// fragTrack is one track of a journal fragment.
type fragTrack struct {
	ID       int
	BaseTime uint64
	Samples  []fragSample
}

// parseMoof reads a fragment's moof from b, which holds at least the moof and
// the mdat header of a fragment of total bytes: one mfhd, then per track a
// traf of tfhd (no optional fields but default-base-is-moof), tfdt version 1
// and one trun version 0 or 1 with a data offset. ok is false for anything
// else: the journal holds only what appendPart writes, so anything else is
// damage and ends the usable journal. Hand-written rather than mediacommon's
// fmp4.Parts.Unmarshal, which walks the boxes through go-mp4's reflection and
// needs the whole fragment, payloads included, in memory: this reads neither
// the payloads nor anything by reflection.
func parseMoof(b []byte, total int) (seq uint32, tracks []fragTrack, ok bool) {
	be := binary.BigEndian
	hdr := func(b []byte, off, limit int) (string, int, bool) {
		if off+8 > len(b) {
			return "", 0, false
		}
		n := int(be.Uint32(b[off:]))
		if n < 8 || off+n > limit {
			return "", 0, false
		}
		return string(b[off+4 : off+8]), n, true
	}
	typ, moofLen, ok := hdr(b, 0, total)
	if !ok || typ != "moof" || moofLen+8 > len(b) {
		return 0, nil, false
	}
	typ, mdatLen, ok := hdr(b, moofLen, total)
	if !ok || typ != "mdat" || moofLen+mdatLen != total {
		return 0, nil, false
	}
	off := 8
	if typ, n, ok := hdr(b, off, moofLen); !ok || typ != "mfhd" || n != 16 {
		return 0, nil, false
	}
	seq = be.Uint32(b[off+12:])
	off += 16
	for off < moofLen {
		typ, trafLen, ok := hdr(b, off, moofLen)
		if !ok || typ != "traf" {
			return 0, nil, false
		}
		var t fragTrack
		o := off + 8
		if typ, n, ok := hdr(b, o, off+trafLen); !ok || typ != "tfhd" || n != 16 || be.Uint32(b[o+8:])&0xFFFFFF != 0x020000 {
			return 0, nil, false
		}
		t.ID = int(be.Uint32(b[o+12:]))
		o += 16
		if typ, n, ok := hdr(b, o, off+trafLen); !ok || typ != "tfdt" || n != 20 || b[o+8] != 1 {
			return 0, nil, false
		}
		t.BaseTime = be.Uint64(b[o+12:])
		o += 20
		typ, trunLen, ok := hdr(b, o, off+trafLen)
		if !ok || typ != "trun" || o+trunLen != off+trafLen || trunLen < 20 {
			return 0, nil, false
		}
		version, flags := b[o+8], be.Uint32(b[o+8:])&0xFFFFFF
		const known = 0x01 | 0x100 | 0x200 | 0x400 | 0x800
		if version > 1 || flags&^known != 0 || flags&0x301 != 0x301 {
			return 0, nil, false
		}
		count := int(be.Uint32(b[o+12:]))
		dataOff := int64(int32(be.Uint32(b[o+16:])))
		entry := 8
		if flags&0x400 != 0 {
			entry += 4
		}
		if flags&0x800 != 0 {
			entry += 4
		}
		if count < 0 || count > trunLen || 20+count*entry != trunLen {
			return 0, nil, false
		}
		t.Samples = make([]fragSample, 0, count)
		e := o + 20
		for range count {
			var s fragSample
			s.Duration = be.Uint32(b[e:])
			s.Size = be.Uint32(b[e+4:])
			e += 8
			if flags&0x400 != 0 {
				s.IsNonSyncSample = be.Uint32(b[e:])&(1<<16) != 0
				e += 4
			}
			if flags&0x800 != 0 {
				s.PTSOffset = int32(be.Uint32(b[e:]))
				e += 4
			}
			if dataOff < int64(moofLen+8) || dataOff+int64(s.Size) > int64(total) {
				return 0, nil, false
			}
			s.Offset = dataOff
			dataOff += int64(s.Size)
			t.Samples = append(t.Samples, s)
		}
		tracks = append(tracks, t)
		off += trafLen
	}
	return seq, tracks, off == moofLen
}
