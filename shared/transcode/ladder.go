package transcode

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Defaults of a Spec.
const (
	DefaultPreset       = "veryfast"
	DefaultGOP          = 2 * time.Second
	DefaultAudioBitrate = 128_000
)

// Spec describes one ladder run: the input, the outputs and how to encode.
type Spec struct {
	// Input is what ffmpeg reads (default "pipe:0"), in InputFormat (default "flv").
	Input       string
	InputFormat string
	// Outputs are the renditions, each with its URL (see Plan).
	Outputs []Output
	// Codec is "libx264" (default) or "libx265".
	Codec string
	// Preset is the encoder preset. Default DefaultPreset.
	Preset string
	// GOP is the fixed keyframe interval of every output. Default DefaultGOP.
	GOP time.Duration
	// FPS is the source frame rate, for the GOP in frames; 0 assumes 30.
	FPS float64
	// Audio says the source has audio; AudioCopy that it is AAC and is copied
	// rather than re-encoded (it is encoded or copied once for all outputs).
	Audio, AudioCopy bool
	// AudioBitrate when encoding, bit/s. Default DefaultAudioBitrate.
	AudioBitrate int
	// TextFilter is a ready drawtext filter (watermark.TextFilter) or empty.
	TextFilter string
	// ImageInput is the path of the watermark image file or empty; ImageFilters
	// builds its overlay from the labels it is given (watermark.OverlayFilters).
	ImageInput   string
	ImageFilters func(base, in, out string) (string, error)
	// Progress is where -progress writes (default "pipe:1").
	Progress string
	// Threads caps encoder threads per rendition; 0 lets ffmpeg decide.
	Threads int
}

// GOPFrames is the keyframe interval in frames.
func (s Spec) GOPFrames() int {
	fps := s.FPS
	if fps <= 0 || fps > 240 {
		fps = 30
	}
	g := s.GOP
	if g <= 0 {
		g = DefaultGOP
	}
	return max(1, int(math.Round(fps*g.Seconds())))
}

// FilterGraph returns the -filter_complex value and the output labels in
// Outputs order: decode once, watermark once, split, scale per rendition.
func (s Spec) FilterGraph() (string, []string, error) {
	n := len(s.Outputs)
	if n == 0 {
		return "", nil, errors.New("ladder: no outputs")
	}
	var parts []string
	base := "[0:v]"
	if s.ImageInput != "" {
		if s.ImageFilters == nil {
			return "", nil, errors.New("ladder: image input without overlay filters")
		}
		f, err := s.ImageFilters(base, "[1:v]", "[wm]")
		if err != nil {
			return "", nil, fmt.Errorf("ladder: %w", err)
		}
		parts = append(parts, f)
		base = "[wm]"
	}
	chain := base
	if s.TextFilter != "" {
		chain += s.TextFilter + ","
	}
	chain += "format=yuv420p,split=" + strconv.Itoa(n)
	for i := range s.Outputs {
		chain += "[s" + strconv.Itoa(i) + "]"
	}
	parts = append(parts, chain)
	labels := make([]string, n)
	for i, o := range s.Outputs {
		labels[i] = "[v" + strconv.Itoa(i) + "]"
		in := "[s" + strconv.Itoa(i) + "]"
		if o.Height > 0 {
			// Bilinear is visibly indistinguishable from bicubic when scaling
			// down and costs less (scripts/bench-ladder.sh, docs/performance.md).
			parts = append(parts, fmt.Sprintf("%sscale=flags=bilinear:w=-2:h=%d%s", in, o.Height, labels[i]))
		} else {
			parts = append(parts, in+"null"+labels[i])
		}
	}
	return strings.Join(parts, ";"), labels, nil
}

