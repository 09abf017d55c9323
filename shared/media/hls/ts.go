package hls

// This file is a small MPEG-TS muxer for H.264 + AAC. mediacommon's mpegts.Writer
// (over astits) was the first choice and is what the tests decode against, but it
// allocates several objects per PES and per 188-byte packet (MuxerData,
// adaptation fields, AnnexB and ADTS re-encodings); with hundreds of streams that
// garbage dominated the packager's CPU. This muxer writes a segment's frames
// straight into one buffer of the exact size with one scratch buffer and no
// allocation per frame (see BenchmarkMuxSegment). It runs when a segment's bytes
// are first needed; while collecting frames the segmenter only counts the TS
// packets each PES will take (tsPackets, videoPESSize) to keep the continuity
// counters and segment sizes exact.

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hls/frame"
)

const (
	tsPacketSize = 188
	pidPAT       = 0x0000
	pidPMT       = 0x1000
	pidVideo     = 0x0100
	pidAudio     = 0x0101
	// tsOffset is added to every timestamp (90 kHz): players expect room for PCR
	// below the first DTS, as ffmpeg does (1.4 s).
	tsOffset = 126000
	// pcrLead is how far PCR runs behind DTS (90 kHz ticks): the decoder's buffer time.
	pcrLead = 9000
	// videoPESHeader is the PES header writeVideo puts before the NAL units: start
	// code, stream id, length, flags, PTS and DTS (19 bytes), then its own AUD (6).
	videoPESHeader = 9 + 10 + 6
	// audioPESHeader is the PES header writeAudio puts before the AAC frame: start
	// code, stream id, length, flags and PTS (14 bytes), then the ADTS header (7).
	audioPESHeader = 9 + 5 + 7
)

var crcTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for j := 0; j < 8; j++ {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return
}()

// crc32MPEG is the CRC of PSI sections (MPEG-2, not reflected, no final xor).
func crc32MPEG(b []byte) uint32 {
	c := uint32(0xFFFFFFFF)
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>24)^x]
	}
	return c
}

// tsMuxer writes PAT/PMT and PES packets of one stream. A copy taken before a
// segment's tables are written (scratch and parts aside) is all the state needed
// to mux that segment later.
type tsMuxer struct {
	hasVideo, hasAudio bool
	psi                [2 * tsPacketSize]byte
	ccPAT, ccPMT       uint8
	ccVideo, ccAudio   uint8
	// adts is the 7-byte ADTS header template (frame length patched per frame).
	adts [7]byte
	// scratch holds the PES header (and in-band SPS/PPS); parts lists the
	// slices a PES is gathered from.
	scratch []byte
	parts   [][]byte
}

// configure rebuilds the program tables and the ADTS template for tracks.
func (m *tsMuxer) configure(t *frame.Tracks) error {
	m.hasVideo, m.hasAudio = t.HasVideo(), t.HasAudio()
	if m.hasAudio {
		if err := adtsTemplate(&m.adts, t.ASC); err != nil {
			return err
		}
	}
	pcrPID := uint16(pidVideo)
	if !m.hasVideo {
		pcrPID = pidAudio
	}
	// PAT
	p := m.psi[:tsPacketSize]
	for i := range p {
		p[i] = 0xFF
	}
	copy(p, []byte{0x47, 0x40, 0x00, 0x10, 0x00})
	sec := []byte{0x00, 0xB0, 13, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xE0 | pidPMT>>8, pidPMT & 0xFF}
	n := copy(p[5:], sec)
	crc := crc32MPEG(sec)
	p[5+n], p[6+n], p[7+n], p[8+n] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
	// PMT
	p = m.psi[tsPacketSize:]
	for i := range p {
		p[i] = 0xFF
	}
	copy(p, []byte{0x47, 0x40 | pidPMT>>8, pidPMT & 0xFF, 0x10, 0x00})
	sec = []byte{0x02, 0xB0, 0, 0x00, 0x01, 0xC1, 0x00, 0x00, 0xE0 | byte(pcrPID>>8), byte(pcrPID), 0xF0, 0x00}
	if m.hasVideo {
		sec = append(sec, 0x1B, 0xE0|pidVideo>>8, pidVideo&0xFF, 0xF0, 0x00)
	}
	if m.hasAudio {
		sec = append(sec, 0x0F, 0xE0|pidAudio>>8, pidAudio&0xFF, 0xF0, 0x00)
	}
	sec[2] = byte(len(sec) - 3 + 4)
	n = copy(p[5:], sec)
	crc = crc32MPEG(sec)
	p[5+n], p[6+n], p[7+n], p[8+n] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
	return nil
}

