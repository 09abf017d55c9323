// Package frame turns hub packets (FLV tag payloads) into timed H.264 and AAC
// frames for the packagers (MPEG-TS HLS and CMAF), tracking the codec
// configuration and telling when it changed. It allocates nothing per frame: a
// Frame's Data aliases the hub packet, which is immutable.
package frame

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
)

// Kind says what a Frame carries.
type Kind uint8

// Frame kinds.
const (
	None  Kind = iota // nothing to package (metadata, unsupported codec, end of sequence)
	Video             // one H.264 access unit, AVCC (length-prefixed NAL units)
	Audio             // one raw AAC access unit
)

// Frame is one access unit. Times are milliseconds on the hub clock.
type Frame struct {
	Kind     Kind
	DTS      int64
	PTS      int64
	Keyframe bool
	// Data aliases the hub packet; never modify it.
	Data []byte
}

// ErrUnsupported is returned for codecs the packagers do not carry (they are skipped).
var ErrUnsupported = errors.New("codec not supported by the packager")

// Tracks holds the current codec configuration of a stream.
type Tracks struct {
	// AVC is the current H.264 configuration; AVCRecord its raw record.
	AVC       *flv.AVCConfig
	AVCRecord []byte
	// AAC is the current AAC configuration; ASC its raw AudioSpecificConfig.
	AAC *flv.AACConfig
	ASC []byte
	// Gen counts configuration changes (a new, different sequence header).
	Gen int
}

// HasVideo reports whether an H.264 configuration was seen.
func (t *Tracks) HasVideo() bool { return t.AVC != nil }

// HasAudio reports whether an AAC configuration was seen.
func (t *Tracks) HasAudio() bool { return t.AAC != nil }

// Codecs is the RFC 6381 CODECS value of the configured tracks ("avc1.64001f,mp4a.40.2").
func (t *Tracks) Codecs() string {
	var s string
	if t.AVC != nil {
		s = t.AVC.CodecString
	}
	if t.AAC != nil {
		if s != "" {
			s += ","
		}
		s += t.AAC.CodecString
	}
	return s
}

// AACFrameTicks is the duration of one AAC frame in samples (1024 or 960).
func (t *Tracks) AACFrameTicks() int {
	if t.AAC == nil || t.AAC.SamplesPerAU == 0 {
		return 1024
	}
	return t.AAC.SamplesPerAU
}

// Handle reads one packet. A sequence header updates the configuration (changed
// reports a new, different one); a media packet yields a Frame. Packets of codecs
// other than H.264/AAC return ErrUnsupported and should be skipped.
func (t *Tracks) Handle(p *hub.Packet) (f Frame, changed bool, err error) {
	return t.HandleTag(p.Type, p.Time, p.Data())
}

// HandleTag is Handle for a bare FLV tag (type, timestamp in ms, payload).
func (t *Tracks) HandleTag(typ flv.TagType, ts uint32, data []byte) (f Frame, changed bool, err error) {
	switch typ {
	case flv.TagVideo:
		v, err := flv.ParseVideo(data)
		if err != nil {
			return f, false, fmt.Errorf("video packet: %w", err)
		}
		if v.Codec != "h264" {
			return f, false, fmt.Errorf("video %s: %w", v.Codec, ErrUnsupported)
		}
		switch v.PacketType {
		case flv.VideoSequenceHeader:
			if t.AVCRecord != nil && bytes.Equal(t.AVCRecord, v.Payload) {
				return f, false, nil
			}
			c, err := flv.ParseAVCConfig(v.Payload)
			if err != nil {
				return f, false, fmt.Errorf("video sequence header: %w", err)
			}
			if len(c.PPS) == 0 {
				return f, false, errors.New("video sequence header: no PPS")
			}
			t.AVC, t.AVCRecord = &c, v.Payload
			t.Gen++
			return f, true, nil
		case flv.VideoFrames:
			if t.AVC == nil || len(v.Payload) == 0 {
				return f, false, nil
			}
			dts := int64(ts)
			return Frame{Kind: Video, DTS: dts, PTS: dts + int64(v.CompositionTime), Keyframe: v.Keyframe, Data: v.Payload}, false, nil
		}
		return f, false, nil
	case flv.TagAudio:
		a, err := flv.ParseAudio(data)
		if err != nil {
			return f, false, fmt.Errorf("audio packet: %w", err)
		}
		if a.Codec != "aac" {
			return f, false, fmt.Errorf("audio %s: %w", a.Codec, ErrUnsupported)
		}
		if a.PacketType == flv.AudioSequenceHeader {
			if t.ASC != nil && bytes.Equal(t.ASC, a.Payload) {
				return f, false, nil
			}
			c, err := flv.ParseAACConfig(a.Payload)
			if err != nil {
				return f, false, fmt.Errorf("audio sequence header: %w", err)
			}
			t.AAC, t.ASC = &c, a.Payload
			t.Gen++
			return f, true, nil
		}
		if t.AAC == nil || len(a.Payload) == 0 {
			return f, false, nil
		}
		at := int64(ts)
		return Frame{Kind: Audio, DTS: at, PTS: at, Keyframe: true, Data: a.Payload}, false, nil
	}
	return f, false, nil
}

// ForEachNALU calls fn for every NAL unit of an AVCC access unit with the given
// length-field size; it stops at the first malformed length.
func ForEachNALU(au []byte, lengthSize int, fn func(nalu []byte)) error {
	for len(au) > 0 {
		if len(au) < lengthSize {
			return errors.New("avcc: truncated length")
		}
		n := 0
		for i := 0; i < lengthSize; i++ {
			n = n<<8 | int(au[i])
		}
		au = au[lengthSize:]
		if n > len(au) {
			return fmt.Errorf("avcc: NAL unit of %d bytes, %d left", n, len(au))
		}
		if n > 0 {
			fn(au[:n])
		}
		au = au[n:]
	}
	return nil
}