// Args returns ffmpeg's arguments (without the program name).
func (s Spec) Args() ([]string, error) {
	codec := s.Codec
	if codec == "" {
		codec = "libx264"
	}
	if codec != "libx264" && codec != "libx265" {
		return nil, fmt.Errorf("ladder: codec %q is not libx264 or libx265", codec)
	}
	preset := s.Preset
	if preset == "" {
		preset = DefaultPreset
	}
	if !validPreset(preset) {
		return nil, fmt.Errorf("ladder: unknown preset %q", preset)
	}
	for _, o := range s.Outputs {
		if o.URL == "" || o.Bitrate <= 0 || o.Height < 0 {
			return nil, fmt.Errorf("ladder: output %q needs a URL and a bitrate", o.Name)
		}
	}
	graph, labels, err := s.FilterGraph()
	if err != nil {
		return nil, err
	}
	input, format, progress := s.Input, s.InputFormat, s.Progress
	if input == "" {
		input = "pipe:0"
	}
	if format == "" {
		format = "flv"
	}
	if progress == "" {
		progress = "pipe:1"
	}
	gop := s.GOP
	if gop <= 0 {
		gop = DefaultGOP
	}
	g := strconv.Itoa(s.GOPFrames())
	args := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning",
		"-progress", progress, "-stats_period", "1",
		// The worker probed the source already and feeds it from a keyframe with
		// its sequence headers: ffmpeg need not wait for seconds of input.
		"-analyzeduration", "500000", "-probesize", "500000",
		"-fflags", "+genpts", "-f", format, "-i", input}
	if s.ImageInput != "" {
		args = append(args, "-i", "file:"+s.ImageInput)
	}
	// The filter graph (split + scales) runs on ffmpeg's main thread unless it
	// gets threads of its own; with them, one process keeps both cores busy.
	args = append(args, "-filter_complex_threads", "2", "-filter_complex", graph)
	for _, l := range labels {
		args = append(args, "-map", l)
	}
	if s.Audio {
		args = append(args, "-map", "0:a:0")
	}
	// zerolatency: no B-frames and no lookahead. A live ladder wants the
	// latency, and on this 2-core machine it is the difference between 1.5x
	// and 1.9x realtime for the full 1080p ladder (docs/performance.md).
	args = append(args, "-c:v", codec, "-preset", preset, "-tune", "zerolatency", "-fps_mode", "passthrough")
	if s.Threads > 0 {
		args = append(args, "-threads", strconv.Itoa(s.Threads))
	}
	for i, o := range s.Outputs {
		si := strconv.Itoa(i)
		args = append(args,
			"-b:v:"+si, strconv.Itoa(o.Bitrate),
			"-maxrate:v:"+si, strconv.Itoa(o.Bitrate*11/10),
			"-bufsize:v:"+si, strconv.Itoa(o.Bitrate*2))
	}
	// Fixed GOP, no scene-cut keyframes, and keyframes forced at the same
	// instants on every rendition: segments line up across the ladder.
	keyExpr := fmt.Sprintf("expr:gte(t,n_forced*%s)", strconv.FormatFloat(gop.Seconds(), 'f', -1, 64))
	args = append(args, "-force_key_frames", keyExpr)
	if codec == "libx264" {
		args = append(args, "-g", g, "-keyint_min", g, "-sc_threshold", "0", "-profile:v", "high")
	} else {
		args = append(args, "-g", g, "-x265-params", "keyint="+g+":min-keyint="+g+":scenecut=0:log-level=warning", "-tag:v", "hvc1")
	}
	if s.Audio {
		if s.AudioCopy {
			args = append(args, "-c:a", "copy")
		} else {
			ab := s.AudioBitrate
			if ab <= 0 {
				ab = DefaultAudioBitrate
			}
			args = append(args, "-c:a", "aac", "-b:a", strconv.Itoa(ab), "-ar", "44100")
		}
	}
	slaves := make([]string, len(s.Outputs))
	for i, o := range s.Outputs {
		sel := "v:" + strconv.Itoa(i)
		if s.Audio {
			sel += ",a"
		}
		slaves[i] = "[f=flv:flvflags=no_duration_filesize:onfail=abort:select=\\'" + sel + "\\']" + escapeTee(FFmpegRTMPURL(o.URL))
	}
	args = append(args, "-flags", "+global_header", "-f", "tee", strings.Join(slaves, "|"))
	return args, nil
}

// FFmpegRTMPURL rewrites rtmp[s]://host/app/a/b?q, whose stream name holds a
// '/', into the form ffmpeg's RTMP client publishes as app "app", name
// "a/b?q": rtmp[s]://host/app?slist=a/b?q. (ffmpeg otherwise takes "app/a" as
// the application and "b" as the name; its -rtmp_app option cannot be given
// per tee output.) Other URLs are returned unchanged.
func FFmpegRTMPURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok || (scheme != "rtmp" && scheme != "rtmps") || strings.Contains(u, "slist=") || strings.Contains(u, "&") {
		return u
	}
	host, path, ok := strings.Cut(rest, "/")
	if !ok {
		return u
	}
	name, _, _ := strings.Cut(path, "?")
	app, stream, ok := strings.Cut(name, "/")
	if !ok || !strings.Contains(stream, "/") {
		return u
	}
	return scheme + "://" + host + "/" + app + "?slist=" + strings.TrimPrefix(path, app+"/")
}

// escapeTee escapes a slave URL for the tee muxer's list syntax.
func escapeTee(u string) string {
	var b strings.Builder
	for _, r := range u {
		switch r {
		case '\\', '\'', '|', '[', ']':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func validPreset(p string) bool {
	switch p {
	case "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow":
		return true
	}
	return false
}
