package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
)

func TestReadInput(t *testing.T) {
	avcConfig := []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe0, 0, 0} // no SPS: size stays 0
	key := []byte{0x17, 1, 0, 0, 0, 0xaa}
	inter := []byte{0x27, 1, 0, 0, 0, 0xbb}
	aac := []byte{0xaf, 1, 0xcc}
	tests := []struct {
		name  string
		tags  []testTag
		err   string
		check func(t *testing.T, in *input)
	}{
		{"loop period and rebase", []testTag{
			{flv.TagScript, 0, []byte{2, 0, 1, 'x'}},
			{flv.TagVideo, 100, avcConfig},
			{flv.TagAudio, 100, []byte{0xaf, 0, 0x12, 0x10}},
			{flv.TagVideo, 100, key},
			{flv.TagAudio, 100, aac},
			{flv.TagAudio, 123, aac},
			{flv.TagVideo, 133, inter},
			{flv.TagAudio, 146, aac},
			{flv.TagVideo, 167, inter},
			{flv.TagVideo, 167, []byte{0x17, 2, 0, 0, 0}}, // end of sequence: dropped
		}, "", func(t *testing.T, in *input) {
			require.Len(t, in.Media, 6)
			require.Equal(t, uint32(0), in.Media[0].Timestamp)
			require.Equal(t, uint32(67), in.Media[5].Timestamp)
			require.Equal(t, uint32(101), in.Period) // 167 + 34 - 100
			require.Equal(t, 3, in.VideoFrames)
			require.Equal(t, 1, in.Keyframes)
			require.NotNil(t, in.Metadata)
			require.NotNil(t, in.Audio)
			require.Equal(t, int64(3*(15+6)+3*(15+3)), in.Bytes)
		}},
		{"audio past the last video frame is dropped", []testTag{
			{flv.TagVideo, 0, avcConfig}, {flv.TagVideo, 0, key}, {flv.TagAudio, 0, aac}, {flv.TagVideo, 33, inter},
			{flv.TagAudio, 23, aac}, {flv.TagAudio, 46, aac}, {flv.TagAudio, 69, aac}, {flv.TagAudio, 92, aac},
		}, "", func(t *testing.T, in *input) {
			require.Equal(t, uint32(66), in.Period)
			require.Len(t, in.Media, 5)
			require.Equal(t, int64(2*(15+6)+3*(15+3)), in.Bytes)
		}},
		{"no sequence header", []testTag{{flv.TagVideo, 0, key}, {flv.TagVideo, 33, inter}}, "no H.264 sequence header", nil},
		{"starts on an inter frame", []testTag{{flv.TagVideo, 0, avcConfig}, {flv.TagVideo, 0, inter}}, "not a keyframe", nil},
		{"video goes back", []testTag{{flv.TagVideo, 0, avcConfig}, {flv.TagVideo, 40, key}, {flv.TagVideo, 33, inter}}, "do not increase", nil},
		{"not h264", []testTag{{flv.TagVideo, 0, []byte{0x12, 0, 0}}}, "want h264", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := readInput(bytes.NewReader(flvBody(t, tt.tags)), "test.flv")
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			tt.check(t, in)
		})
	}
}

func TestFFmpegArgs(t *testing.T) {
	args := strings.Join(ffmpegArgs(viewerInput, 30, "out.flv"), " ")
	for _, want := range []string{
		"-i testsrc2=size=1280x720:rate=30",
		"-i sine=frequency=440:sample_rate=44100",
		"-c:v libx264 -preset veryfast",
		"-b:v 2500k -maxrate 2500k -bufsize 2500k -x264-params nal-hrd=cbr",
		"-g 60 -keyint_min 60 -sc_threshold 0",
		"-c:a aac -b:a 128k -ar 44100 -ac 2",
		"-t 30",
	} {
		require.Contains(t, args, want)
	}
	require.True(t, strings.HasSuffix(args, "-f flv out.flv"))

	cam := strings.Join(ffmpegArgs(cameraInput, 30, "cam.flv"), " ")
	require.Contains(t, cam, "-b:v 900k -maxrate 900k -bufsize 900k")
	require.Contains(t, cam, "-c:a aac -b:a 96k")
	require.NotEqual(t, defaultInputPath(viewerInput, 30), defaultInputPath(cameraInput, 30))
}
