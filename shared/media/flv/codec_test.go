package flv

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
)

// avcC720p is the AVC sequence header payload (AVCDecoderConfigurationRecord)
// libx264 writes for ffmpeg's testsrc2 at 1280x720, 30 fps (testdata/README.md).
var avcC720p = mustHex("0164001fffe1001a6764001facd9405005bb0110000003001000000303c0f183196001000668ebe3cb22c0fdf8f800")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

type videoCase struct {
	name    string
	in      []byte
	want    VideoInfo
	wantErr string
	short   bool // errors.Is(err, ErrShort)
}

var videoCases = []videoCase{
	{
		name: "avc sequence header",
		in:   cat([]byte{0x17, 0, 0, 0, 0}, avcC720p),
		want: VideoInfo{Codec: "h264", Keyframe: true, PacketType: VideoSequenceHeader, Payload: avcC720p},
	},
	{
		name: "avc keyframe",
		in:   []byte{0x17, 1, 0, 0, 0x43, 0, 0, 0, 2, 0x65, 0x88},
		want: VideoInfo{Codec: "h264", Keyframe: true, PacketType: VideoFrames, CompositionTime: 67, Payload: []byte{0, 0, 0, 2, 0x65, 0x88}},
	},
	{
		name: "avc inter frame",
		in:   []byte{0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41},
		want: VideoInfo{Codec: "h264", PacketType: VideoFrames, Payload: []byte{0, 0, 0, 1, 0x41}},
	},
	{
		name: "avc disposable inter frame",
		in:   []byte{0x37, 1, 0, 0, 0x21, 0, 0, 0, 1, 0x01},
		want: VideoInfo{Codec: "h264", PacketType: VideoFrames, CompositionTime: 33, Payload: []byte{0, 0, 0, 1, 0x01}},
	},
	{
		name: "avc end of sequence",
		in:   []byte{0x17, 2, 0, 0, 0},
		want: VideoInfo{Codec: "h264", Keyframe: true, PacketType: VideoEndOfSequence, Payload: []byte{}},
	},
	{
		name: "composition time -1",
		in:   []byte{0x27, 1, 0xff, 0xff, 0xff},
		want: VideoInfo{Codec: "h264", PacketType: VideoFrames, CompositionTime: -1, Payload: []byte{}},
	},
	{
		name: "composition time -67",
		in:   []byte{0x27, 1, 0xff, 0xff, 0xbd, 0xaa},
		want: VideoInfo{Codec: "h264", PacketType: VideoFrames, CompositionTime: -67, Payload: []byte{0xaa}},
	},
	{
		name: "composition time minimum",
		in:   []byte{0x27, 1, 0x80, 0, 0},
		want: VideoInfo{Codec: "h264", PacketType: VideoFrames, CompositionTime: -1 << 23, Payload: []byte{}},
	},
	{
		name: "composition time maximum",
		in:   []byte{0x27, 1, 0x7f, 0xff, 0xff},
		want: VideoInfo{Codec: "h264", PacketType: VideoFrames, CompositionTime: 1<<23 - 1, Payload: []byte{}},
	},
	{
		name: "legacy hevc (codec id 12) sequence header",
		in:   []byte{0x1c, 0, 0, 0, 0, 1, 2, 3},
		want: VideoInfo{Codec: "h265", Keyframe: true, PacketType: VideoSequenceHeader, Payload: []byte{1, 2, 3}},
	},
	{
		name: "legacy hevc frame",
		in:   []byte{0x2c, 1, 0, 0, 0x10, 9},
		want: VideoInfo{Codec: "h265", PacketType: VideoFrames, CompositionTime: 16, Payload: []byte{9}},
	},
	{
		name: "sorenson h263 keyframe",
		in:   []byte{0x12, 0xaa, 0xbb},
		want: VideoInfo{Codec: "codec(2)", Keyframe: true, PacketType: VideoOther, Payload: []byte{0xaa, 0xbb}},
	},
	{
		name: "vp6 inter frame with one byte",
		in:   []byte{0x24},
		want: VideoInfo{Codec: "codec(4)", PacketType: VideoOther, Payload: []byte{}},
	},
	{
		name: "enhanced hvc1 sequence start",
		in:   cat([]byte{0x90}, []byte("hvc1"), []byte{1, 2}),
		want: VideoInfo{Codec: "h265", Keyframe: true, PacketType: VideoSequenceHeader, Payload: []byte{1, 2}},
	},
	{
		name: "enhanced hvc1 coded frames carry a composition time",
		in:   cat([]byte{0x91}, []byte("hvc1"), []byte{0, 0, 0x21, 0, 0, 0, 3, 0x26, 1, 0xaf}),
		want: VideoInfo{Codec: "h265", Keyframe: true, PacketType: VideoFrames, CompositionTime: 33, Payload: []byte{0, 0, 0, 3, 0x26, 1, 0xaf}},
	},
	{
		name: "enhanced hvc1 inter frame with negative composition time",
		in:   cat([]byte{0xa1}, []byte("hvc1"), []byte{0xff, 0xff, 0xfe, 7}),
		want: VideoInfo{Codec: "h265", PacketType: VideoFrames, CompositionTime: -2, Payload: []byte{7}},
	},
	{
		name: "enhanced hvc1 coded frames X (no composition time)",
		in:   cat([]byte{0xa3}, []byte("hvc1"), []byte{0, 0, 0, 1, 2}),
		want: VideoInfo{Codec: "h265", PacketType: VideoFrames, Payload: []byte{0, 0, 0, 1, 2}},
	},
	{
		name: "enhanced hvc1 sequence end",
		in:   cat([]byte{0x92}, []byte("hvc1")),
		want: VideoInfo{Codec: "h265", Keyframe: true, PacketType: VideoEndOfSequence, Payload: []byte{}},
	},
	{
		name: "enhanced av01 sequence start",
		in:   cat([]byte{0x90}, []byte("av01"), []byte{0x81, 0x08, 0x0c, 0}),
		want: VideoInfo{Codec: "av1", Keyframe: true, PacketType: VideoSequenceHeader, Payload: []byte{0x81, 0x08, 0x0c, 0}},
	},
	{
		name: "enhanced av01 coded frames have no composition time",
		in:   cat([]byte{0xa1}, []byte("av01"), []byte{0x12, 0, 0x0a}),
		want: VideoInfo{Codec: "av1", PacketType: VideoFrames, Payload: []byte{0x12, 0, 0x0a}},
	},
	{
		name: "enhanced av01 metadata",
		in:   cat([]byte{0x94}, []byte("av01"), []byte{2}),
		want: VideoInfo{Codec: "av1", Keyframe: true, PacketType: VideoOther, Payload: []byte{2}},
	},
	{
		name: "enhanced av01 mpeg2-ts sequence start",
		in:   cat([]byte{0x95}, []byte("av01")),
		want: VideoInfo{Codec: "av1", Keyframe: true, PacketType: VideoOther, Payload: []byte{}},
	},
	{
		name: "enhanced vp09 frames",
		in:   cat([]byte{0xa1}, []byte("vp09"), []byte{5}),
		want: VideoInfo{Codec: "vp9", PacketType: VideoFrames, Payload: []byte{5}},
	},
	{
		name: "enhanced avc1 frames carry a composition time",
		in:   cat([]byte{0x91}, []byte("avc1"), []byte{0xff, 0xff, 0xdf, 1}),
		want: VideoInfo{Codec: "h264", Keyframe: true, PacketType: VideoFrames, CompositionTime: -33, Payload: []byte{1}},
	},
	{
		name: "enhanced unknown fourcc",
		in:   cat([]byte{0xa1}, []byte("xyz\x00"), []byte{5}),
		want: VideoInfo{Codec: `fourcc("xyz\x00")`, PacketType: VideoFrames, Payload: []byte{5}},
	},
	{
		name: "enhanced command frame (frame type 5)",
		in:   cat([]byte{0xd1}, []byte("hvc1"), []byte{0, 0, 0}),
		want: VideoInfo{Codec: "h265", PacketType: VideoFrames, Payload: []byte{}},
	},
	{name: "empty", in: nil, wantErr: "flv: payload too short", short: true},
	{name: "avc without packet type", in: []byte{0x17}, wantErr: "h264 video header: flv: payload too short", short: true},
	{name: "avc without composition time", in: []byte{0x17, 1, 0, 0}, wantErr: "h264 video header: flv: payload too short", short: true},
	{name: "hevc without composition time", in: []byte{0x1c, 1}, wantErr: "h265 video header: flv: payload too short", short: true},
	{name: "avc packet type 3", in: []byte{0x17, 3, 0, 0, 0}, wantErr: "flv: h264 packet type 3"},
	{name: "avc packet type 255", in: []byte{0x27, 0xff, 0, 0, 0}, wantErr: "flv: h264 packet type 255"},
	{name: "enhanced header without fourcc", in: []byte{0x90}, wantErr: "enhanced video header: flv: payload too short", short: true},
	{name: "enhanced header with half a fourcc", in: []byte{0x90, 'h', 'v'}, wantErr: "enhanced video header: flv: payload too short", short: true},
	{name: "enhanced hvc1 frames without composition time", in: cat([]byte{0x91}, []byte("hvc1"), []byte{0, 0}), wantErr: "enhanced h265 frames: flv: payload too short", short: true},
	{name: "enhanced avc1 frames without composition time", in: cat([]byte{0x91}, []byte("avc1")), wantErr: "enhanced h264 frames: flv: payload too short", short: true},
}