// adtsTemplate fills the ADTS header fields that come from the AudioSpecificConfig.
func adtsTemplate(h *[7]byte, asc []byte) error {
	if len(asc) < 2 {
		return errors.New("adts: short AudioSpecificConfig")
	}
	obj := int(asc[0] >> 3)
	idx := int(asc[0]&0x07)<<1 | int(asc[1]>>7)
	ch := int(asc[1]>>3) & 0x0F
	if obj == 31 || idx == 15 {
		return fmt.Errorf("adts: object type %d / rate index %d cannot be carried in ADTS", obj, idx)
	}
	profile := obj - 1
	if obj == 5 || obj == 29 || obj > 4 { // SBR/PS signalled explicitly: the core is AAC LC
		profile = 1
	}
	h[0], h[1] = 0xFF, 0xF1
	h[2] = byte(profile&3)<<6 | byte(idx)<<2 | byte(ch>>2&1)
	h[3] = byte(ch&3) << 6
	h[4], h[5], h[6] = 0, 0x1F, 0xFC
	return nil
}

// writeTables appends PAT and PMT.
func (m *tsMuxer) writeTables(dst []byte) []byte {
	m.psi[3] = 0x10 | m.ccPAT&0x0F
	m.psi[tsPacketSize+3] = 0x10 | m.ccPMT&0x0F
	m.ccPAT++
	m.ccPMT++
	return append(dst, m.psi[:]...)
}

// putTS writes a 33-bit timestamp with the 4-bit prefix into 5 bytes.
func putTS(b []byte, prefix byte, ts int64) {
	b[0] = prefix<<4 | byte(ts>>29)&0x0E | 1
	b[1] = byte(ts >> 22)
	b[2] = byte(ts>>14) | 1
	b[3] = byte(ts >> 7)
	b[4] = byte(ts<<1) | 1
}

var (
	stuffing  = bytes.Repeat([]byte{0xFF}, tsPacketSize)
	startCode = []byte{0, 0, 0, 1}
	audNALU   = []byte{0, 0, 0, 1, 0x09, 0xF0}
)

// writeVideo appends one H.264 access unit (AVCC in f.Data, NAL unit lengths and
// parameter sets from avc) as a PES. The NAL units are copied once, straight from
// the hub packet into the TS packets.
func (m *tsMuxer) writeVideo(dst []byte, avc *flv.AVCConfig, f *frame.Frame) ([]byte, error) {
	dts := (f.DTS*90 + tsOffset) & (1<<33 - 1)
	pts := (f.PTS*90 + tsOffset) & (1<<33 - 1)
	h := m.scratch[:0]
	h = append(h, 0, 0, 1, 0xE0, 0, 0, 0x80, 0xC0, 10)
	var tsb [10]byte
	putTS(tsb[:5], 3, pts)
	putTS(tsb[5:], 1, dts)
	h = append(h, tsb[:]...)
	h = append(h, audNALU...)
	haveSPS := false
	if f.Keyframe {
		_ = frame.ForEachNALU(f.Data, avc.NALULengthSize, func(n []byte) {
			if n[0]&0x1F == 7 {
				haveSPS = true
			}
		})
		if !haveSPS {
			for _, ps := range avc.SPS {
				h = append(append(h, startCode...), ps...)
			}
			for _, ps := range avc.PPS {
				h = append(append(h, startCode...), ps...)
			}
		}
	}
	m.scratch = h
	parts := append(m.parts[:0], h)
	total := len(h)
	err := frame.ForEachNALU(f.Data, avc.NALULengthSize, func(n []byte) {
		if n[0]&0x1F == 9 { // our own AUD is first
			return
		}
		parts = append(parts, startCode, n)
		total += len(startCode) + len(n)
	})
	m.parts = parts
	if err != nil {
		return dst, fmt.Errorf("video frame at %d ms: %w", f.DTS, err)
	}
	pcr := dts - pcrLead
	if pcr < 0 {
		pcr += 1 << 33
	}
	dst = m.packetize(dst, pidVideo, &m.ccVideo, parts, total, pcr, f.Keyframe)
	clear(m.parts) // no references to hub packets past this frame
	return dst, nil
}

// videoPESSize is the length of the PES writeVideo makes of f, or the error it
// would return (malformed NAL unit lengths), reading only the NAL unit lengths
// and headers: the segmenter checks and sizes every frame with it when the frame
// arrives and muxes it later.
func videoPESSize(avc *flv.AVCConfig, f *frame.Frame) (int, error) {
	total := videoPESHeader
	haveSPS := false
	err := frame.ForEachNALU(f.Data, avc.NALULengthSize, func(n []byte) {
		switch n[0] & 0x1F {
		case 9: // writeVideo writes its own AUD instead
			return
		case 7:
			haveSPS = true
		}
		total += len(startCode) + len(n)
	})
	if err != nil {
		return 0, fmt.Errorf("video frame at %d ms: %w", f.DTS, err)
	}
	if f.Keyframe && !haveSPS {
		for _, ps := range avc.SPS {
			total += len(startCode) + len(ps)
		}
		for _, ps := range avc.PPS {
			total += len(startCode) + len(ps)
		}
	}
	return total, nil
}

