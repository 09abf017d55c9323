package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/livestack/livestack/shared/media/flv"
)

// Keyframe is what a decoder needs to make one picture: the video sequence
// header (AVC/HEVC configuration, the tag body) and one keyframe (tag body).
type Keyframe struct {
	Header []byte
	Frame  []byte
	// Time is the keyframe's stream timestamp in milliseconds.
	Time uint32
}

// Decoder turns keyframes into JPEG pictures.
type Decoder interface {
	// Decode returns one JPEG picture of k.
	Decode(ctx context.Context, k Keyframe) ([]byte, error)
	// Restarts is how many times a broken decoder process was replaced.
	Restarts() int64
	Close() error
}

// DecoderConfig configures both decoders. Zero values take the defaults.
type DecoderConfig struct {
	// FFmpeg is the ffmpeg binary. Default "ffmpeg" from PATH.
	FFmpeg string
	// MaxWidth bounds the picture width; narrower sources keep their size
	// (never upscaled), the height follows the aspect ratio. Default 1280.
	MaxWidth int
	// Quality is the MJPEG quantizer, 2 (best) to 31. Default 5.
	Quality int
	// Timeout bounds one picture. Default 10 s.
	Timeout time.Duration
	Logger  *slog.Logger
}

func (c *DecoderConfig) setDefaults() {
	if c.FFmpeg == "" {
		c.FFmpeg = "ffmpeg"
	}
	if c.MaxWidth <= 0 {
		c.MaxWidth = 1280
	}
	if c.Quality < 2 || c.Quality > 31 {
		c.Quality = 5
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// inputArgs read an FLV of keyframes from stdin with no probing delay: only
// keyframes are decoded, and low_delay makes the decoder hand each picture out
// at once instead of holding it for B-frame reordering.
func inputArgs() []string {
	return []string{"-hide_banner", "-loglevel", "error",
		"-flags", "low_delay", "-probesize", "32", "-analyzeduration", "0",
		"-skip_frame", "nokey", "-threads", "1", "-f", "flv", "-i", "pipe:0"}
}

// outputArgs scale to at most MaxWidth (integer only: nothing user-supplied
// reaches the filter string) and write MJPEG pictures to stdout.
func (c *DecoderConfig) outputArgs() []string {
	return []string{"-an", "-sn", "-dn",
		"-vf", "scale=w=min(iw\\," + strconv.Itoa(c.MaxWidth) + "):h=-2",
		"-fps_mode", "passthrough", "-enc_time_base", "1:1000", "-threads", "1", "-c:v", "mjpeg", "-q:v", strconv.Itoa(c.Quality),
		"-f", "image2pipe", "pipe:1"}
}

// miniFLV is an FLV file of one sequence header and one keyframe.
func miniFLV(k Keyframe) ([]byte, error) {
	b := flv.Header(false, true)
	b, err := flv.AppendTag(b, flv.TagVideo, 0, k.Header)
	if err != nil {
		return nil, err
	}
	return flv.AppendTag(b, flv.TagVideo, 0, k.Frame)
}

// OneShot runs one short ffmpeg per picture, fed an FLV of the sequence
// header and the keyframe. It holds no process between pictures.
type OneShot struct {
	cfg DecoderConfig
}

// NewOneShot returns a decoder that starts ffmpeg for every picture.
func NewOneShot(cfg DecoderConfig) *OneShot {
	cfg.setDefaults()
	return &OneShot{cfg: cfg}
}

// Decode implements Decoder.
func (o *OneShot) Decode(ctx context.Context, k Keyframe) ([]byte, error) {
	in, err := miniFLV(k)
	if err != nil {
		return nil, fmt.Errorf("snapshot input: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	args := append(inputArgs(), append([]string{"-frames:v", "1"}, o.cfg.outputArgs()...)...)
	cmd := exec.CommandContext(ctx, o.cfg.FFmpeg, args...)
	cmd.Stdin = bytes.NewReader(in)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ffmpeg snapshot: %w: %s", err, lastLine(stderr.Bytes()))
	}
	pic, err := NewJPEGReader(&out, 0).Next()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg snapshot output: %w", err)
	}
	return pic, nil
}

// Restarts implements Decoder (a one-shot decoder has no process to restart).
func (o *OneShot) Restarts() int64 { return 0 }

// Close implements Decoder.
func (o *OneShot) Close() error { return nil }

// Persistent keeps one ffmpeg per stream and feeds it only keyframes,
// reading the pictures back from its stdout. A process that fails or stalls
// is killed and replaced at the next picture.
//
// ffmpeg's H.264 decoder holds back as many pictures as the SPS allows to be
// reordered (num_reorder_frames; 2 for a typical encoder with B-frames), even
// with low_delay set. So each keyframe is fed 1+R times (R read from the SPS):
// the decoder then hands out exactly 1+R pictures per keyframe once primed, the
// last of which is the new keyframe. Codecs whose reorder depth is not read
// here (HEVC and others) are decoded by a OneShot instead.
type Persistent struct {
	cfg      DecoderConfig
	fallback *OneShot

	mu       sync.Mutex
	proc     *decoderProc
	restarts int64
}

type decoderProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	pics   chan []byte
	done   chan struct{} // closed when the reader goroutine ends
	err    error         // set before done is closed
	header []byte        // the sequence header the process was given
	// reorder is the pictures the decoder holds back; fed and got count
	// pictures written and read.
	reorder  int
	fed, got int
	lastTS   uint32
	stderr   *tailBuffer
}

// NewPersistent returns a decoder keeping one ffmpeg process.
func NewPersistent(cfg DecoderConfig) *Persistent {
	cfg.setDefaults()
	return &Persistent{cfg: cfg, fallback: NewOneShot(cfg)}
}

// ReorderDepth returns how many pictures ffmpeg's decoder holds back for a
// stream with this FLV video sequence header, and false when it is not known
// (not H.264, or a configuration that does not parse).
func ReorderDepth(header []byte) (int, bool) {
	v, err := flv.ParseVideo(header)
	if err != nil || v.Codec != "h264" || v.PacketType != flv.VideoSequenceHeader {
		return 0, false
	}
	c, err := flv.ParseAVCConfig(v.Payload)
	if err != nil || len(c.SPS) == 0 {
		return 0, false
	}
	var sps h264.SPS
	if err := sps.Unmarshal(c.SPS[0]); err != nil {
		return 0, false
	}
	if sps.VUI != nil && sps.VUI.BitstreamRestriction != nil {
		r := int(sps.VUI.BitstreamRestriction.MaxNumReorderFrames)
		if r > 16 {
			return 0, false
		}
		return r, true
	}
	return 0, true
}

func (p *Persistent) start(header []byte, reorder int) (*decoderProc, error) {
	args := append(inputArgs(), p.cfg.outputArgs()...)
	cmd := exec.Command(p.cfg.FFmpeg, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	tail := &tailBuffer{max: 4096}
	cmd.Stderr = tail
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ffmpeg: %w", err)
	}
	d := &decoderProc{cmd: cmd, stdin: stdin, pics: make(chan []byte, 32), done: make(chan struct{}),
		stderr: tail, reorder: reorder, header: append([]byte(nil), header...)}
	go func() {
		jr := NewJPEGReader(stdout, 0)
		for {
			pic, err := jr.Next()
			if err != nil {
				d.err = err
				break
			}
			select {
			case d.pics <- pic:
			default: // more pictures than ever asked for: the process is killed on the mismatch
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		if werr := cmd.Wait(); werr != nil {
			d.err = fmt.Errorf("ffmpeg exited: %w: %s", werr, lastLine(tail.Bytes()))
		}
		close(d.done)
	}()
	hdr := flv.Header(false, true)
	if hdr, err = flv.AppendTag(hdr, flv.TagVideo, 0, header); err != nil {
		d.kill()
		return nil, err
	}
	if _, err := stdin.Write(hdr); err != nil {
		d.kill()
		return nil, fmt.Errorf("ffmpeg stdin: %w", err)
	}
	return d, nil
}

func (d *decoderProc) kill() {
	_ = d.stdin.Close()
	if d.cmd.Process != nil {
		_ = d.cmd.Process.Kill()
	}
	<-d.done
}

// Decode implements Decoder.
func (p *Persistent) Decode(ctx context.Context, k Keyframe) ([]byte, error) {
	reorder, ok := ReorderDepth(k.Header)
	if !ok {
		return p.fallback.Decode(ctx, k)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.proc
	if d != nil {
		select {
		case <-d.done: // died since the last picture
			p.cfg.Logger.Warn("snapshot decoder exited; restarting", "error", d.err)
			p.proc, d = nil, nil
			p.restarts++
		default:
		}
	}
	if d != nil && !bytes.Equal(d.header, k.Header) {
		// a new configuration (and maybe reorder depth): start afresh
		d.kill()
		p.proc, d = nil, nil
	}
	if d == nil {
		var err error
		if d, err = p.start(k.Header, reorder); err != nil {
			// a decoder that cannot even start counts like one that died
			// (the metric and the callers' backoff see every failed process)
			p.restarts++
			return nil, err
		}
		p.proc = d
	}
	var buf []byte
	for i := 0; i <= d.reorder; i++ {
		// synthetic timestamps 10 ms apart: every picture keeps its own pts
		// in the encoder's millisecond time base
		d.lastTS += 10
		ts := d.lastTS
		var err error
		if buf, err = flv.AppendTag(buf, flv.TagVideo, ts, k.Frame); err != nil {
			return nil, err
		}
	}
	d.fed += 1 + d.reorder
	want := d.fed - d.reorder
	fail := func(err error) ([]byte, error) {
		d.kill()
		if tail := lastLine(d.stderr.Bytes()); tail != "" {
			err = fmt.Errorf("%w (ffmpeg: %s)", err, tail)
		}
		p.proc = nil
		p.restarts++
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	werr := make(chan error, 1)
	go func() { _, err := d.stdin.Write(buf); werr <- err }()
	select {
	case err := <-werr:
		if err != nil {
			return fail(fmt.Errorf("ffmpeg stdin: %w", err))
		}
	case <-wctx.Done():
		return fail(fmt.Errorf("ffmpeg stdin: %w", wctx.Err()))
	}
	var pic []byte
	for d.got < want {
		select {
		case pic = <-d.pics:
			d.got++
		case <-d.done:
			return fail(fmt.Errorf("snapshot decoder: %w", d.err))
		case <-wctx.Done():
			return fail(fmt.Errorf("snapshot decoder: %d of %d pictures: %w", d.got, want, wctx.Err()))
		}
	}
	if len(d.pics) > 0 {
		return fail(errors.New("snapshot decoder: more pictures than keyframes fed"))
	}
	return pic, nil
}

// Restarts implements Decoder.
func (p *Persistent) Restarts() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// Close ends the ffmpeg process.
func (p *Persistent) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		_ = p.proc.stdin.Close()
		select {
		case <-p.proc.done:
		case <-time.After(2 * time.Second):
			p.proc.kill()
		}
		p.proc = nil
	}
	return nil
}

// tailBuffer keeps the last bytes written to it (a process's stderr).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	t.mu.Unlock()
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.b...)
}

// lastLine returns the last non-empty line of ffmpeg's stderr, for errors.
func lastLine(b []byte) string {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	if len(b) > 300 {
		b = b[:300]
	}
	return string(b)
}
