// Package worker runs the pixel work of one live stream: it pulls the stream
// from its gateway, runs ONE ffmpeg that decodes once and encodes the
// channel's rendition ladder (with the channel's watermark), and publishes
// each rendition back into the gateway as its own stream
// "{channelId}/{rendition}" over RTMP, signed for that name. It supervises
// ffmpeg (restart with exponential backoff when it dies while the stream is
// live), reports ffmpeg's progress as stats and metrics, and returns when the
// stream ends.
//
// The same Run serves the ECS task (containers/worker) and the standalone
// binary (in-process, one goroutine and one ffmpeg subprocess per stream).
package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/motion"
	"github.com/livestack/livestack/shared/media/snapshot"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/transcode"
	"github.com/livestack/livestack/shared/watermark"
)

// Config of one worker run. Zero values take the documented defaults.
type Config struct {
	// ChannelID is the stream to process (required).
	ChannelID string
	// Channel holds the channel's settings; when nil, LoadChannel is called.
	Channel *channel.Channel
	// LoadChannel fetches the channel's settings (for example store.GetChannel).
	LoadChannel func(ctx context.Context, id string) (*channel.Channel, error)
	// Gateway is host:port of the gateway's HTTP listener; the source is
	// http://{Gateway}/{ChannelID}/live.flv unless Source is set.
	Gateway string
	// Source overrides the pull (HubSource in standalone).
	Source Source
	// SourceToken is sent with the default HTTP pull (signing.Signer.
	// SourceToken of the channel): a watermarked channel's raw source is
	// served to it only, everyone else gets the watermarked "original".
	SourceToken string
	// PublishURL returns the RTMP URL a rendition is published to, signed for
	// "{channelId}/{rendition}" (see SignedPublishURL). It is called on every
	// ffmpeg start, so signatures may be short-lived. Required.
	PublishURL func(rendition string) (string, error)
	// FFmpeg is the ffmpeg binary. Default "ffmpeg" on PATH.
	FFmpeg string
	// Preset is the x264/x265 preset. Default transcode.DefaultPreset (veryfast).
	Preset string
	// Images fetches image watermarks; nil uses a zero Fetcher (HTTPS, public
	// addresses only, no blob store).
	Images *watermark.Fetcher
	// Font for text watermarks; zero uses watermark.DefaultFont().
	Font watermark.Font
	// Stats receives the worker's state and ffmpeg's progress; may be nil.
	Stats *Registry
	// ProbeTimeout bounds how long the worker reads the source before starting
	// ffmpeg (it waits for the second keyframe to learn the GOP). Default 6 s.
	ProbeTimeout time.Duration
	// MinBackoff and MaxBackoff bound the restart delay after ffmpeg dies.
	// Defaults 500 ms and 30 s; the delay doubles per consecutive failure and
	// resets after a run of StableRun.
	MinBackoff, MaxBackoff time.Duration
	// StableRun is how long ffmpeg must run for a failure to count as new.
	// Default 30 s.
	StableRun time.Duration
	// MaxSourceFailures ends the worker with an error after this many
	// consecutive failures to open the source (other than "not live"). Default 10.
	MaxSourceFailures int
	// TempDir holds the watermark files; default os.TempDir().
	TempDir string
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	// Pixels selects the work: TranscodeOnly (the zero value, the
	// standalone, whose gateway takes snapshots and motion clips itself) or
	// AllPixels (the AWS task: also the channel's snapshots and motion clips,
	// each from its own pull of the stream, alongside the ladder).
	Pixels Pixels
	// Blob stores snapshots and motion clips; required with AllPixels when
	// the channel has either on.
	Blob blob.Store
	// Index records them as recordings; may be nil.
	Index store.Recordings
	// BroadcastID names the broadcast in snapshot and clip keys (the
	// scheduler's task, LIVESTACK_BROADCAST_ID); empty or unsafe in a key
	// uses the worker's start time as snapshot.BroadcastID formats it.
	BroadcastID string
	// SnapshotCounters and MotionCounters, if set, are updated.
	SnapshotCounters *snapshot.Counters
	MotionCounters   *motion.Counters
}

