package recording

import (
	"encoding/binary"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// appendPartHeader appends p as a moof+mdat fragment to dst without the
// payloads, which follow the mdat header in track and sample order:
// appendPart's bytes, byte for byte what mediacommon's fmp4.Part.Marshal
// writes (TestAppendPartMatchesMediacommon). The journal hands the payloads
// to writev as they are (writeFragment).
//
// Hand-written because Part.Marshal encodes through go-mp4's reflection
// marshaller, bit by bit: with a few hundred streams recorded it took a
// quarter of the server's CPU (profile in docs/performance.md), while the
// layout it produces is a handful of fixed fields:
//
//	moof
//	  mfhd (sequence number)
//	  traf per track
//	    tfhd (flags 0x020000: default-base-is-moof, track id)
//	    tfdt (version 1: 64-bit base media decode time)
//	    trun (version 1: data offset, then per sample duration and size,
//	          flags when any sample is not a sync sample, composition
//	          offset when any sample has one)
//	mdat
func appendPartHeader(dst []byte, p fmp4.Part) []byte {
	const (
		flagDataOffset = 0x01
		flagDuration   = 0x100
		flagSize       = 0x200
		flagFlags      = 0x400
		flagCTS        = 0x800
		nonSync        = 1 << 16
	)
	be := binary.BigEndian
	box := func(b []byte, typ string) []byte { // size patched by the caller
		return append(append(b, 0, 0, 0, 0), typ...)
	}
	start := len(dst)
	dst = box(dst, "moof")
	dst = box(dst, "mfhd")
	dst = append(dst, 0, 0, 0, 0)
	dst = be.AppendUint32(dst, p.SequenceNumber)
	be.PutUint32(dst[start+8:], 16)
	trunData := make([]int, len(p.Tracks)) // where each trun's data offset goes
	for i, t := range p.Tracks {
		traf := len(dst)
		dst = box(dst, "traf")
		dst = box(dst, "tfhd")
		dst = append(dst, 0, 2, 0, 0)
		dst = be.AppendUint32(dst, uint32(t.ID))
		be.PutUint32(dst[traf+8:], 16)
		dst = box(dst, "tfdt")
		dst = append(dst, 1, 0, 0, 0)
		dst = be.AppendUint64(dst, t.BaseTime)
		be.PutUint32(dst[traf+24:], 20)
		flags := flagDataOffset | flagDuration | flagSize
		for _, s := range t.Samples {
			if s.IsNonSyncSample {
				flags |= flagFlags
			}
			if s.PTSOffset != 0 {
				flags |= flagCTS
			}
		}
		trun := len(dst)
		dst = box(dst, "trun")
		dst = append(dst, 1, 0, byte(flags>>8), byte(flags))
		dst = be.AppendUint32(dst, uint32(len(t.Samples)))
		trunData[i] = len(dst)
		dst = append(dst, 0, 0, 0, 0)
		for _, s := range t.Samples {
			dst = be.AppendUint32(dst, s.Duration)
			dst = be.AppendUint32(dst, uint32(len(s.Payload)))
			if flags&flagFlags != 0 {
				var f uint32
				if s.IsNonSyncSample {
					f = nonSync
				}
				dst = be.AppendUint32(dst, f)
			}
			if flags&flagCTS != 0 {
				dst = be.AppendUint32(dst, uint32(s.PTSOffset))
			}
		}
		be.PutUint32(dst[trun:], uint32(len(dst)-trun))
		be.PutUint32(dst[traf:], uint32(len(dst)-traf))
	}
	moofSize := len(dst) - start
	be.PutUint32(dst[start:], uint32(moofSize))
	dst = box(dst, "mdat")
	data := 0
	for i, t := range p.Tracks {
		be.PutUint32(dst[trunData[i]:], uint32(moofSize+8+data))
		for _, s := range t.Samples {
			data += len(s.Payload)
		}
	}
	be.PutUint32(dst[len(dst)-8:], uint32(8+data))
	return dst
}

// appendPart appends p as a whole moof+mdat fragment to dst.
func appendPart(dst []byte, p fmp4.Part) []byte {
	dst = appendPartHeader(dst, p)
	for _, t := range p.Tracks {
		for _, s := range t.Samples {
			dst = append(dst, s.Payload...)
		}
	}
	return dst
}
