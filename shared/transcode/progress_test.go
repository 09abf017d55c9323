package transcode

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const sampleProgress = `frame=75
fps=24.91
stream_0_0_q=28.0
stream_0_1_q=-1.0
bitrate=1234.5kbits/s
total_size=463104
out_time_us=3041000
out_time_ms=3041000
out_time=00:00:03.041000
dup_frames=2
drop_frames=1
speed=1.01x
progress=continue
frame=100
fps=N/A
bitrate=N/A
total_size=N/A
out_time_us=N/A
speed=N/A
progress=end
`

func TestReadProgress(t *testing.T) {
	var got []Progress
	require.NoError(t, ReadProgress(strings.NewReader(sampleProgress), func(p Progress) { got = append(got, p) }))
	require.Equal(t, []Progress{
		{Frame: 75, FPS: 24.91, Bitrate: 1234500, TotalSize: 463104, OutTime: 3041 * time.Millisecond, DupFrames: 2, DropFrames: 1, Speed: 1.01},
		{Frame: 100, End: true},
	}, got)
}

func TestReadProgressSkipsOverlongLines(t *testing.T) {
	in := "frame=1\n" + strings.Repeat("x", 3*maxProgressLine) + "\nfps=5\nprogress=continue\nframe=2\nprogress=end"
	var got []Progress
	require.NoError(t, ReadProgress(strings.NewReader(in), func(p Progress) { got = append(got, p) }))
	require.Equal(t, []Progress{{Frame: 1, FPS: 5}, {Frame: 2, End: true}}, got)
}

func FuzzReadProgress(f *testing.F) {
	f.Add(sampleProgress)
	f.Add("speed=-3x\nbitrate=NaNkbits/s\nprogress=continue\n")
	f.Add("frame=99999999999999999999\nout_time_us=-5\nprogress=end")
	f.Fuzz(func(t *testing.T, in string) {
		n := 0
		err := ReadProgress(strings.NewReader(in), func(p Progress) {
			n++
			if p.Frame < 0 || p.FPS < 0 || p.Bitrate < 0 || p.Speed < 0 || p.OutTime < 0 || p.DupFrames < 0 || p.DropFrames < 0 || p.TotalSize < 0 {
				t.Fatalf("negative figure from %q: %+v", in, p)
			}
			if p.FPS != p.FPS || p.Speed != p.Speed || p.Bitrate != p.Bitrate {
				t.Fatalf("NaN from %q: %+v", in, p)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if n > strings.Count(in, "progress=")+1 {
			t.Fatalf("%d blocks from %d progress lines", n, strings.Count(in, "progress="))
		}
	})
}
