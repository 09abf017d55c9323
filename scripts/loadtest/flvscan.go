package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/livestack/livestack/shared/media/flv"
)

// scannedTag is what a viewer needs from one FLV tag: no payload.
type scannedTag struct {
	Type      flv.TagType
	Timestamp uint32
	Size      int  // payload bytes
	Keyframe  bool // video keyframe (coded frames, not a sequence header)
	Header    bool // AVC/AAC sequence header
}

// wireSize is the tag's size in the FLV stream: header, payload, PreviousTagSize.
func (t scannedTag) wireSize() int { return flv.TagHeaderSize + t.Size + flv.PrevSizeLength }

// scanner decodes an HTTP/1.x response carrying FLV, fed with the bytes read
// from the socket: the status line and headers, chunked transfer coding when
// present, then FLV tags. It is a push parser: payloads are skipped where they
// lie in the read buffer, and only tag headers and the first bytes of video
// and audio payloads are copied, so a viewer costs one kernel copy per byte
// and a few dozen instructions per tag. Tag headers and payload headers are
// decoded with shared/media/flv.
type scanner struct {
	head    []byte // response header so far
	inBody  bool
	chunked bool
	done    bool // the last chunk was seen

	// chunk framing
	cstate    chunkState
	chunkLeft int64
	sizeAcc   uint64
	sizeDigit int
	inExt     bool

	// FLV
	fstate flvState
	acc    [flv.TagHeaderSize]byte
	accN   int
	need   int
	skip   int64
	tag    scannedTag
}

type chunkState uint8

const (
	chunkSize chunkState = iota
	chunkSizeLF
	chunkData
	chunkDataCR
	chunkDataLF
	chunkTrailer
)

type flvState uint8

const (
	flvFileHeader flvState = iota
	flvSkipFile
	flvTagHeader
	flvPeek
	flvSkipData
	flvPrevSize
)

// maxResponseHeader bounds the response header a viewer accepts.
const maxResponseHeader = 16 << 10

// errStatus is returned for a response other than 200.
type errStatus struct{ Code int }

func (e errStatus) Error() string { return fmt.Sprintf("http status %d", e.Code) }

// Feed consumes p and appends the tags it completes to out. It returns
// io.EOF once the last chunk of a chunked body was read.
func (s *scanner) Feed(p []byte, out []scannedTag) ([]scannedTag, error) {
	if !s.inBody {
		var err error
		if p, err = s.feedHead(p); err != nil || !s.inBody {
			return out, err
		}
	}
	if !s.chunked {
		return s.feedFLV(p, out)
	}
	return s.feedChunked(p, out)
}

// Started reports whether the response header was read.
func (s *scanner) Started() bool { return s.inBody }

