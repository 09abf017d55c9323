package relay

import (
	"encoding/binary"
	"math"

	"github.com/livestack/livestack/shared/media/hub"
)

// synthMetadata builds an onMetaData script body (AMF0 "onMetaData" and an
// ECMA array) from what the hub measured, for streams whose publisher sent none.
func synthMetadata(st hub.Stats, audio, video bool) []byte {
	type prop struct {
		key string
		val any // float64, bool or string
	}
	props := []prop{{"duration", 0.0}}
	if video {
		switch st.VideoCodec {
		case "h264":
			props = append(props, prop{"videocodecid", 7.0})
		case "h265":
			props = append(props, prop{"videocodecid", 12.0})
		}
		if st.Width > 0 && st.Height > 0 {
			props = append(props, prop{"width", float64(st.Width)}, prop{"height", float64(st.Height)})
		}
		if st.FPS > 0 {
			props = append(props, prop{"framerate", math.Round(st.FPS*100) / 100})
		}
	}
	if audio {
		switch st.AudioCodec {
		case "aac":
			props = append(props, prop{"audiocodecid", 10.0})
		case "mp3":
			props = append(props, prop{"audiocodecid", 2.0})
		}
		if st.SampleRate > 0 {
			props = append(props, prop{"audiosamplerate", float64(st.SampleRate)})
		}
		if st.Channels > 0 {
			props = append(props, prop{"stereo", st.Channels > 1})
		}
	}
	props = append(props, prop{"encoder", "livestack relay"})

	b := appendAMFString(nil, "onMetaData")
	b = append(b, 0x08) // ECMA array
	b = binary.BigEndian.AppendUint32(b, uint32(len(props)))
	for _, p := range props {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.key)))
		b = append(b, p.key...)
		switch v := p.val.(type) {
		case float64:
			b = append(b, 0x00)
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
		case bool:
			b = append(b, 0x01, 0)
			if v {
				b[len(b)-1] = 1
			}
		case string:
			b = appendAMFString(b, v)
		}
	}
	return append(b, 0, 0, 0x09) // object end
}

// appendAMFString appends an AMF0 string (marker, 16-bit length, bytes).
func appendAMFString(b []byte, s string) []byte {
	b = append(b, 0x02)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}