func (c *Config) setDefaults() error {
	if !channel.ValidID(c.ChannelID) {
		return fmt.Errorf("worker: invalid channel id %q", c.ChannelID)
	}
	if c.PublishURL == nil {
		return errors.New("worker: PublishURL is required")
	}
	if c.Source == nil {
		if c.Gateway == "" {
			return errors.New("worker: Gateway or Source is required")
		}
		c.Source = HTTPSource{URL: "http://" + c.Gateway + "/" + c.ChannelID + "/live.flv", Token: c.SourceToken}
	}
	if c.FFmpeg == "" {
		c.FFmpeg = "ffmpeg"
	}
	if c.Images == nil {
		c.Images = &watermark.Fetcher{}
	}
	if c.Font == (watermark.Font{}) {
		c.Font = watermark.DefaultFont()
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = 6 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.StableRun <= 0 {
		c.StableRun = 30 * time.Second
	}
	if c.MaxSourceFailures <= 0 {
		c.MaxSourceFailures = 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// SignedPublishURL returns a Config.PublishURL that signs
// rtmp://{rtmpAddr}/stream/{channelID}/{rendition}?sign=… with signer, valid
// for ttl from each call.
func SignedPublishURL(rtmpAddr string, signer *signing.Signer, channelID string, ttl time.Duration) func(string) (string, error) {
	return func(rendition string) (string, error) {
		name := channelID + "/" + rendition
		return "rtmp://" + rtmpAddr + "/stream/" + name + "?sign=" + url.QueryEscape(signer.Sign(name, time.Now().Add(ttl))), nil
	}
}

// NeedsWorker reports whether a channel needs pixel work: a transcode ladder
// with at least one rendition, or a watermark.
func NeedsWorker(ch *channel.Channel) bool {
	return (ch.Transcode.Enabled && len(ch.Transcode.Renditions) > 0) || ch.Watermark.Text != nil || ch.Watermark.Image != nil
}

// Run processes the channel's stream until it ends or ctx is cancelled, and
// returns nil then. With AllPixels, snapshots and motion capture run
// alongside the ladder (or alone, for a channel with no ladder) and Run
// returns once all have stopped. It returns an error when the work cannot be done at all:
// bad configuration, a refused watermark (such as an image URL on a private
// address), a source that cannot be reached. A channel that needs no work
// returns nil at once.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	w := &worker{cfg: cfg, log: cfg.Logger.With("component", "worker", "channel", cfg.ChannelID)}
	defer cfg.Stats.remove(cfg.ChannelID)
	return w.run(ctx)
}

type worker struct {
	cfg Config
	log *slog.Logger
	ch  *channel.Channel

	textFilter string
	imagePath  string
	codecName  string

	// fixed after the first successful probe, so restarts keep the ladder
	info    *SourceInfo
	outputs []transcode.Output
	gop     time.Duration
}

func (w *worker) run(ctx context.Context) error {
	ch := w.cfg.Channel
	if ch == nil {
		if w.cfg.LoadChannel == nil {
			return errors.New("worker: Channel or LoadChannel is required")
		}
		var err error
		if ch, err = w.cfg.LoadChannel(ctx, w.cfg.ChannelID); err != nil {
			return fmt.Errorf("worker %s: load channel: %w", w.cfg.ChannelID, err)
		}
	}
	c := *ch
	c.Normalize()
	w.ch = &c
	ladder := NeedsWorker(w.ch)
	stills := w.cfg.Pixels == AllPixels && NeedsStills(w.ch)
	if !ladder && !stills {
		w.log.Info("channel needs no transcoding or watermark; worker exits")
		return nil
	}
	if stills && w.cfg.Blob == nil {
		return fmt.Errorf("worker %s: the channel takes snapshots or motion clips but no blob store is configured", c.ID)
	}
	if !stills {
		return w.runLadder(ctx)
	}
	stillsDone := make(chan error, 1)
	go func() { stillsDone <- w.runStills(ctx) }()
	var err error
	if ladder {
		err = w.runLadder(ctx)
	}
	// Snapshots and motion keep going until the stream ends even when the
	// ladder could not run (a refused watermark image, say).
	return errors.Join(err, <-stillsDone)
}

// runLadder runs the transcode ladder (with the watermark) until the stream
// ends or ctx ends.
func (w *worker) runLadder(ctx context.Context) error {
	c := *w.ch
	dir, err := os.MkdirTemp(w.cfg.TempDir, "livestack-worker-")
	if err != nil {
		return fmt.Errorf("worker %s: temp dir: %w", c.ID, err)
	}
	defer os.RemoveAll(dir)
	if err := w.prepareWatermark(ctx, dir); err != nil {
		w.setError(err)
		return fmt.Errorf("worker %s: %w", c.ID, err)
	}
	w.chooseCodec()
	w.cfg.Stats.update(c.ID, func(s *Stats) {
		s.State = StateStarting
		s.Codec = w.codec()
		s.Watermark = w.textFilter != "" || w.imagePath != ""
	})

	backoff := w.cfg.MinBackoff
	sourceFailures := 0
	for {
		start := time.Now()
		out, err := w.runOnce(ctx)
		switch out {
		case outcomeStopped:
			w.log.Info("worker stopped")
			return nil
		case outcomeEnded:
			w.log.Info("source stream ended; worker exits")
			return nil
		case outcomeSourceEOF:
			// The source connection ended. That is normally the stream's end,
			// but a gateway also drops a reader that falls behind: look again,
			// and exit only once the stream is gone.
			w.log.Info("source connection ended; checking the stream")
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(200 * time.Millisecond):
			}
			continue
		case outcomeNoWork:
			return nil
		case outcomeFatal:
			w.setError(err)
			return fmt.Errorf("worker %s: %w", c.ID, err)
		case outcomeSourceFailed:
			sourceFailures++
			if sourceFailures >= w.cfg.MaxSourceFailures {
				w.setError(err)
				return fmt.Errorf("worker %s: source unavailable after %d attempts: %w", c.ID, sourceFailures, err)
			}
		case outcomeCrashed:
			sourceFailures = 0
			w.cfg.Stats.update(c.ID, func(s *Stats) { s.Restarts++ })
		}
		if time.Since(start) > w.cfg.StableRun {
			backoff = w.cfg.MinBackoff
		}
		w.log.Warn("ffmpeg ladder failed; restarting", "error", err, "in", backoff)
		w.cfg.Stats.update(c.ID, func(s *Stats) {
			s.State, s.PID = StateBackoff, 0
			if err != nil {
				s.LastError = err.Error()
			}
		})
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, w.cfg.MaxBackoff)
	}
}

