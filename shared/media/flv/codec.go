package flv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// Video codec ids (legacy FLV) and FourCCs (enhanced RTMP) this package names.
const (
	CodecAVC  = 7
	CodecHEVC = 12 // widely used non-standard id (Chinese CDN extension)
)

// Video frame types.
const (
	FrameKey   = 1
	FrameInter = 2
)

// VideoPacketType says what a video payload carries.
type VideoPacketType uint8

// Video packet types.
const (
	VideoSequenceHeader VideoPacketType = iota + 1
	VideoFrames
	VideoEndOfSequence
	VideoOther
)

// VideoInfo is the decoded header of a video tag payload.
type VideoInfo struct {
	Codec           string // "h264", "h265", "av1", "vp9" or "codec(N)"
	Keyframe        bool
	PacketType      VideoPacketType
	CompositionTime int32 // ms, PTS - DTS
	// Payload is the codec data after the tag header (an AVC/HEVC config record
	// for sequence headers, length-prefixed NAL units for frames).
	Payload []byte
}

// ErrShort is returned for payloads too short for their header.
var ErrShort = errors.New("flv: payload too short")

// ParseVideo decodes the video tag header, legacy or enhanced RTMP.
func ParseVideo(b []byte) (VideoInfo, error) {
	if len(b) < 1 {
		return VideoInfo{}, ErrShort
	}
	if b[0]&0x80 != 0 { // enhanced RTMP: IsExHeader
		return parseExVideo(b)
	}
	frameType := b[0] >> 4
	codecID := b[0] & 0x0f
	v := VideoInfo{Keyframe: frameType == FrameKey}
	switch codecID {
	case CodecAVC, CodecHEVC:
		if codecID == CodecAVC {
			v.Codec = "h264"
		} else {
			v.Codec = "h265"
		}
		if len(b) < 5 {
			return v, fmt.Errorf("%s video header: %w", v.Codec, ErrShort)
		}
		switch b[1] {
		case 0:
			v.PacketType = VideoSequenceHeader
		case 1:
			v.PacketType = VideoFrames
		case 2:
			v.PacketType = VideoEndOfSequence
		default:
			return v, fmt.Errorf("flv: %s packet type %d", v.Codec, b[1])
		}
		ct := int32(uint32(b[2])<<16|uint32(b[3])<<8|uint32(b[4])) << 8 >> 8 // sign-extend SI24
		v.CompositionTime = ct
		v.Payload = b[5:]
	default:
		v.Codec = fmt.Sprintf("codec(%d)", codecID)
		v.PacketType = VideoOther
		v.Payload = b[1:]
	}
	return v, nil
}

func parseExVideo(b []byte) (VideoInfo, error) {
	if len(b) < 5 {
		return VideoInfo{}, fmt.Errorf("enhanced video header: %w", ErrShort)
	}
	frameType := (b[0] >> 4) & 0x07
	pktType := b[0] & 0x0f
	v := VideoInfo{Keyframe: frameType == FrameKey}
	switch string(b[1:5]) {
	case "hvc1":
		v.Codec = "h265"
	case "av01":
		v.Codec = "av1"
	case "vp09":
		v.Codec = "vp9"
	case "avc1":
		v.Codec = "h264"
	default:
		v.Codec = fmt.Sprintf("fourcc(%q)", b[1:5])
	}
	rest := b[5:]
	switch pktType {
	case 0: // SequenceStart
		v.PacketType = VideoSequenceHeader
	case 1: // CodedFrames (with composition time for hvc1/avc1)
		v.PacketType = VideoFrames
		if v.Codec == "h265" || v.Codec == "h264" {
			if len(rest) < 3 {
				return v, fmt.Errorf("enhanced %s frames: %w", v.Codec, ErrShort)
			}
			v.CompositionTime = int32(uint32(rest[0])<<16|uint32(rest[1])<<8|uint32(rest[2])) << 8 >> 8
			rest = rest[3:]
		}
	case 2: // SequenceEnd
		v.PacketType = VideoEndOfSequence
	case 3: // CodedFramesX: composition time 0
		v.PacketType = VideoFrames
	default:
		v.PacketType = VideoOther
	}
	v.Payload = rest
	return v, nil
}

// maxPictureSize bounds the width and height ParseAVCConfig accepts (H.264
// level 6.2 allows at most 8192 luma samples a side).
const maxPictureSize = 16384

// AVCConfig is a decoded AVCDecoderConfigurationRecord (ISO 14496-15 5.2.4.1).
type AVCConfig struct {
	Profile, Level   uint8
	NALULengthSize   int
	SPS, PPS         [][]byte
	Width, Height    int
	FPS              float64 // from the SPS timing info, 0 if absent
	CodecString      string  // RFC 6381, for example "avc1.64001f"
	ProfileCompatibl uint8
}