func TestParseVideo(t *testing.T) {
	for _, tc := range videoCases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseVideo(tc.in)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				if tc.short {
					require.ErrorIs(t, err, ErrShort)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, v)
		})
	}
}

type avcCase struct {
	name    string
	in      []byte
	want    AVCConfig
	wantErr string
	short   bool
}

// sps720p and pps720p are the parameter sets inside avcC720p.
var (
	sps720p = avcC720p[8 : 8+0x1a]
	pps720p = avcC720p[8+0x1a+3 : 8+0x1a+3+6]
)

// avcRecord builds an AVCDecoderConfigurationRecord with 4-byte NAL lengths.
func avcRecord(sps, pps [][]byte) []byte {
	b := []byte{1, 0x64, 0, 0x1f, 0xff, 0xe0 | byte(len(sps))}
	for _, s := range sps {
		b = append(b, byte(len(s)>>8), byte(len(s)))
		b = append(b, s...)
	}
	b = append(b, byte(len(pps)))
	for _, p := range pps {
		b = append(b, byte(len(p)>>8), byte(len(p)))
		b = append(b, p...)
	}
	return b
}

var avcCases = []avcCase{
	{
		name: "libx264 1280x720",
		in:   avcC720p,
		want: AVCConfig{
			Profile: 0x64, Level: 0x1f, NALULengthSize: 4,
			SPS: [][]byte{sps720p}, PPS: [][]byte{pps720p},
			Width: 1280, Height: 720, FPS: 30, CodecString: "avc1.64001f",
		},
	},
	{
		name: "two-byte NAL lengths, two PPS",
		in: func() []byte {
			b := avcRecord([][]byte{sps720p}, [][]byte{pps720p, {0x68, 1}})
			b[4] = 0xfd
			return b
		}(),
		want: AVCConfig{
			Profile: 0x64, Level: 0x1f, NALULengthSize: 2,
			SPS: [][]byte{sps720p}, PPS: [][]byte{pps720p, {0x68, 1}},
			Width: 1280, Height: 720, FPS: 30, CodecString: "avc1.64001f",
		},
	},
	{
		name: "constrained baseline codec string",
		in:   cat([]byte{1, 0x42, 0xc0, 0x1e}, avcC720p[4:]),
		want: AVCConfig{
			Profile: 0x42, ProfileCompatibl: 0xc0, Level: 0x1e, NALULengthSize: 4,
			SPS: [][]byte{sps720p}, PPS: [][]byte{pps720p},
			Width: 1280, Height: 720, FPS: 30, CodecString: "avc1.42c01e",
		},
	},
	{
		name: "zero num_units_in_tick gives no frame rate, not +Inf",
		in: func() []byte {
			sps := append([]byte(nil), sps720p...)
			sps[16] = 0 // num_units_in_tick 1 -> 0
			return avcRecord([][]byte{sps}, [][]byte{pps720p})
		}(),
		want: AVCConfig{
			Profile: 0x64, Level: 0x1f, NALULengthSize: 4,
			SPS: [][]byte{mustHex("6764001facd9405005bb0110000003000000000303c0f1831960")}, PPS: [][]byte{pps720p},
			Width: 1280, Height: 720, FPS: 0, CodecString: "avc1.64001f",
		},
	},
	{
		// Found by FuzzParseVideo: unsigned crop arithmetic wrapped to width 0.
		name:    "cropping larger than the picture",
		in:      []byte("\x010\x00\v0A\x00\x19'z00\xacXB1ZA\x0400000000000000\x000"),
		wantErr: "avc config sps: picture size ",
	},
	{name: "empty", in: nil, wantErr: "avc config: flv: payload too short", short: true},
	{name: "six bytes", in: avcC720p[:6], wantErr: "avc config: flv: payload too short", short: true},
	{name: "version 0", in: cat([]byte{0}, avcC720p[1:]), wantErr: "avc config: version 0"},
	{name: "sps length cut", in: avcC720p[:7], wantErr: "avc config sps: flv: payload too short", short: true},
	{name: "sps cut", in: avcC720p[:20], wantErr: "avc config sps: flv: payload too short", short: true},
	{name: "no pps count", in: avcC720p[:8+0x1a], wantErr: "avc config pps count: flv: payload too short", short: true},
	{name: "pps cut", in: avcC720p[:8+0x1a+4], wantErr: "avc config pps: flv: payload too short", short: true},
	{name: "no sps", in: avcRecord(nil, [][]byte{pps720p}), wantErr: "avc config: no SPS"},
	{name: "garbage sps", in: avcRecord([][]byte{{0x67}}, nil), wantErr: "avc config sps: not enough bits"},
}