func (w *worker) setError(err error) {
	w.cfg.Stats.update(w.cfg.ChannelID, func(s *Stats) { s.State, s.LastError = StateStopped, err.Error() })
}

func (w *worker) codec() string { return w.codecName }

// chooseCodec picks the channel's codec, falling back to libx264 when this
// ffmpeg cannot carry HEVC over RTMP.
func (w *worker) chooseCodec() {
	w.codecName = "libx264"
	if w.ch.Transcode.Codec == "libx265" {
		if ffmpegHasEnhancedFLV(w.cfg.FFmpeg) {
			w.codecName = "libx265"
		} else {
			w.log.Warn("libx265 needs ffmpeg 6.1 or later to publish HEVC over RTMP (enhanced FLV); encoding libx264 instead")
		}
	}
}

// prepareWatermark validates the watermark, writes the text file and fetches
// the image once.
func (w *worker) prepareWatermark(ctx context.Context, dir string) error {
	wm := w.ch.Watermark
	if wm.Text != nil {
		if err := watermark.ValidateText(*wm.Text); err != nil {
			return err
		}
		p, err := watermark.WriteTextFile(dir, wm.Text.Text)
		if err != nil {
			return err
		}
		if w.textFilter, err = watermark.TextFilter(*wm.Text, p, w.cfg.Font); err != nil {
			return err
		}
	}
	if wm.Image != nil {
		if err := watermark.ValidateImage(*wm.Image); err != nil {
			return err
		}
		img, err := w.cfg.Images.Fetch(ctx, *wm.Image)
		if err != nil {
			return err
		}
		p := filepath.Join(dir, "watermark."+img.Format)
		if err := os.WriteFile(p, img.Data, 0o600); err != nil {
			return fmt.Errorf("write watermark image: %w", err)
		}
		w.imagePath = p
	}
	return nil
}

type outcome int

const (
	outcomeStopped outcome = iota + 1
	outcomeEnded
	outcomeNoWork
	outcomeFatal
	outcomeSourceFailed
	outcomeCrashed
	outcomeSourceEOF
)