func (s *scanner) feedHead(p []byte) ([]byte, error) {
	from := max(0, len(s.head)-3)
	s.head = append(s.head, p...)
	i := bytes.Index(s.head[from:], []byte("\r\n\r\n"))
	if i < 0 {
		if len(s.head) > maxResponseHeader {
			return nil, fmt.Errorf("response header over %d bytes", maxResponseHeader)
		}
		return nil, nil
	}
	end := from + i + 4
	rest := p[len(p)-(len(s.head)-end):]
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(s.head[:end])), nil)
	if err != nil {
		return nil, fmt.Errorf("response header: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errStatus{resp.StatusCode}
	}
	for _, te := range resp.TransferEncoding {
		if strings.EqualFold(te, "chunked") {
			s.chunked = true
		}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && ct != "video/x-flv" {
		return nil, fmt.Errorf("content type %q, want video/x-flv", ct)
	}
	s.head = nil
	s.inBody = true
	return rest, nil
}

func (s *scanner) feedChunked(p []byte, out []scannedTag) ([]scannedTag, error) {
	var err error
	for len(p) > 0 {
		switch s.cstate {
		case chunkData:
			n := int(min(int64(len(p)), s.chunkLeft))
			if out, err = s.feedFLV(p[:n], out); err != nil {
				return out, err
			}
			p = p[n:]
			if s.chunkLeft -= int64(n); s.chunkLeft == 0 {
				s.cstate = chunkDataCR
			}
		case chunkSize:
			c := p[0]
			p = p[1:]
			switch {
			case c == '\r':
				s.cstate = chunkSizeLF
			case s.inExt:
			case c == ';' || c == ' ' || c == '\t':
				s.inExt = true
			default:
				v, ok := unhex(c)
				if !ok || s.sizeDigit == 15 {
					return out, fmt.Errorf("chunked: bad size line byte %q", c)
				}
				s.sizeAcc = s.sizeAcc<<4 | uint64(v)
				s.sizeDigit++
			}
		case chunkSizeLF:
			if p[0] != '\n' || s.sizeDigit == 0 {
				return out, errors.New("chunked: malformed size line")
			}
			p = p[1:]
			s.chunkLeft, s.sizeAcc, s.sizeDigit, s.inExt = int64(s.sizeAcc), 0, 0, false
			s.cstate = chunkData
			if s.chunkLeft == 0 {
				s.cstate, s.done = chunkTrailer, true
				return out, io.EOF
			}
		case chunkDataCR, chunkDataLF:
			want := byte('\r')
			if s.cstate == chunkDataLF {
				want = '\n'
			}
			if p[0] != want {
				return out, errors.New("chunked: no CRLF after chunk data")
			}
			p = p[1:]
			if s.cstate++; s.cstate > chunkDataLF {
				s.cstate = chunkSize
			}
		case chunkTrailer:
			return out, io.EOF
		}
	}
	return out, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// fill copies up to s.need-s.accN bytes of p into the accumulator and
// returns the rest of p and whether the accumulator is full.
func (s *scanner) fill(p []byte) ([]byte, bool) {
	n := copy(s.acc[s.accN:s.need], p)
	s.accN += n
	if s.accN < s.need {
		return nil, false
	}
	s.accN = 0
	return p[n:], true
}

func (s *scanner) feedFLV(p []byte, out []scannedTag) ([]scannedTag, error) {
	for len(p) > 0 {
		var full bool
		switch s.fstate {
		case flvFileHeader:
			s.need = flv.HeaderSize
			if p, full = s.fill(p); !full {
				continue
			}
			h := s.acc[:flv.HeaderSize]
			if h[0] != 'F' || h[1] != 'L' || h[2] != 'V' {
				return out, fmt.Errorf("flv: bad signature %q", h[:3])
			}
			off := binary.BigEndian.Uint32(h[5:9])
			if off < flv.HeaderSize || off > 1024 {
				return out, fmt.Errorf("flv: bad data offset %d", off)
			}
			s.skip = int64(off) - flv.HeaderSize + flv.PrevSizeLength
			s.fstate = flvSkipFile
		case flvSkipFile, flvSkipData:
			n := min(int64(len(p)), s.skip)
			p = p[n:]
			if s.skip -= n; s.skip == 0 {
				s.fstate++ // flvTagHeader, flvPrevSize
				s.need = flv.TagHeaderSize
				if s.fstate == flvPrevSize {
					s.need = flv.PrevSizeLength
				}
			}
		case flvTagHeader:
			s.need = flv.TagHeaderSize
			if p, full = s.fill(p); !full {
				continue
			}
			h, err := flv.ParseTagHeader(s.acc[:])
			if err != nil {
				return out, err
			}
			if h.Filter || s.acc[0]&0xc0 != 0 || s.acc[8]|s.acc[9]|s.acc[10] != 0 {
				return out, fmt.Errorf("flv: %s tag header has filter, reserved bits or a stream id set", h.Type)
			}
			s.tag = scannedTag{Type: h.Type, Timestamp: h.Timestamp, Size: h.DataSize}
			s.need = 0
			switch h.Type {
			case flv.TagVideo:
				s.need = min(h.DataSize, 8) // enough for enhanced RTMP avc1 frames
			case flv.TagAudio:
				s.need = min(h.DataSize, 2)
			}
			s.skip = int64(h.DataSize - s.need)
			s.fstate = flvPeek
			if s.need == 0 {
				s.fstate = flvSkipData
				if s.skip == 0 {
					s.fstate, s.need = flvPrevSize, flv.PrevSizeLength
				}
			}
		case flvPeek:
			if p, full = s.fill(p); !full {
				continue
			}
			s.parsePayloadHeader(s.acc[:s.need])
			s.fstate = flvSkipData
			if s.skip == 0 {
				s.fstate, s.need = flvPrevSize, flv.PrevSizeLength
			}
		case flvPrevSize:
			s.need = flv.PrevSizeLength
			if p, full = s.fill(p); !full {
				continue
			}
			if got, want := binary.BigEndian.Uint32(s.acc[:4]), uint32(s.tag.Size+flv.TagHeaderSize); got != want {
				return out, fmt.Errorf("flv: previous tag size %d, want %d", got, want)
			}
			out = append(out, s.tag)
			s.fstate = flvTagHeader
		}
	}
	return out, nil
}

// parsePayloadHeader marks sequence headers and keyframes. A payload too
// short or odd to decode is neither; the harness measures, it does not judge.
func (s *scanner) parsePayloadHeader(b []byte) {
	switch s.tag.Type {
	case flv.TagVideo:
		if v, err := flv.ParseVideo(b); err == nil {
			s.tag.Header = v.PacketType == flv.VideoSequenceHeader
			s.tag.Keyframe = v.Keyframe && v.PacketType == flv.VideoFrames
		}
	case flv.TagAudio:
		if a, err := flv.ParseAudio(b); err == nil {
			s.tag.Header = a.PacketType == flv.AudioSequenceHeader
		}
	}
}
