// Package snapshot takes JPG pictures of live streams (a channel's `snapshots`
// setting, the earlier solution's isImage/image_time): one every interval,
// stored in the blob store under snapshots/{channelId}/{broadcastId}/{unix}.jpg,
// each indexed in the store as a recording of kind snapshot, the latest kept in
// memory and served at /{channelId}/snapshot.jpg.
//
// It is cheap: only keyframes are decoded. The reader keeps the latest keyframe
// and the video sequence header; at each tick that keyframe alone goes to a
// decoder (Persistent: one long-lived ffmpeg per stream fed nothing but those
// keyframes). The same code runs in-process on the hub (HubSource, the
// standalone) and in a worker that pulls HTTP-FLV from a gateway (FLVSource).
package snapshot

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/store"
)

// Picture is one stored snapshot.
type Picture struct {
	ChannelID, BroadcastID string
	// Key is the blob key, RecordingID the store's index entry (empty when
	// indexing failed or no index is configured).
	Key, RecordingID string
	Taken            time.Time
	// StreamTime is the keyframe's stream timestamp in milliseconds.
	StreamTime    uint32
	Width, Height int
	JPEG          []byte
}

// Counters are a snapshotter's totals, shared by every stream of a Manager.
type Counters struct {
	Taken         atomic.Int64
	DecodeFailed  atomic.Int64
	StoreFailed   atomic.Int64
	IndexFailed   atomic.Int64
	StaleSkipped  atomic.Int64
	Restarts      atomic.Int64 // decoder process restarts
	SourceRestart atomic.Int64 // hub subscriptions renewed after falling behind
}