func TestParseAVCConfig(t *testing.T) {
	for _, tc := range avcCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseAVCConfig(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				if tc.short {
					require.ErrorIs(t, err, ErrShort)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, c)
		})
	}
}

type audioCase struct {
	name    string
	in      []byte
	want    AudioInfo
	wantErr string
}

var audioCases = []audioCase{
	{
		name: "aac sequence header",
		in:   []byte{0xaf, 0, 0x12, 0x10},
		want: AudioInfo{Codec: "aac", PacketType: AudioSequenceHeader, Payload: []byte{0x12, 0x10}},
	},
	{
		name: "aac raw frame",
		in:   []byte{0xaf, 1, 0x21, 0x10, 0x04},
		want: AudioInfo{Codec: "aac", PacketType: AudioFrames, Payload: []byte{0x21, 0x10, 0x04}},
	},
	{
		name: "aac mono 16-bit flags are ignored",
		in:   []byte{0xae, 1},
		want: AudioInfo{Codec: "aac", PacketType: AudioFrames, Payload: []byte{}},
	},
	{
		name: "mp3",
		in:   []byte{0x2f, 0xff, 0xfb},
		want: AudioInfo{Codec: "mp3", PacketType: AudioFrames, Payload: []byte{0xff, 0xfb}},
	},
	{
		name: "opus",
		in:   []byte{0xdf, 0xfc},
		want: AudioInfo{Codec: "opus", PacketType: AudioFrames, Payload: []byte{0xfc}},
	},
	{
		name: "g711 a-law",
		in:   []byte{0x72, 0xd5},
		want: AudioInfo{Codec: "g711a", PacketType: AudioFrames, Payload: []byte{0xd5}},
	},
	{
		name: "g711 mu-law",
		in:   []byte{0x82, 0xff},
		want: AudioInfo{Codec: "g711u", PacketType: AudioFrames, Payload: []byte{0xff}},
	},
	{
		name: "linear pcm",
		in:   []byte{0x0f, 1, 2},
		want: AudioInfo{Codec: "sound(0)", PacketType: AudioFrames, Payload: []byte{1, 2}},
	},
	{
		name: "speex header byte only",
		in:   []byte{0xb6},
		want: AudioInfo{Codec: "sound(11)", PacketType: AudioFrames, Payload: []byte{}},
	},
	{name: "empty", in: []byte{}, wantErr: "flv: payload too short"},
	{name: "aac without packet type", in: []byte{0xaf}, wantErr: "aac audio header: flv: payload too short"},
}