// ParseAVCConfig decodes an AVC sequence header payload and its first SPS.
func ParseAVCConfig(b []byte) (AVCConfig, error) {
	if len(b) < 7 {
		return AVCConfig{}, fmt.Errorf("avc config: %w", ErrShort)
	}
	if b[0] != 1 {
		return AVCConfig{}, fmt.Errorf("avc config: version %d", b[0])
	}
	c := AVCConfig{
		Profile:          b[1],
		ProfileCompatibl: b[2],
		Level:            b[3],
		NALULengthSize:   int(b[4]&0x03) + 1,
	}
	c.CodecString = fmt.Sprintf("avc1.%02x%02x%02x", b[1], b[2], b[3])
	pos := 6
	readSet := func(count int) ([][]byte, error) {
		var out [][]byte
		for i := 0; i < count; i++ {
			if pos+2 > len(b) {
				return nil, ErrShort
			}
			n := int(binary.BigEndian.Uint16(b[pos:]))
			pos += 2
			if pos+n > len(b) {
				return nil, ErrShort
			}
			out = append(out, b[pos:pos+n])
			pos += n
		}
		return out, nil
	}
	var err error
	if c.SPS, err = readSet(int(b[5] & 0x1f)); err != nil {
		return c, fmt.Errorf("avc config sps: %w", err)
	}
	if pos >= len(b) {
		return c, fmt.Errorf("avc config pps count: %w", ErrShort)
	}
	ppsCount := int(b[pos])
	pos++
	if c.PPS, err = readSet(ppsCount); err != nil {
		return c, fmt.Errorf("avc config pps: %w", err)
	}
	if len(c.SPS) == 0 {
		return c, errors.New("avc config: no SPS")
	}
	var sps h264.SPS
	if err := sps.Unmarshal(c.SPS[0]); err != nil {
		return c, fmt.Errorf("avc config sps: %w", err)
	}
	// The SPS arithmetic is unsigned: crops larger than the picture wrap around.
	c.Width, c.Height = sps.Width(), sps.Height()
	if c.Width < 1 || c.Height < 1 || c.Width > maxPictureSize || c.Height > maxPictureSize {
		return c, fmt.Errorf("avc config sps: picture size %dx%d out of range", c.Width, c.Height)
	}
	// num_units_in_tick 0 would give +Inf, which JSON and metrics cannot carry.
	if fps := sps.FPS(); fps > 0 && !math.IsInf(fps, 0) {
		c.FPS = fps
	}
	return c, nil
}

// Audio formats (SoundFormat) this package names.
const (
	SoundMP3  = 2
	SoundAAC  = 10
	SoundOpus = 13 // non-standard, used by some servers
)

// AudioPacketType says what an audio payload carries.
type AudioPacketType uint8

// Audio packet types.
const (
	AudioSequenceHeader AudioPacketType = iota + 1
	AudioFrames
)

// AudioInfo is the decoded header of an audio tag payload.
type AudioInfo struct {
	Codec      string // "aac", "mp3", "opus", "g711a", "g711u" or "sound(N)"
	PacketType AudioPacketType
	Payload    []byte
}

// ParseAudio decodes the audio tag header.
func ParseAudio(b []byte) (AudioInfo, error) {
	if len(b) < 1 {
		return AudioInfo{}, ErrShort
	}
	format := b[0] >> 4
	a := AudioInfo{PacketType: AudioFrames, Payload: b[1:]}
	switch format {
	case SoundAAC:
		a.Codec = "aac"
		if len(b) < 2 {
			return a, fmt.Errorf("aac audio header: %w", ErrShort)
		}
		if b[1] == 0 {
			a.PacketType = AudioSequenceHeader
		}
		a.Payload = b[2:]
	case SoundMP3:
		a.Codec = "mp3"
	case SoundOpus:
		a.Codec = "opus"
	case 7:
		a.Codec = "g711a"
	case 8:
		a.Codec = "g711u"
	default:
		a.Codec = fmt.Sprintf("sound(%d)", format)
	}
	return a, nil
}

// AACConfig is a decoded AudioSpecificConfig.
type AACConfig struct {
	SampleRate   int
	Channels     int
	ObjectType   int
	CodecString  string // "mp4a.40.2"
	SamplesPerAU int
}

// ParseAACConfig decodes an AAC sequence header payload (AudioSpecificConfig).
func ParseAACConfig(b []byte) (AACConfig, error) {
	var c mpeg4audio.AudioSpecificConfig
	if err := c.Unmarshal(b); err != nil {
		return AACConfig{}, fmt.Errorf("aac config: %w", err)
	}
	if c.SampleRate <= 0 { // an explicit 24-bit rate may be 0; packagers divide by it
		return AACConfig{}, fmt.Errorf("aac config: sample rate %d", c.SampleRate)
	}
	channels := int(c.ChannelConfig)
	if c.ChannelConfig == 7 {
		channels = 8 // ISO 14496-3 table 1.19: 7.1
	}
	spa := 1024
	if c.FrameLengthFlag {
		spa = 960
	}
	return AACConfig{
		SampleRate:   c.SampleRate,
		Channels:     channels,
		ObjectType:   int(c.Type),
		CodecString:  fmt.Sprintf("mp4a.40.%d", int(c.Type)),
		SamplesPerAU: spa,
	}, nil
}
