package motion

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/snapshot"
	"github.com/livestack/livestack/shared/store"
)

// Counters are motion totals, shared by every stream of a Manager.
type Counters struct {
	// Events counts motion that started a clip.
	Events atomic.Int64
	// Frames counts grayscale frames compared.
	Frames atomic.Int64
	// Clips counts clips stored and indexed; ClipsFailed those lost to an error.
	Clips       atomic.Int64
	ClipsFailed atomic.Int64
	// Restarts counts detection ffmpeg processes replaced after dying or stalling.
	Restarts atomic.Int64
	// FeedDrops counts video packets the detector skipped because its ffmpeg
	// could not keep up (it resumes at the next keyframe).
	FeedDrops atomic.Int64
}

// Clip describes a stored motion clip.
type Clip struct {
	RecordingID string
	// Key is the MP4's blob key, PictureKey the JPG's (empty if no picture).
	Key, PictureKey string
	Start, End      time.Time
	// StreamStart/StreamEnd bound the clip on the stream's timeline (ms);
	// MotionStart/MotionEnd bound the motion seen.
	StreamStart, StreamEnd, MotionStart, MotionEnd uint32
	Bytes                                          int64
}

// Config of one stream's motion capture. Zero values take the defaults.
type Config struct {
	ChannelID, BroadcastID string
	// Settings are the channel's: Diff, Percent, TimeoutSeconds and
	// DurationMillis (the shortest clip).
	Settings channel.Motion
	// PreRoll is how much is kept from before the motion. Default 3 s.
	PreRoll time.Duration
	// MaxClip bounds one clip; continuing motion starts another. Default 10 min.
	MaxClip time.Duration
	// FPS, Width and Height of the detection pictures. Defaults 5, 160, 120.
	FPS, Width, Height int
	// FFmpeg binary. Default "ffmpeg".
	FFmpeg string
	// SpoolDir holds clips being recorded. Default os.TempDir().
	SpoolDir string
	Blob     blob.Store
	// Index may be nil.
	Index store.Recordings
	// Picture makes the clip's JPG. Default a snapshot.OneShot.
	Picture snapshot.Decoder
	// MinBackoff and MaxBackoff pace detector restarts. Defaults 1 s and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// StallTimeout kills a detector that accepts no input this long. Default 10 s.
	StallTimeout time.Duration
	// MaxDetectorLag is how far (in stream time) the detector may fall behind
	// the packets: the pre-roll memory holds PreRoll+MaxDetectorLag, and a clip
	// whose end the detector has not reached this long after it ends anyway.
	// Default 10 s.
	MaxDetectorLag time.Duration
	Counters       *Counters
	// OnClip, if set, is called with every stored clip.
	OnClip func(Clip)
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.PreRoll <= 0 {
		c.PreRoll = 3 * time.Second
	}
	if c.MaxClip <= 0 {
		c.MaxClip = 10 * time.Minute
	}
	if c.FPS <= 0 {
		c.FPS = 5
	}
	if c.Width <= 0 || c.Height <= 0 {
		c.Width, c.Height = 160, 120
	}
	if c.FFmpeg == "" {
		c.FFmpeg = "ffmpeg"
	}
	if c.SpoolDir == "" {
		c.SpoolDir = os.TempDir()
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = 30 * time.Second
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = 10 * time.Second
	}
	if c.MaxDetectorLag <= 0 {
		c.MaxDetectorLag = 10 * time.Second
	}
	if c.Counters == nil {
		c.Counters = &Counters{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Picture == nil {
		c.Picture = snapshot.NewOneShot(snapshot.DecoderConfig{FFmpeg: c.FFmpeg, Logger: c.Logger})
	}
	s := &c.Settings
	if s.Diff <= 0 {
		s.Diff = 10
	}
	if s.Percent <= 0 {
		s.Percent = 30
	}
	if s.TimeoutSeconds <= 0 {
		s.TimeoutSeconds = 60
	}
}

// KeyPrefix starts every motion clip's blob key: the AWS bucket's lifecycle
// rule and the workers' IAM policy are written for it (terraform/modules/storage,
// terraform/modules/processing).
const KeyPrefix = "motion/"

// ClipKey is the blob key prefix of a clip started at unix seconds,
// motion/{channelId}/{broadcastId}/{unix}; the clip is ClipKey+".mp4" and its
// picture ClipKey+".jpg".
func ClipKey(channelID, broadcastID string, unix int64) string {
	return KeyPrefix + channelID + "/" + broadcastID + "/" + strconv.FormatInt(unix, 10)
}

// Run watches src for motion and records clips until the stream ends (nil)
// or ctx ends. A clip being recorded when the stream ends is finished and
// stored before Run returns.
func Run(ctx context.Context, cfg Config, src snapshot.Source) error {
	cfg.setDefaults()
	if cfg.Blob == nil {
		return errors.New("motion: a blob store is required")
	}
	if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
		return fmt.Errorf("motion spool: %w", err)
	}
	r := &recorder{cfg: cfg, log: cfg.Logger.With("channel", cfg.ChannelID, "broadcast", cfg.BroadcastID)}
	feed := make(chan snapshot.Packet, 256)
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	detDone := make(chan struct{})
	go func() {
		defer close(detDone)
		r.detect(dctx, feed)
	}()
	var err error
	for {
		var p snapshot.Packet
		if p, err = src.Next(ctx); err != nil {
			break
		}
		r.add(p)
		if p.Type == flv.TagVideo {
			select {
			case feed <- p:
			default:
				cfg.Counters.FeedDrops.Add(1)
				r.gap.Store(true)
			}
		}
	}
	close(feed)
	<-detDone
	r.mu.Lock()
	r.finishLocked("stream ended")
	r.mu.Unlock()
	r.finals.Wait()
	if errors.Is(err, io.EOF) {
		return nil
	}
	return fmt.Errorf("motion %s: %w", cfg.ChannelID, err)
}

// detect feeds video to a grayscale ffmpeg, restarting it with backoff, and
// reports motion to the recorder.
func (r *recorder) detect(ctx context.Context, feed <-chan snapshot.Packet) {
	cfg := r.cfg
	var (
		proc      *grayProc
		pw        *os.File
		hdr       *snapshot.Packet
		needKey   bool
		backoff   = cfg.MinBackoff
		retryAt   time.Time
		startedAt time.Time
	)
	stop := func(reason string, err error) {
		_ = pw.Close()
		if reason == "" {
			// the stream ended: let ffmpeg finish the frames it has, so motion
			// at the very end is still seen
			select {
			case <-proc.done:
			case <-time.After(cfg.StallTimeout):
			}
		}
		proc.stop()
		if err == nil {
			err = proc.err
		}
		if reason != "" {
			cfg.Counters.Restarts.Add(1)
			if time.Since(startedAt) > 2*cfg.MaxBackoff {
				backoff = cfg.MinBackoff // it had been running well
			}
			retryAt = time.Now().Add(backoff)
			r.log.Warn("motion detector "+reason+"; restarting", "error", err, "backoff", backoff)
			backoff = min(2*backoff, cfg.MaxBackoff)
		}
		proc, pw = nil, nil
	}
	defer func() {
		if proc != nil {
			stop("", nil)
		}
	}()
	for p := range feed {
		if p.Header {
			hp := p
			hdr = &hp
			if proc != nil {
				if err := r.write(pw, p); err != nil {
					stop("failed", err)
				}
			}
			continue
		}
		if r.gap.Swap(false) {
			needKey = true
		}
		if proc != nil {
			select {
			case <-proc.done:
				stop("exited", nil)
			default:
			}
		}
		if proc == nil {
			if !p.Keyframe || hdr == nil || time.Now().Before(retryAt) || ctx.Err() != nil {
				continue
			}
			var err error
			proc, pw, err = r.start(p.Time, *hdr)
			if err != nil {
				r.log.Warn("motion detector did not start", "error", err)
				cfg.Counters.Restarts.Add(1)
				retryAt = time.Now().Add(backoff)
				backoff = min(2*backoff, cfg.MaxBackoff)
				continue
			}
			startedAt, needKey = time.Now(), false
		}
		if needKey {
			if !p.Keyframe {
				continue
			}
			needKey = false
		}
		if err := r.write(pw, p); err != nil {
			stop("stalled or failed", err)
		}
	}
}

// start runs a grayscale ffmpeg whose frame n shows stream time t0+n/FPS.
func (r *recorder) start(t0 uint32, hdr snapshot.Packet) (*grayProc, *os.File, error) {
	cfg := r.cfg
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	det := &Detector{Diff: cfg.Settings.Diff, Percent: float64(cfg.Settings.Percent)}
	step := 1000 / float64(cfg.FPS)
	proc, err := startGray(cfg.FFmpeg, cfg.FPS, cfg.Width, cfg.Height, pr, func(n int, frame []byte) {
		cfg.Counters.Frames.Add(1)
		at := t0 + uint32(float64(n)*step)
		if _, moving := det.Feed(frame); moving {
			r.motion(at)
		}
		r.progress(at)
	})
	_ = pr.Close() // the child has its own copy
	if err != nil {
		_ = pw.Close()
		return nil, nil, err
	}
	b := flv.Header(false, true)
	if b, err = flvTag(b, hdr, t0); err == nil {
		err = r.writeBytes(pw, b)
	}
	if err != nil {
		_ = pw.Close()
		proc.stop()
		return nil, nil, err
	}
	return proc, pw, nil
}

func (r *recorder) write(pw *os.File, p snapshot.Packet) error {
	b, err := flvTag(r.tagBuf[:0], p, p.Time)
	if err != nil {
		return err
	}
	r.tagBuf = b
	return r.writeBytes(pw, b)
}

// writeBytes writes to the detector's stdin with a deadline, so a stalled
// ffmpeg is noticed and replaced instead of blocking the detector forever.
func (r *recorder) writeBytes(pw *os.File, b []byte) error {
	if err := pw.SetWriteDeadline(time.Now().Add(r.cfg.StallTimeout)); err != nil {
		return err
	}
	_, err := pw.Write(b)
	return err
}

// recorder keeps the pre-roll and writes clips.
type recorder struct {
	cfg    Config
	log    *slog.Logger
	gap    atomic.Bool
	tagBuf []byte // detector goroutine's
	finals sync.WaitGroup

	mu               sync.Mutex
	ring             []snapshot.Packet
	meta, vhdr, ahdr *snapshot.Packet
	lastTime         uint32
	// detTime is the stream time of the last frame the detector compared.
	detTime uint32
	clip    *clipState
	clipBuf []byte
}

type clipState struct {
	path                                string
	f                                   *os.File
	w                                   *bufio.Writer
	base, motionStart, lastMotion, last uint32
	startWall                           time.Time
	pic                                 *snapshot.Keyframe
	// pending are packets past the clip's end the detector has not yet judged.
	pending []snapshot.Packet
	err     error
}

// add takes every packet of the stream, in order.
func (r *recorder) add(p snapshot.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.Header {
		hp := p
		switch p.Type {
		case flv.TagScript:
			r.meta = &hp
		case flv.TagVideo:
			r.vhdr = &hp
		case flv.TagAudio:
			r.ahdr = &hp
		}
		if c := r.clip; c != nil && p.Type != flv.TagScript {
			r.writeClip(c, p)
		}
		return
	}
	if p.Time > r.lastTime {
		r.lastTime = p.Time
	}
	r.ring = append(r.ring, p)
	r.trim()
	c := r.clip
	if c == nil {
		return
	}
	if end := r.clipEnd(c); p.Time > end {
		// Past the end unless the detector, which lags behind the packets,
		// still finds motion before it: hold the packet until it decides.
		switch {
		case r.detTime > end:
			r.finishLocked("motion timeout")
		case p.Time-end > uint32(r.cfg.MaxDetectorLag.Milliseconds()):
			r.finishLocked("motion timeout (detector behind)")
		default:
			c.pending = append(c.pending, p)
		}
		return
	}
	r.writeClipMedia(c, p)
	if time.Duration(p.Time-c.base)*time.Millisecond >= r.cfg.MaxClip {
		r.finishLocked("longest clip")
	}
}

// clipEnd is the stream time the clip ends at unless more motion comes.
func (r *recorder) clipEnd(c *clipState) uint32 {
	return max(c.lastMotion+uint32(r.cfg.Settings.TimeoutSeconds)*1000, c.motionStart+uint32(max(r.cfg.Settings.DurationMillis, 0)))
}

// writeClipMedia writes a media packet and notes the clip's picture.
func (r *recorder) writeClipMedia(c *clipState, p snapshot.Packet) {
	r.writeClip(c, p)
	if p.Type == flv.TagVideo && p.Keyframe && c.pic == nil && p.Time >= c.motionStart && r.vhdr != nil {
		c.pic = &snapshot.Keyframe{Header: r.vhdr.Data, Frame: p.Data, Time: p.Time}
	}
}

// progress is called by the detector for every frame it compared, at stream
// time t: once it has looked past the clip's end without motion, the clip ends.
func (r *recorder) progress(t uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t > r.detTime {
		r.detTime = t
	}
	if c := r.clip; c != nil && t > r.clipEnd(c) {
		r.finishLocked("motion timeout")
	}
}

// trim keeps the ring from the latest keyframe at least PreRoll plus
// MaxDetectorLag behind the live edge.
func (r *recorder) trim() {
	keep := uint32((r.cfg.PreRoll + r.cfg.MaxDetectorLag).Milliseconds())
	if r.lastTime < keep {
		return
	}
	cut := r.lastTime - keep
	k := -1
	for i, p := range r.ring {
		if p.Time > cut {
			break
		}
		if p.Type == flv.TagVideo && p.Keyframe {
			k = i
		}
	}
	if k > 0 {
		clear(r.ring[:k])
		r.ring = r.ring[k:]
	}
}

// motion is called by the detector for every frame with motion, at stream time t.
func (r *recorder) motion(t uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.clip; c != nil {
		if t > c.lastMotion {
			c.lastMotion = t
		}
		// packets held past the old end now belong to the clip
		end, n := r.clipEnd(c), 0
		for _, p := range c.pending {
			if p.Time > end {
				break
			}
			r.writeClipMedia(c, p)
			n++
		}
		c.pending = append(c.pending[:0], c.pending[n:]...)
		return
	}
	// start on the latest keyframe at least PreRoll before t
	from := uint32(0)
	if pre := uint32(r.cfg.PreRoll.Milliseconds()); t > pre {
		from = t - pre
	}
	k := -1
	for i, p := range r.ring {
		if p.Type != flv.TagVideo || !p.Keyframe {
			continue
		}
		if k < 0 || p.Time <= from {
			k = i
		}
		if p.Time > from {
			break
		}
	}
	if k < 0 || r.vhdr == nil {
		return // no keyframe to start on yet
	}
	base := r.ring[k].Time
	f, err := os.CreateTemp(r.cfg.SpoolDir, "motion-*.flv")
	if err != nil {
		r.cfg.Counters.ClipsFailed.Add(1)
		r.log.Warn("motion clip spool", "error", err)
		return
	}
	r.cfg.Counters.Events.Add(1)
	c := &clipState{path: f.Name(), f: f, w: bufio.NewWriterSize(f, 256<<10), base: base, motionStart: t, lastMotion: t, last: base,
		startWall: time.Now().Add(-time.Duration(r.lastTime-base) * time.Millisecond)}
	r.clip = c
	r.log.Info("motion started", "stream_time_ms", t, "clip_from_ms", base)
	_, c.err = c.w.Write(flv.Header(r.ahdr != nil, true))
	if r.meta != nil {
		r.writeClip(c, *r.meta)
	}
	for _, h := range []*snapshot.Packet{r.vhdr, r.ahdr} {
		if h != nil {
			hp := *h
			hp.Time = base
			r.writeClip(c, hp)
		}
	}
	for _, p := range r.ring[k:] {
		r.writeClipMedia(c, p)
	}
}

// writeClip appends p, rebased to the clip's start, to the spool.
func (r *recorder) writeClip(c *clipState, p snapshot.Packet) {
	if c.err != nil {
		return
	}
	ts := uint32(0)
	if p.Type != flv.TagScript && p.Time > c.base {
		ts = p.Time - c.base
	}
	if p.Time > c.last {
		c.last = p.Time
	}
	r.clipBuf, c.err = flv.AppendTag(r.clipBuf[:0], p.Type, ts, p.Data)
	if c.err == nil {
		_, c.err = c.w.Write(r.clipBuf)
	}
}

// finishLocked ends the current clip and stores it in the background.
func (r *recorder) finishLocked(reason string) {
	c := r.clip
	if c == nil {
		return
	}
	r.clip = nil
	if c.err == nil {
		c.err = c.w.Flush()
	}
	if err := c.f.Close(); c.err == nil {
		c.err = err
	}
	if c.pic == nil && r.vhdr != nil { // no keyframe after the motion began: the clip's first
		for _, p := range r.ring {
			if p.Type == flv.TagVideo && p.Keyframe && p.Time >= c.base {
				c.pic = &snapshot.Keyframe{Header: r.vhdr.Data, Frame: p.Data, Time: p.Time}
				break
			}
		}
	}
	r.log.Info("motion clip ended", "reason", reason, "duration_ms", c.last-c.base)
	r.finals.Add(1)
	go func() {
		defer r.finals.Done()
		clip, err := r.store(c)
		if err != nil {
			r.cfg.Counters.ClipsFailed.Add(1)
			r.log.Warn("motion clip lost", "error", err)
			return
		}
		r.cfg.Counters.Clips.Add(1)
		if r.cfg.OnClip != nil {
			r.cfg.OnClip(clip)
		}
	}()
}

// store remuxes the spool into an MP4 (ffmpeg -c copy), stores it and its
// picture, and indexes them. Stream end does not cancel it.
func (r *recorder) store(c *clipState) (Clip, error) {
	cfg := r.cfg
	defer os.Remove(c.path)
	if c.err != nil {
		return Clip{}, fmt.Errorf("spool %s: %w", c.path, c.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mp4 := c.path + ".mp4"
	defer os.Remove(mp4)
	out, err := exec.CommandContext(ctx, cfg.FFmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "flv", "-i", c.path, "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-movflags", "+faststart",
		"-f", "mp4", "-y", mp4).CombinedOutput()
	if err != nil {
		return Clip{}, fmt.Errorf("remux clip: %w: %s", err, out)
	}
	end := c.startWall.Add(time.Duration(c.last-c.base) * time.Millisecond)
	key := ClipKey(cfg.ChannelID, cfg.BroadcastID, c.startWall.Unix())
	clip := Clip{Key: key + ".mp4", Start: c.startWall.UTC(), End: end.UTC(), StreamStart: c.base, StreamEnd: c.last,
		MotionStart: c.motionStart, MotionEnd: c.lastMotion}
	f, err := os.Open(mp4)
	if err != nil {
		return Clip{}, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = cfg.Blob.Put(ctx, clip.Key, f, fi.Size(), "video/mp4")
	}
	f.Close()
	if err != nil {
		return Clip{}, fmt.Errorf("store clip %s: %w", clip.Key, err)
	}
	clip.Bytes = fi.Size()
	keys := []string{clip.Key}
	if c.pic != nil {
		pic, err := cfg.Picture.Decode(ctx, *c.pic)
		if err == nil {
			clip.PictureKey = key + ".jpg"
			if err = cfg.Blob.Put(ctx, clip.PictureKey, bytes.NewReader(pic), int64(len(pic)), "image/jpeg"); err == nil {
				keys = append(keys, clip.PictureKey)
				clip.Bytes += int64(len(pic))
			} else {
				clip.PictureKey = ""
			}
		}
		if err != nil {
			r.log.Warn("motion clip picture failed", "error", err)
		}
	}
	if cfg.Index != nil {
		rec := &store.Recording{
			ID: snapshot.NewRecordingID("motion", clip.Start), ChannelID: cfg.ChannelID, Kind: store.KindMotion,
			Status: store.StatusComplete, BroadcastID: cfg.BroadcastID, StartedAt: clip.Start, EndedAt: &clip.End,
			DurationMillis: int64(c.last - c.base), Bytes: clip.Bytes, Prefix: key, Keys: keys, UpdatedAt: time.Now().UTC(),
		}
		if err := cfg.Index.PutRecording(ctx, rec); err != nil {
			return clip, fmt.Errorf("index clip %s: %w", clip.Key, err)
		}
		clip.RecordingID = rec.ID
	}
	r.log.Info("motion clip stored", "key", clip.Key, "bytes", clip.Bytes, "duration_ms", c.last-c.base)
	return clip, nil
}