func TestParseAudio(t *testing.T) {
	for _, tc := range audioCases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAudio(tc.in)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				require.ErrorIs(t, err, ErrShort)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, a)
		})
	}
}

type aacCase struct {
	name    string
	in      []byte
	want    AACConfig
	wantErr string
}

var aacCases = []aacCase{
	{
		name: "lc 44.1 kHz stereo",
		in:   []byte{0x12, 0x10},
		want: AACConfig{SampleRate: 44100, Channels: 2, ObjectType: 2, CodecString: "mp4a.40.2", SamplesPerAU: 1024},
	},
	{
		name: "lc 48 kHz mono",
		in:   []byte{0x11, 0x88},
		want: AACConfig{SampleRate: 48000, Channels: 1, ObjectType: 2, CodecString: "mp4a.40.2", SamplesPerAU: 1024},
	},
	{
		name: "lc 48 kHz 7.1 has eight channels",
		in:   []byte{0x11, 0xb8},
		want: AACConfig{SampleRate: 48000, Channels: 8, ObjectType: 2, CodecString: "mp4a.40.2", SamplesPerAU: 1024},
	},
	{
		name: "lc 960-sample frames",
		in:   []byte{0x12, 0x14},
		want: AACConfig{SampleRate: 44100, Channels: 2, ObjectType: 2, CodecString: "mp4a.40.2", SamplesPerAU: 960},
	},
	{
		name: "explicit sample rate",
		in:   []byte{0x17, 0x80, 0x1f, 0x40, 0x10},
		want: AACConfig{SampleRate: 16000, Channels: 2, ObjectType: 2, CodecString: "mp4a.40.2", SamplesPerAU: 1024},
	},
	{name: "explicit sample rate 0", in: []byte{0x17, 0x80, 0, 0, 0x10}, wantErr: "aac config: sample rate 0"},
	{name: "empty", in: nil, wantErr: "aac config: "},
	{name: "one byte", in: []byte{0x12}, wantErr: "aac config: "},
	{name: "aac main is unsupported", in: []byte{0x0a, 0x10}, wantErr: "aac config: unsupported object type: 1"},
	{name: "reserved sample rate index", in: []byte{0x16, 0x90}, wantErr: "aac config: invalid sample rate index (13)"},
	{name: "reserved channel configuration", in: []byte{0x12, 0x40}, wantErr: "aac config: unsupported channel configuration (8)"},
}

func TestParseAACConfig(t *testing.T) {
	for _, tc := range aacCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseAACConfig(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, c)
		})
	}
}