// runOnce opens the source, starts ffmpeg, feeds it and waits for the first
// of: the source ending, ffmpeg dying, ctx ending.
func (w *worker) runOnce(ctx context.Context) (outcome, error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	src, err := w.cfg.Source.Open(runCtx)
	switch {
	case ctx.Err() != nil:
		return outcomeStopped, nil
	case errors.Is(err, ErrSourceGone):
		return outcomeEnded, nil
	case err != nil:
		return outcomeSourceFailed, err
	}
	tags := readTags(runCtx, src)
	defer func() {
		cancel()
		for range tags { // let the reader goroutine finish before Close
		}
		src.Close()
	}()
	keyframes := 2 // the first run measures the source's keyframe interval
	if w.info != nil {
		keyframes = 1 // a restart starts at the first keyframe
	}
	info, buffered, err := probe(runCtx, tags, w.cfg.ProbeTimeout, keyframes)
	switch {
	case ctx.Err() != nil:
		return outcomeStopped, nil
	case errors.Is(err, errNoVideo):
		w.log.Warn("source has no video; nothing to transcode")
		return outcomeNoWork, nil
	case errors.Is(err, io.EOF):
		return outcomeSourceEOF, nil
	case err != nil:
		return outcomeSourceFailed, fmt.Errorf("read source: %w", err)
	}
	if err := w.plan(info); err != nil {
		return outcomeFatal, err
	}
	if len(w.outputs) == 0 {
		w.log.Warn("no rendition fits the source (never upscaled); nothing to do", "height", info.Height)
		return outcomeNoWork, nil
	}
	audio, _ := src.Tracks()
	audio = audio || info.AudioCodec != ""
	spec := transcode.Spec{
		Outputs:    make([]transcode.Output, len(w.outputs)),
		Codec:      w.codec(),
		Preset:     w.cfg.Preset,
		GOP:        w.gop,
		FPS:        w.info.FPS,
		Audio:      audio,
		AudioCopy:  info.AudioCodec == "aac",
		TextFilter: w.textFilter,
		ImageInput: w.imagePath,
	}
	if w.imagePath != "" {
		im := *w.ch.Watermark.Image
		spec.ImageFilters = func(base, in, out string) (string, error) { return watermark.OverlayFilters(im, base, in, out) }
	}
	for i, o := range w.outputs {
		u, err := w.cfg.PublishURL(o.Name)
		if err != nil {
			return outcomeFatal, fmt.Errorf("publish URL %s: %w", o.Name, err)
		}
		o.URL = u
		spec.Outputs[i] = o
	}
	args, err := spec.Args()
	if err != nil {
		return outcomeFatal, err
	}
	return w.runFFmpeg(ctx, runCtx, args, audio, buffered, tags)
}

// plan fixes the ladder on the first run.
func (w *worker) plan(info SourceInfo) error {
	if w.info != nil {
		return nil
	}
	outs, err := transcode.Plan(w.ch, info.Height, info.VideoBitrate)
	if err != nil {
		return err
	}
	w.info, w.outputs = &info, outs
	w.gop = transcode.DefaultGOP
	if k := info.KeyframeInterval; k >= 500*time.Millisecond && k <= 10*time.Second {
		w.gop = k
	}
	rends := make([]Rendition, len(outs))
	for i, o := range outs {
		rends[i] = Rendition{Name: o.Name, Key: w.ch.ID + "/" + o.Name, Height: o.Height, Bitrate: o.Bitrate}
	}
	w.cfg.Stats.update(w.ch.ID, func(s *Stats) {
		s.Source, s.Renditions, s.GOPSeconds = info, rends, w.gop.Seconds()
	})
	w.log.Info("ladder planned", "source", fmt.Sprintf("%dx%d@%.2f", info.Width, info.Height, info.FPS),
		"gop", w.gop, "renditions", len(outs), "codec", w.codec())
	return nil
}