// videoFirstAF is the adaptation field of a video PES's first packet: every video
// PES carries a PCR.
var videoFirstAF = firstAFLen(true, true)

// audioFirstAF is the adaptation field of an audio PES's first packet: with video
// none, audio-only every PES carries a PCR and the random access indicator.
func audioFirstAF(hasVideo bool) int { return firstAFLen(!hasVideo, !hasVideo) }

// writeAudio appends one AAC frame with its ADTS header as a PES.
func (m *tsMuxer) writeAudio(dst []byte, f *frame.Frame) []byte {
	pts := (f.PTS*90 + tsOffset) & (1<<33 - 1)
	flen := 7 + len(f.Data)
	pesLen := 3 + 5 + flen
	h := m.scratch[:0]
	h = append(h, 0, 0, 1, 0xC0, byte(pesLen>>8), byte(pesLen), 0x80, 0x80, 5)
	var tsb [5]byte
	putTS(tsb[:], 2, pts)
	h = append(h, tsb[:]...)
	a := m.adts
	a[3] |= byte(flen>>11) & 0x03
	a[4] = byte(flen >> 3)
	a[5] = byte(flen&7)<<5 | 0x1F
	h = append(h, a[:]...)
	m.scratch = h
	pcr := int64(-1)
	if !m.hasVideo {
		pcr = pts - pcrLead
		if pcr < 0 {
			pcr += 1 << 33
		}
	}
	parts := append(m.parts[:0], h, f.Data)
	dst = m.packetize(dst, pidAudio, &m.ccAudio, parts, len(h)+len(f.Data), pcr, !m.hasVideo)
	clear(parts)
	m.parts = parts
	return dst
}

// firstAFLen is the length of the adaptation field packetize starts a PES with
// (its length byte included, before stuffing): none, or flags plus a PCR.
func firstAFLen(pcr, rai bool) int {
	switch {
	case pcr:
		return 2 + 6
	case rai:
		return 2
	}
	return 0
}

// tsPackets is how many TS packets packetize writes for a PES of total bytes whose
// first packet starts with an adaptation field of firstAF bytes (firstAFLen): the
// first packet holds 184-firstAF bytes, every other one 184, the last is padded.
func tsPackets(total, firstAF int) int {
	if total <= 0 {
		return 0
	}
	space := 184 - firstAF
	if total <= space {
		return 1
	}
	return 1 + (total-space+183)/184
}

// packetize splits a PES, given as the concatenation of parts (total bytes), into
// TS packets; pcr < 0 means none. The first packet carries the random access
// indicator when rai is set. It writes tsPackets(total, firstAFLen(pcr >= 0, rai))
// packets.
func (m *tsMuxer) packetize(dst []byte, pid uint16, cc *uint8, parts [][]byte, total int, pcr int64, rai bool) []byte {
	first := true
	pi := 0
	for total > 0 {
		afLen := 0 // bytes of adaptation field including its length byte
		var flags byte
		if first {
			afLen = firstAFLen(pcr >= 0, rai)
			if rai {
				flags |= 0x40
			}
			if pcr >= 0 {
				flags |= 0x10
			}
		}
		space := 184 - afLen
		if total < space {
			if afLen == 0 {
				afLen = 184 - total // 1 = just the length byte
			} else {
				afLen += space - total
			}
			space = total
		}
		hdr := byte(0x10)
		if afLen > 0 {
			hdr = 0x30
		}
		pusi := byte(0)
		if first {
			pusi = 0x40
		}
		dst = append(dst, 0x47, pusi|byte(pid>>8), byte(pid), hdr|*cc&0x0F)
		*cc++
		if afLen > 0 {
			dst = append(dst, byte(afLen-1))
			if afLen > 1 {
				dst = append(dst, flags)
				used := 2
				if flags&0x10 != 0 {
					dst = append(dst, byte(pcr>>25), byte(pcr>>17), byte(pcr>>9), byte(pcr>>1), byte(pcr<<7)|0x7E, 0)
					used += 6
				}
				dst = append(dst, stuffing[:afLen-used]...)
			}
		}
		total -= space
		for space > 0 {
			p := parts[pi]
			n := min(len(p), space)
			dst = append(dst, p[:n]...)
			space -= n
			if n == len(p) {
				pi++
			} else {
				parts[pi] = p[n:]
			}
		}
		first = false
	}
	return dst
}
