package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/transcode"
)

// ladderArgs prints the arguments of the worker's ffmpeg ladder (exactly as
// shared/transcode builds them) reading a file and writing one FLV file per
// rendition into -out, for benchmarks.
func ladderArgs(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("ladder-args", flag.ContinueOnError)
	input := fs.String("input", "", "input file (required)")
	format := fs.String("format", "flv", "input format")
	out := fs.String("out", "", "directory for the rendition files (required)")
	rends := fs.String("renditions", "360p,480p,720p,1080p", "renditions, comma-separated")
	height := fs.Int("height", 1080, "source height (renditions above it are dropped)")
	preset := fs.String("preset", transcode.DefaultPreset, "x264 preset")
	fps := fs.Float64("fps", 30, "source frame rate")
	gop := fs.Duration("gop", transcode.DefaultGOP, "keyframe interval")
	audioCopy := fs.Bool("audio-copy", true, "copy AAC audio instead of encoding it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *input == "" || *out == "" {
		return fmt.Errorf("-input and -out are required")
	}
	ch := &channel.Channel{ID: "bench", Transcode: channel.Transcode{Enabled: true, Renditions: strings.Split(*rends, ",")}}
	outs, err := transcode.Plan(ch, *height, 0)
	if err != nil {
		return err
	}
	for i := range outs {
		outs[i].URL = filepath.Join(*out, outs[i].Name+".flv")
	}
	spec := transcode.Spec{
		Input: *input, InputFormat: *format, Outputs: outs, Preset: *preset,
		FPS: *fps, GOP: *gop, Audio: true, AudioCopy: *audioCopy, Progress: "pipe:1",
	}
	a, err := spec.Args()
	if err != nil {
		return err
	}
	a = append([]string{"-y"}, a...)
	_, err = fmt.Fprintln(w, strings.Join(a, "\n"))
	return err
}