// Config of one stream's snapshotter.
type Config struct {
	ChannelID   string
	BroadcastID string
	// Interval between pictures. Default 10 s.
	Interval time.Duration
	Blob     blob.Store
	// Index may be nil (pictures are then stored but not indexed).
	Index   store.Recordings
	Decoder Decoder
	// OnPicture, if set, is called with every stored picture.
	OnPicture func(Picture)
	// Counters, if set, are updated.
	Counters *Counters
	Logger   *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// BroadcastID formats a stream's start time as the broadcast id used in blob
// keys (the recorder's convention: "2026-11-25T10-00-00Z").
func BroadcastID(started time.Time) string {
	return started.UTC().Format("2006-01-02T15-04-05Z")
}

// KeyPrefix starts every snapshot's blob key: the AWS bucket's lifecycle rule
// and the workers' IAM policy are written for it (terraform/modules/storage,
// terraform/modules/processing).
const KeyPrefix = "snapshots/"

// SnapshotKey is the blob key of the picture taken at unix seconds:
// snapshots/{channelId}/{broadcastId}/{unix}.jpg.
func SnapshotKey(channelID, broadcastID string, unix int64) string {
	return KeyPrefix + channelID + "/" + broadcastID + "/" + strconv.FormatInt(unix, 10) + ".jpg"
}

// latest is the keyframe state shared by the reader and the ticker.
type latest struct {
	mu     sync.Mutex
	header []byte
	frame  []byte
	time   uint32
	seq    uint64 // counts keyframes
	first  chan struct{}
	once   sync.Once
}

// Run takes pictures of src every cfg.Interval until the stream ends (nil) or
// ctx ends (ctx.Err()). The first picture is taken at the first keyframe.
// src.Next should return when ctx ends (HubSource does; an FLVSource does when
// opened with OpenHTTPFLV on ctx); otherwise close src after Run returns.
// A tick with no keyframe since the previous picture is skipped (the stream's
// keyframe interval is longer than Interval). Run closes neither src nor the
// decoder.
func Run(ctx context.Context, cfg Config, src Source) error {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Counters == nil {
		cfg.Counters = &Counters{}
	}
	if cfg.Blob == nil || cfg.Decoder == nil {
		return errors.New("snapshot: a blob store and a decoder are required")
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &latest{first: make(chan struct{})}
	readErr := make(chan error, 1)
	go func() {
		readErr <- readKeyframes(ctx, src, st)
		cancel()
	}()
	r := &runner{cfg: cfg, parent: parent}
	select {
	case <-st.first:
	case <-ctx.Done():
		return r.end(ctx, readErr)
	}
	next := cfg.Now()
	var lastSeq uint64
	for {
		st.mu.Lock()
		k := Keyframe{Header: st.header, Frame: st.frame, Time: st.time}
		seq := st.seq
		st.mu.Unlock()
		if seq == lastSeq {
			cfg.Counters.StaleSkipped.Add(1)
		} else {
			lastSeq = seq
			r.take(ctx, k, cfg.Now())
		}
		next = next.Add(cfg.Interval)
		if now := cfg.Now(); next.Before(now) { // decoding took longer than the interval
			next = now.Add(cfg.Interval)
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return r.end(ctx, readErr)
		}
	}
}

type runner struct {
	cfg      Config
	parent   context.Context
	lastUnix int64
	// lastWarn and suppressed limit failure logs to one a minute per stream
	// (a stream ffmpeg cannot decode fails at every tick; the counters
	// have every failure).
	lastWarn   time.Time
	suppressed int
}

func (r *runner) warn(log *slog.Logger, msg string, args ...any) {
	now := r.cfg.Now()
	if !r.lastWarn.IsZero() && now.Sub(r.lastWarn) < time.Minute {
		r.suppressed++
		return
	}
	if r.suppressed > 0 {
		args = append(args, "suppressed", r.suppressed)
	}
	r.lastWarn, r.suppressed = now, 0
	log.Warn(msg, args...)
}

// end returns when the reader has stopped, or at once when the caller's ctx
// ended (a Source that ignores ctx stays blocked until the caller closes it).
func (r *runner) end(ctx context.Context, readErr chan error) error {
	var err error
	select {
	case err = <-readErr:
	case <-r.parent.Done():
		return r.parent.Err()
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("snapshot %s: %w", r.cfg.ChannelID, err)
	}
	return ctx.Err()
}

// readKeyframes keeps the latest video sequence header and keyframe.
func readKeyframes(ctx context.Context, src Source, st *latest) error {
	var header []byte
	for {
		p, err := src.Next(ctx)
		if err != nil {
			return err
		}
		if p.Type != flv.TagVideo {
			continue
		}
		if p.Header {
			header = p.Data
			continue
		}
		if !p.Keyframe || header == nil {
			continue
		}
		st.mu.Lock()
		st.header, st.frame, st.time = header, p.Data, p.Time
		st.seq++
		st.mu.Unlock()
		st.once.Do(func() { close(st.first) })
	}
}

// take decodes k and stores it as the picture of the tick at taken.
func (r *runner) take(ctx context.Context, k Keyframe, taken time.Time) {
	cfg := r.cfg
	log := cfg.Logger.With("channel", cfg.ChannelID)
	before := cfg.Decoder.Restarts()
	pic, err := cfg.Decoder.Decode(ctx, k)
	cfg.Counters.Restarts.Add(cfg.Decoder.Restarts() - before)
	if err != nil {
		if ctx.Err() == nil {
			cfg.Counters.DecodeFailed.Add(1)
			r.warn(log, "snapshot decode failed", "error", err)
		}
		return
	}
	ic, err := jpeg.DecodeConfig(bytes.NewReader(pic))
	if err != nil {
		cfg.Counters.DecodeFailed.Add(1)
		r.warn(log, "snapshot decoder wrote a bad JPEG", "error", err)
		return
	}
	taken = taken.UTC()
	unix := taken.Unix()
	if unix <= r.lastUnix { // two ticks in one second (timer jitter): keep keys unique
		unix = r.lastUnix + 1
		taken = time.Unix(unix, 0).UTC()
	}
	r.lastUnix = unix
	key := SnapshotKey(cfg.ChannelID, cfg.BroadcastID, unix)
	if err := cfg.Blob.Put(ctx, key, bytes.NewReader(pic), int64(len(pic)), "image/jpeg"); err != nil {
		cfg.Counters.StoreFailed.Add(1)
		r.warn(log, "snapshot store failed", "key", key, "error", err)
		return
	}
	p := Picture{ChannelID: cfg.ChannelID, BroadcastID: cfg.BroadcastID, Key: key, Taken: taken,
		StreamTime: k.Time, Width: ic.Width, Height: ic.Height, JPEG: pic}
	if cfg.Index != nil {
		rec := &store.Recording{
			ID: NewRecordingID("snap", taken), ChannelID: cfg.ChannelID, Kind: store.KindSnapshot,
			Status: store.StatusComplete, BroadcastID: cfg.BroadcastID, StartedAt: taken, EndedAt: &taken,
			Bytes: int64(len(pic)), Prefix: key, Keys: []string{key}, UpdatedAt: taken,
		}
		if err := cfg.Index.PutRecording(ctx, rec); err != nil {
			cfg.Counters.IndexFailed.Add(1)
			r.warn(log, "snapshot index failed", "key", key, "error", err)
		} else {
			p.RecordingID = rec.ID
		}
	}
	cfg.Counters.Taken.Add(1)
	if cfg.OnPicture != nil {
		cfg.OnPicture(p)
	}
}

// NewRecordingID returns a time-sortable, unique recording id such as
// "snap-20261206T031724123-9f2c4a1b".
func NewRecordingID(prefix string, t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + t.UTC().Format("20060102T150405.000")[:15] + t.UTC().Format(".000")[1:] + "-" + hex.EncodeToString(b[:])
}
