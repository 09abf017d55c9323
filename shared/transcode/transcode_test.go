package transcode

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
)

func names(outs []Output) []string {
	var n []string
	for _, o := range outs {
		n = append(n, o.Name)
	}
	return n
}

func TestPlan(t *testing.T) {
	all := []string{"1080p", "360p", "720p", "480p"}
	for _, tc := range []struct {
		name      string
		ch        channel.Channel
		height    int
		bitrate   int
		want      []string
		origBitrt int
	}{
		{name: "all four from 1080p, smallest first", ch: channel.Channel{Transcode: channel.Transcode{Enabled: true, Renditions: all}}, height: 1080, want: []string{"360p", "480p", "720p", "1080p"}},
		{name: "never upscale a 720p source", ch: channel.Channel{Transcode: channel.Transcode{Enabled: true, Renditions: all}}, height: 720, want: []string{"360p", "480p", "720p"}},
		{name: "nothing fits a 240p source", ch: channel.Channel{Transcode: channel.Transcode{Enabled: true, Renditions: all}}, height: 240, want: nil},
		{name: "unknown height keeps the selection", ch: channel.Channel{Transcode: channel.Transcode{Enabled: true, Renditions: []string{"480p"}}}, height: 0, want: []string{"480p"}},
		{name: "disabled ladder", ch: channel.Channel{Transcode: channel.Transcode{Enabled: false, Renditions: all}}, height: 1080, want: nil},
		{name: "watermark adds the original at its bitrate", ch: channel.Channel{Transcode: channel.Transcode{Enabled: true, Renditions: []string{"360p"}}, Watermark: channel.Watermark{Text: &channel.TextWatermark{Text: "x"}}}, height: 540, bitrate: 1_500_000, want: []string{"360p", "original"}, origBitrt: 1_500_000},
		{name: "watermark only, bitrate unknown: template of that height", ch: channel.Channel{Watermark: channel.Watermark{Image: &channel.ImageWatermark{URL: "https://x/y.png"}}}, height: 720, want: []string{"original"}, origBitrt: 1_000_000},
		{name: "watermark only, odd height", ch: channel.Channel{Watermark: channel.Watermark{Image: &channel.ImageWatermark{URL: "https://x/y.png"}}}, height: 600, want: []string{"original"}, origBitrt: DefaultOriginalBitrate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outs, err := Plan(&tc.ch, tc.height, tc.bitrate)
			require.NoError(t, err)
			require.Equal(t, tc.want, names(outs))
			for _, o := range outs {
				if o.Name == "original" {
					require.Zero(t, o.Height)
					require.Equal(t, tc.origBitrt, o.Bitrate)
				} else {
					tpl, _ := Lookup(o.Name)
					require.Equal(t, tpl.Height, o.Height)
					require.Equal(t, tpl.Bitrate, o.Bitrate)
				}
			}
		})
	}
	_, err := Plan(&channel.Channel{Transcode: channel.Transcode{Enabled: true, Renditions: []string{"4k"}}}, 1080, 0)
	require.Error(t, err)
}

func TestFFmpegRTMPURL(t *testing.T) {
	for in, want := range map[string]string{
		"rtmp://127.0.0.1:1935/stream/demo/720p?sign=123-abc": "rtmp://127.0.0.1:1935/stream?slist=demo/720p?sign=123-abc",
		"rtmps://gw.internal/stream/demo/original":            "rtmps://gw.internal/stream?slist=demo/original",
		"rtmp://host/stream/demo?sign=1-a":                    "rtmp://host/stream/demo?sign=1-a",
		"rtmp://host/live2/KEY":                               "rtmp://host/live2/KEY",
		"/tmp/out.flv":                                        "/tmp/out.flv",
		"rtmp://host/stream/a/b?x=1&y=2":                      "rtmp://host/stream/a/b?x=1&y=2",
	} {
		require.Equal(t, want, FFmpegRTMPURL(in), in)
	}
}