func (w *worker) runFFmpeg(ctx, runCtx context.Context, args []string, audio bool, buffered []flv.Tag, tags <-chan tagOrErr) (outcome, error) {
	cmd := exec.Command(w.cfg.FFmpeg, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return outcomeFatal, fmt.Errorf("ffmpeg stdin: %w", err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = newStderrLogger(w.log)
	if err := cmd.Start(); err != nil {
		return outcomeFatal, fmt.Errorf("start ffmpeg: %w", err)
	}
	pid := cmd.Process.Pid
	w.log.Info("ffmpeg started", "pid", pid)
	w.cfg.Stats.update(w.ch.ID, func(s *Stats) { s.State, s.PID, s.RunningAt = StateRunning, pid, time.Now() })
	progDone := make(chan struct{})
	go func() {
		defer close(progDone)
		_ = transcode.ReadProgress(pr, func(p transcode.Progress) {
			w.cfg.Stats.update(w.ch.ID, func(s *Stats) { s.Progress = p })
		})
		_, _ = io.Copy(io.Discard, pr)
	}()
	waitc := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		waitc <- err
	}()
	pumpc := make(chan error, 1)
	go func() { pumpc <- pump(stdin, audio, buffered, tags) }()

	stop := func() error {
		_ = syscall.Kill(-pid, syscall.SIGINT)
		select {
		case err := <-waitc:
			return err
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			return <-waitc
		}
	}
	defer func() { <-progDone }()
	select {
	case <-ctx.Done():
		stdin.Close()
		_ = stop()
		return outcomeStopped, nil
	case err := <-pumpc:
		stdin.Close()
		if errors.Is(err, io.EOF) {
			// The stream ended: ffmpeg drains its input and exits.
			select {
			case werr := <-waitc:
				if werr != nil {
					w.log.Warn("ffmpeg exited with an error at stream end", "error", werr)
				}
			case <-time.After(15 * time.Second):
				_ = stop()
			case <-ctx.Done():
				_ = stop()
			}
			return outcomeSourceEOF, nil
		}
		if ctx.Err() != nil {
			_ = stop()
			return outcomeStopped, nil
		}
		// ffmpeg stopped reading (it died) or the source failed.
		select {
		case werr := <-waitc:
			return outcomeCrashed, fmt.Errorf("ffmpeg exited: %v (input: %v)", exitReason(werr), err)
		case <-time.After(2 * time.Second):
			werr := stop()
			return outcomeCrashed, fmt.Errorf("source failed: %w (ffmpeg: %v)", err, exitReason(werr))
		}
	case werr := <-waitc:
		stdin.Close()
		return outcomeCrashed, fmt.Errorf("ffmpeg exited while the stream is live: %v", exitReason(werr))
	}
}

func exitReason(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// pump writes the FLV header, the probed tags, then every following tag to
// ffmpeg's stdin. It returns io.EOF when the source ended, or the error that
// stopped it.
func pump(stdin io.Writer, audio bool, buffered []flv.Tag, tags <-chan tagOrErr) error {
	buf := append([]byte(nil), flv.Header(audio, true)...)
	var err error
	for _, t := range buffered {
		if buf, err = flv.AppendTag(buf, t.Type, t.Timestamp, t.Data); err != nil {
			return err
		}
	}
	if _, err := stdin.Write(buf); err != nil {
		return fmt.Errorf("write to ffmpeg: %w", err)
	}
	for te := range tags {
		if te.err != nil {
			return te.err
		}
		buf, err = flv.AppendTag(buf[:0], te.tag.Type, te.tag.Timestamp, te.tag.Data)
		if err != nil {
			return err
		}
		if _, err := stdin.Write(buf); err != nil {
			return fmt.Errorf("write to ffmpeg: %w", err)
		}
	}
	return context.Canceled
}

// stderrLogger logs ffmpeg's stderr line by line with the channel id, at
// most burst lines per window; the rest are counted and reported.
type stderrLogger struct {
	log        *slog.Logger
	partial    bytes.Buffer
	window     time.Time
	lines      int
	suppressed int
}

const (
	stderrBurst  = 20
	stderrWindow = 10 * time.Second
)

func newStderrLogger(log *slog.Logger) *stderrLogger {
	return &stderrLogger{log: log.With("src", "ffmpeg")}
}

func (l *stderrLogger) Write(b []byte) (int, error) {
	l.partial.Write(b)
	for {
		line, err := l.partial.ReadString('\n')
		if err != nil {
			// keep the incomplete line (bounded) for the next write
			rest := line
			if len(rest) > 4096 {
				rest = rest[:4096]
			}
			l.partial.Reset()
			l.partial.WriteString(rest)
			return len(b), nil
		}
		l.emit(strings.TrimRight(line, "\r\n"))
	}
}

func (l *stderrLogger) emit(line string) {
	if line == "" {
		return
	}
	now := time.Now()
	if now.Sub(l.window) > stderrWindow {
		if l.suppressed > 0 {
			l.log.Warn("ffmpeg log lines suppressed", "count", l.suppressed)
		}
		l.window, l.lines, l.suppressed = now, 0, 0
	}
	if l.lines >= stderrBurst {
		l.suppressed++
		return
	}
	l.lines++
	l.log.Warn(line)
}

// ffmpegHasEnhancedFLV reports whether ffmpeg can mux HEVC into FLV
// (enhanced RTMP, ffmpeg 6.1 and later). ffmpeg 5.1 cannot, so libx265
// channels fall back to libx264 there.
func ffmpegHasEnhancedFLV(bin string) bool {
	out, err := exec.Command(bin, "-hide_banner", "-version").Output()
	if err != nil {
		return false
	}
	f := strings.Fields(string(out))
	if len(f) < 3 {
		return false
	}
	major, minor, _ := strings.Cut(f[2], ".")
	mj, err := strconv.Atoi(major)
	if err != nil {
		return false
	}
	mn, _ := strconv.Atoi(strings.SplitN(minor, ".", 2)[0])
	return mj > 6 || (mj == 6 && mn >= 1)
}
