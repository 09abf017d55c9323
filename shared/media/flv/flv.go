// Package flv encodes and decodes FLV (the container HTTP-FLV playback and RTMP
// payloads share): the file header, tags, and the audio/video tag headers that say
// which codec a payload carries and whether it is a keyframe or a sequence header.
//
// It is pure: bytes in, values out, no sockets. Every decoder bounds what it reads,
// so hostile input yields an error, never a panic or an unbounded allocation.
package flv

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// TagType is the FLV tag type byte.
type TagType uint8

// Tag types (FLV spec, E.4.1).
const (
	TagAudio  TagType = 8
	TagVideo  TagType = 9
	TagScript TagType = 18
)

func (t TagType) String() string {
	switch t {
	case TagAudio:
		return "audio"
	case TagVideo:
		return "video"
	case TagScript:
		return "script"
	}
	return fmt.Sprintf("tag(%d)", uint8(t))
}

// Sizes of the fixed parts of the format.
const (
	HeaderSize     = 9  // "FLV", version, flags, data offset
	TagHeaderSize  = 11 // type, size(3), timestamp(3)+ext(1), stream id(3)
	PrevSizeLength = 4
	// MaxTagDataSize is the largest payload the 24-bit size field can hold.
	MaxTagDataSize = 1<<24 - 1
)

// Header returns the 9-byte FLV file header followed by PreviousTagSize0.
func Header(hasAudio, hasVideo bool) []byte {
	var flags byte
	if hasAudio {
		flags |= 0x04
	}
	if hasVideo {
		flags |= 0x01
	}
	return []byte{'F', 'L', 'V', 1, flags, 0, 0, 0, HeaderSize, 0, 0, 0, 0}
}

// ErrTagTooLarge is returned when a payload does not fit the 24-bit size field.
var ErrTagTooLarge = errors.New("flv: tag data larger than 16 MiB")

// AppendTag appends one whole tag (header, data, PreviousTagSize) to dst.
func AppendTag(dst []byte, typ TagType, timestamp uint32, data []byte) ([]byte, error) {
	if len(data) > MaxTagDataSize {
		return dst, ErrTagTooLarge
	}
	n := len(data)
	dst = append(dst,
		byte(typ), byte(n>>16), byte(n>>8), byte(n),
		byte(timestamp>>16), byte(timestamp>>8), byte(timestamp), byte(timestamp>>24),
		0, 0, 0)
	dst = append(dst, data...)
	return binary.BigEndian.AppendUint32(dst, uint32(n+TagHeaderSize)), nil
}

// PutTagHeader writes an 11-byte tag header for a payload of n bytes into b.
func PutTagHeader(b []byte, typ TagType, timestamp uint32, n int) {
	_ = b[10]
	b[0] = byte(typ)
	b[1], b[2], b[3] = byte(n>>16), byte(n>>8), byte(n)
	b[4], b[5], b[6], b[7] = byte(timestamp>>16), byte(timestamp>>8), byte(timestamp), byte(timestamp>>24)
	b[8], b[9], b[10] = 0, 0, 0
}

// TagHeader is a decoded 11-byte tag header.
type TagHeader struct {
	Type      TagType
	DataSize  int
	Timestamp uint32
	Filter    bool
}

// ParseTagHeader decodes an 11-byte tag header.
func ParseTagHeader(b []byte) (TagHeader, error) {
	if len(b) < TagHeaderSize {
		return TagHeader{}, fmt.Errorf("flv: tag header: %d bytes, need %d", len(b), TagHeaderSize)
	}
	h := TagHeader{
		Type:      TagType(b[0] & 0x1f),
		Filter:    b[0]&0x20 != 0,
		DataSize:  int(b[1])<<16 | int(b[2])<<8 | int(b[3]),
		Timestamp: uint32(b[7])<<24 | uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6]),
	}
	switch h.Type {
	case TagAudio, TagVideo, TagScript:
	default:
		return h, fmt.Errorf("flv: unknown tag type %d", b[0])
	}
	return h, nil
}