func TestArgs(t *testing.T) {
	s := Spec{
		Outputs: []Output{
			{Name: "360p", Height: 360, Bitrate: 400_000, URL: "rtmp://h/stream/c/360p?sign=1-a"},
			{Name: "original", Bitrate: 2_000_000, URL: "rtmp://h/stream/c/original?sign=1-b"},
		},
		FPS: 25, GOP: 2 * time.Second, Audio: true, TextFilter: "drawtext=textfile=x",
		ImageInput:   "/tmp/w/watermark.png",
		ImageFilters: func(base, in, out string) (string, error) { return base + in + "overlay" + out, nil },
	}
	args, err := s.Args()
	require.NoError(t, err)
	joined := strings.Join(args, " ")
	require.Contains(t, joined, "-filter_complex [0:v][1:v]overlay[wm];[wm]drawtext=textfile=x,format=yuv420p,split=2[s0][s1];[s0]scale=flags=bilinear:w=-2:h=360[v0];[s1]null[v1]")
	require.Contains(t, joined, "-i file:/tmp/w/watermark.png")
	require.Contains(t, joined, "-g 50 -keyint_min 50 -sc_threshold 0")
	require.Contains(t, joined, "-force_key_frames expr:gte(t,n_forced*2)")
	require.Contains(t, joined, "-c:a aac")
	require.Equal(t, 1, strings.Count(joined, "-c:a"), "audio is encoded once")
	require.Contains(t, joined, "-b:v:0 400000")
	require.Contains(t, joined, "-b:v:1 2000000")
	require.Equal(t, "[f=flv:flvflags=no_duration_filesize:onfail=abort:select=\\'v:0,a\\']rtmp://h/stream?slist=c/360p?sign=1-a|"+
		"[f=flv:flvflags=no_duration_filesize:onfail=abort:select=\\'v:1,a\\']rtmp://h/stream?slist=c/original?sign=1-b", args[len(args)-1])
	require.Equal(t, "tee", args[len(args)-2])

	s.AudioCopy = true
	args, err = s.Args()
	require.NoError(t, err)
	require.True(t, slices.Contains(args, "copy"))

	for _, bad := range []Spec{
		{},
		{Outputs: []Output{{Name: "x", Bitrate: 1}}},
		{Outputs: []Output{{Name: "x", Bitrate: 1, URL: "u"}}, Codec: "libvpx"},
		{Outputs: []Output{{Name: "x", Bitrate: 1, URL: "u"}}, Preset: "ultrafast;rm"},
	} {
		_, err := bad.Args()
		require.Error(t, err)
	}
}

// TestArgsRunFFmpeg runs a real two-rendition ladder with a text watermark
// from an FLV file into two FLV files and checks them with ffprobe.
func TestArgsRunFFmpeg(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("LIVESTACK_E2E") == "1" {
			t.Fatal("ffmpeg is required")
		}
		t.Skip("ffmpeg not installed")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.flv")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
		"-f", "lavfi", "-i", "sine", "-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-f", "flv", src).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "t.txt"), []byte("a:b'c"), 0o600))
	s := Spec{
		Input:   src,
		Outputs: []Output{{Name: "360p", Height: 360, Bitrate: 400_000, URL: filepath.Join(dir, "a.flv")}, {Name: "240", Height: 240, Bitrate: 200_000, URL: filepath.Join(dir, "b.flv")}},
		FPS:     25, GOP: time.Second, Audio: true, AudioCopy: true, Preset: "ultrafast",
		TextFilter: "drawtext=textfile=" + filepath.Join(dir, "t.txt") + ":expansion=none",
	}
	args, err := s.Args()
	require.NoError(t, err)
	out, err = exec.Command("ffmpeg", args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var progressEnd bool
	require.NoError(t, ReadProgress(strings.NewReader(string(out)), func(p Progress) {
		if p.End {
			progressEnd = true
			require.EqualValues(t, 75, p.Frame)
		}
	}))
	require.True(t, progressEnd)
	for f, h := range map[string]string{"a.flv": "640x360", "b.flv": "426x240"} {
		o, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", filepath.Join(dir, f)).Output()
		require.NoError(t, err)
		require.Equal(t, "video\naudio", strings.TrimSpace(string(o)), "each output carries the video and the shared audio")
		o, err = exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
			"-of", "csv=p=0:s=x", filepath.Join(dir, f)).Output()
		require.NoError(t, err)
		require.Equal(t, h, strings.TrimSpace(string(o)))
	}
}

// TestArgsVideoOnly: a source without audio maps no audio.
func TestArgsVideoOnly(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.flv")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10",
		"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-f", "flv", src).CombinedOutput()
	require.NoError(t, err, "%s", out)
	s := Spec{Input: src, Outputs: []Output{{Name: "x", Height: 120, Bitrate: 100_000, URL: filepath.Join(dir, "x.flv")}}, FPS: 10, Preset: "ultrafast"}
	args, err := s.Args()
	require.NoError(t, err)
	require.NotContains(t, strings.Join(args, " "), "0:a")
	out, err = exec.Command("ffmpeg", args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	o, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,width,height", "-of", "csv=p=0", filepath.Join(dir, "x.flv")).Output()
	require.NoError(t, err)
	require.Equal(t, "video,160,120", strings.TrimSpace(string(o)))
}
