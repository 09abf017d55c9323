// Package recording records live streams: MP4 files cut on keyframes every
// channel.Recording.MP4SegmentSeconds (remuxed from hub packets, no decoding)
// and HLS VOD (the live packager's MPEG-TS segments plus a VOD playlist that
// gets EXT-X-ENDLIST when the broadcast ends).
//
// Every file goes through a local spool (fsynced, with a small per-recording
// journal) and is then uploaded through the blob port with retries and
// backoff; an upload failure never drops a finished file. After a crash, New
// scans the spool, finishes what it holds (an MP4 file being written is kept up
// to its last journal fragment, about one second before the crash), uploads it
// and marks the recording incomplete. Each broadcast (all publish sessions
// joined by reconnects inside the hub's reconnect window) gives one recording
// per kind, indexed in the store and reported through Config.OnReady when
// its last file is stored.
//
// The Recorder is an rtmpserver.StreamHooks (it starts with each stream) and
// an hls.SegmentSink (it receives the HLS packager's segments).
package recording

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/hls"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/store"
)

// PlaylistName is the object name of an HLS VOD recording's playlist.
const PlaylistName = "index.m3u8"

// Config configures a Recorder. Zero values take the documented defaults.
type Config struct {
	// SpoolDir holds files until they are uploaded. Required; it should be on
	// the same disk as nothing else that fills up (the data dir).
	SpoolDir string
	// Blob stores the finished files. Required.
	Blob blob.Store
	// Store indexes the recordings. Required.
	Store store.Recordings
	// OnReady is called once per recording when it ended and all its files
	// are stored (status complete, or incomplete after a crash). May be nil.
	OnReady func(ctx context.Context, r store.Recording)
	// MP4Prefix and HLSPrefix start the blob keys of MP4 and HLS VOD
	// recordings: "{prefix}{channelId}/{recordingId}/{file}". Defaults
	// "recordings/" and "vod/" (the prefixes the AWS bucket and IAM expect).
	MP4Prefix, HLSPrefix string
	// Region is stored with each recording (AWS region; empty standalone).
	Region string
	// FragmentDuration is how much media an MP4 journal fragment holds before
	// it is written and fsynced: the most a crash loses of the file being
	// written. Default 1 s.
	FragmentDuration time.Duration
	// MaxLag is how far the MP4 recorder may fall behind the live edge
	// (a CPU or disk stall) before it skips to the latest keyframe and cuts
	// its file at the gap; the hub keeps what it has not read meanwhile
	// (hub.SubscribeOptions.MaxLag). Default 20 s.
	MaxLag time.Duration
	// MaxFileBytes cuts an MP4 file at the next keyframe once it holds this
	// much, whatever its duration (MP4 sample offsets are 32-bit). Default 3 GiB.
	MaxFileBytes int64
	// MinBackoff and MaxBackoff bound the pause between attempts of a failed
	// upload or index write; attempts go on until they succeed or Close.
	// Defaults 1 s and 1 min.
	MinBackoff, MaxBackoff time.Duration
	// ProgressInterval is how often a recording in progress refreshes its
	// store entry and its HLS playlist. Default 10 s.
	ProgressInterval time.Duration
	// HLSEndGrace is how long after the stream ended the HLS VOD recording
	// waits for the packager's StreamEnded before it ends itself. Default 15 s.
	HLSEndGrace time.Duration
	// MaxFiles is the most MP4 files one recording lists; a longer broadcast
	// continues in a new recording of the same broadcast. Default (and most)
	// store.MaxRecordingKeys.
	MaxFiles int
	// UploadConcurrency bounds uploads running at once. Default 4.
	UploadConcurrency int
	// FinishConcurrency bounds MP4 files being finished at once (journal.go:
	// the moofs are read and a moov appended; the payload is not copied).
	// Streams started together cut their files together; finishing several
	// at once lets them share the spool flush each waits for. Default 16.
	FinishConcurrency int
	// Logger receives the recorder's logs. Default slog.Default().
	Logger *slog.Logger
}

// MP4KeyPrefix and HLSKeyPrefix are the default MP4Prefix and HLSPrefix: the
// AWS bucket's lifecycle rules and the gateway's and workers' IAM policies are
// written for them (terraform/modules/storage, ingest, processing).
const (
	MP4KeyPrefix = "recordings/"
	HLSKeyPrefix = "vod/"
)

func (c *Config) setDefaults() error {
	switch {
	case c.SpoolDir == "":
		return errors.New("recording: SpoolDir is required")
	case c.Blob == nil:
		return errors.New("recording: Blob is required")
	case c.Store == nil:
		return errors.New("recording: Store is required")
	}
	if c.MP4Prefix == "" {
		c.MP4Prefix = MP4KeyPrefix
	}
	if c.HLSPrefix == "" {
		c.HLSPrefix = HLSKeyPrefix
	}
	for _, p := range []string{c.MP4Prefix, c.HLSPrefix} {
		if err := blob.ValidatePrefix(p); err != nil || !strings.HasSuffix(p, "/") {
			return fmt.Errorf("recording: key prefix %q must be a valid blob prefix ending in /", p)
		}
	}
	if c.FragmentDuration <= 0 {
		c.FragmentDuration = time.Second
	}
	if c.MaxLag <= 0 {
		c.MaxLag = 20 * time.Second
	}
	if c.MaxFileBytes <= 0 || c.MaxFileBytes > 3<<30 {
		c.MaxFileBytes = 3 << 30
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(time.Minute, c.MinBackoff)
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = 10 * time.Second
	}
	if c.HLSEndGrace <= 0 {
		c.HLSEndGrace = 15 * time.Second
	}
	if c.UploadConcurrency <= 0 {
		c.UploadConcurrency = 4
	}
	if c.FinishConcurrency <= 0 {
		c.FinishConcurrency = 16
	}
	if c.MaxFiles <= 0 || c.MaxFiles > store.MaxRecordingKeys {
		c.MaxFiles = store.MaxRecordingKeys
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Counters are the recorder's figures since start, for /metrics.
type Counters struct {
	UploadsOK      atomic.Int64
	UploadsFailed  atomic.Int64 // failed attempts (each is retried)
	UploadRetries  atomic.Int64 // attempts after the first
	IndexFailures  atomic.Int64 // failed store writes (retried)
	FilesRecovered atomic.Int64 // files finished from the spool after a restart
	SkippedPackets atomic.Int64 // packets of codecs MP4 recording does not carry
}

// Recorder records streams. Create it with New and stop it with Close.
type Recorder struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	// finishSem bounds files being finished (Config.FinishConcurrency).
	finishSem chan struct{}

	mu     sync.Mutex
	live   map[string]*broadcast // by stream key
	recs   map[string]*rec       // not yet finished, by recording id
	closed bool

	readers   sync.WaitGroup // MP4 readers and HLS writers
	uploaders sync.WaitGroup
	// gs makes spool writes durable, one flush for many streams. The spool
	// directory handle it holds stays open for the Recorder's life.
	gs *groupSync

	Counters Counters
}

var (
	_ interface {
		StreamStarted(context.Context, *channel.Channel, *hub.Stream)
	} = (*Recorder)(nil)
	_ hls.SegmentSink = (*Recorder)(nil)
)

// New creates the spool directory, picks up what a previous run left in it
// (finishing, uploading and indexing those recordings in the background) and
// returns a Recorder ready for streams.
func New(cfg Config) (*Recorder, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.SpoolDir, 0o755); err != nil {
		return nil, fmt.Errorf("recording: spool dir: %w", err)
	}
	gs, err := newGroupSync(cfg.SpoolDir)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Recorder{gs: gs,
		cfg: cfg, log: cfg.Logger.With("component", "recorder"), ctx: ctx, cancel: cancel,
		sem: make(chan struct{}, cfg.UploadConcurrency), finishSem: make(chan struct{}, cfg.FinishConcurrency),
		live: map[string]*broadcast{}, recs: map[string]*rec{},
	}
	if err := r.recover(); err != nil {
		cancel()
		_ = gs.close()
		return nil, err
	}
	return r, nil
}

// hlsFlushWait is how long Close waits for the HLS packager to hand over the
// last segments of streams that ended with the hub before it ends their HLS
// VOD recordings itself.
const hlsFlushWait = 2 * time.Second

// Close stops recording. Call it after the hub was closed, so that every
// stream has ended and its last files are closed; a stream still live is cut
// where it is. Uploads continue until ctx ends; what is not uploaded by then
// stays in the spool and is finished by the next start.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	readersDone := make(chan struct{})
	go func() { r.readers.Wait(); close(readersDone) }()
	flush := time.NewTimer(hlsFlushWait)
	select {
	case <-readersDone:
	case <-flush.C:
	case <-ctx.Done():
	}
	flush.Stop()
	r.mu.Lock()
	for _, b := range r.live {
		b.stopHLS()
	}
	r.mu.Unlock()
	select {
	case <-readersDone:
	case <-ctx.Done():
		r.cancel() // MP4 readers close their files as they are
		<-readersDone
	}
	uploadersDone := make(chan struct{})
	go func() { r.uploaders.Wait(); close(uploadersDone) }()
	var err error
	select {
	case <-uploadersDone:
	case <-ctx.Done():
		err = fmt.Errorf("recording: close: %w (files left in the spool are uploaded at the next start)", ctx.Err())
	}
	r.cancel()
	<-uploadersDone
	if cerr := r.gs.close(); err == nil && cerr != nil {
		err = fmt.Errorf("recording: close spool handle: %w", cerr)
	}
	return err
}

// Active is the number of recordings not yet finished (recording, or
// uploading what is left).
func (r *Recorder) Active() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.recs)
}

// SpoolPending returns the files waiting in the spool for conversion or
// upload, and their bytes.
func (r *Recorder) SpoolPending() (files int, bytes int64) {
	r.mu.Lock()
	recs := make([]*rec, 0, len(r.recs))
	for _, c := range r.recs {
		recs = append(recs, c)
	}
	r.mu.Unlock()
	for _, c := range recs {
		c.mu.Lock()
		for _, f := range c.files {
			if f.State == stateClosed || f.State == stateReady {
				files++
				bytes += f.Bytes
			}
		}
		c.mu.Unlock()
	}
	return files, bytes
}

// newBroadcastID returns a time-sortable id safe in paths.
func newBroadcastID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// backoff returns the pause before attempt n (1-based) with jitter.
func (r *Recorder) backoff(n int) time.Duration {
	d := float64(r.cfg.MinBackoff) * math.Pow(2, float64(min(n-1, 30)))
	d = min(d, float64(r.cfg.MaxBackoff))
	return time.Duration(d/2 + mrand.Float64()*d/2)
}

// retry runs fn until it succeeds or ctx ends, pausing with backoff.
func (r *Recorder) retry(ctx context.Context, log *slog.Logger, what string, fn func() error, onFail func()) error {
	for n := 1; ; n++ {
		err := fn()
		if err == nil {
			return nil
		}
		if onFail != nil {
			onFail()
		}
		wait := r.backoff(n)
		log.Warn(what+" failed; retrying", "attempt", n, "retry_in", wait.Round(time.Millisecond), "error", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// mp4SubOpts: the MP4 recorder wants every packet and rides out stalls of
// up to Config.MaxLag.
func (r *Recorder) mp4SubOpts() hub.SubscribeOptions {
	return hub.SubscribeOptions{Internal: true, MaxLag: r.cfg.MaxLag}
}

// broadcast is one live stream being recorded.
type broadcast struct {
	r      *Recorder
	id     string
	key    string
	ch     channel.Channel
	stream *hub.Stream

	mu      sync.Mutex
	mp4     *rec
	mp4Part int
	hls     *rec
	hlsq    chan hls.Segment
	hlsEnd  chan struct{}
	// hlsMu guards sends on hlsq against its close.
	hlsMu     sync.RWMutex
	hlsClosed bool
}

// StreamStarted implements rtmpserver.StreamHooks: it starts the recordings
// the channel asks for.
func (r *Recorder) StreamStarted(_ context.Context, ch *channel.Channel, s *hub.Stream) {
	if ch == nil || (!ch.Recording.MP4 && !ch.Recording.HLSVOD) {
		return
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if old := r.live[s.Key()]; old != nil {
		old.stopHLS() // its stream ended; a new broadcast takes the key
	}
	now := time.Now()
	b := &broadcast{r: r, id: newBroadcastID(now), key: s.Key(), ch: *ch, stream: s}
	r.live[s.Key()] = b
	r.mu.Unlock()
	log := r.log.With("channel", ch.ID, "broadcast", b.id)

	if ch.Recording.MP4 {
		c, err := r.startRec(b, store.KindMP4, b.id+"-mp4", now, 0)
		if err != nil {
			log.Error("MP4 recording not started", "error", err)
		} else {
			sub, err := s.Subscribe(r.mp4SubOpts())
			if err != nil {
				log.Error("MP4 recording not started", "error", err)
				c.end(time.Now())
			} else {
				b.mp4 = c
				r.readers.Add(1)
				go b.readMP4(sub, log)
			}
		}
	}
	if ch.Recording.HLSVOD {
		secs := ch.Outputs.HLSSegmentSeconds
		c, err := r.startRec(b, store.KindHLS, b.id+"-hls", now, secs)
		if err != nil {
			log.Error("HLS VOD recording not started", "error", err)
		} else {
			b.mu.Lock()
			b.hls, b.hlsq, b.hlsEnd = c, make(chan hls.Segment, 64), make(chan struct{})
			b.mu.Unlock()
			r.readers.Add(1)
			go b.writeHLS(log)
			go func() {
				select {
				case <-s.Done():
				case <-r.ctx.Done():
					return
				}
				t := time.NewTimer(r.cfg.HLSEndGrace)
				defer t.Stop()
				select {
				case <-t.C:
					b.stopHLS()
				case <-b.hlsEnd:
				}
			}()
		}
	}
	go func() {
		<-s.Done()
		b.waitDone()
		r.mu.Lock()
		if r.live[b.key] == b {
			delete(r.live, b.key)
		}
		r.mu.Unlock()
	}()
}

func (b *broadcast) waitDone() {
	b.mu.Lock()
	end := b.hlsEnd
	b.mu.Unlock()
	if end != nil {
		<-end
	}
}

func (b *broadcast) stopHLS() {
	b.mu.Lock()
	q := b.hlsq
	b.mu.Unlock()
	if q == nil {
		return
	}
	b.hlsMu.Lock()
	defer b.hlsMu.Unlock()
	if !b.hlsClosed {
		b.hlsClosed = true
		close(q)
	}
}

// startRec creates a recording's spool directory and starts its uploader.
func (r *Recorder) startRec(b *broadcast, kind, id string, now time.Time, targetSecs int) (*rec, error) {
	prefix := r.cfg.MP4Prefix
	if kind == store.KindHLS {
		prefix = r.cfg.HLSPrefix
	}
	h := header{
		Version: 1, ID: id, BroadcastID: b.id, ChannelID: b.ch.ID, StreamKey: b.key, Kind: kind,
		Prefix: prefix + b.ch.ID + "/" + id + "/", Region: r.cfg.Region, StartedAt: now.UTC(), TargetSeconds: targetSecs,
	}
	dir := filepath.Join(r.cfg.SpoolDir, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("spool dir: %w", err)
	}
	if err := r.gs.writeJSONSoon(filepath.Join(dir, headerName), h); err != nil {
		return nil, err
	}
	return r.runRec(dir, h, nil, false)
}

// readMP4 feeds the stream into the MP4 segmenter until the stream ends.
func (b *broadcast) readMP4(sub *hub.Subscriber, log *slog.Logger) {
	r := b.r
	defer r.readers.Done()
	secs := b.ch.Recording.MP4SegmentSeconds
	if secs <= 0 {
		secs = channel.DefaultMP4SegmentSeconds
	}
	seg := newMP4Segmenter(b, int64(secs)*1000,
		r.cfg.FragmentDuration.Milliseconds(), r.cfg.MaxFileBytes)
	seg.gs = r.gs
	var buf []*hub.Packet
	var last uint32
	var any bool
	skipped := sub.Skipped()
	for {
		pkts, err := sub.Read(r.ctx, buf)
		if n := sub.Skipped(); n != skipped {
			// The recorder fell behind and the hub moved it to the latest
			// keyframe: close the file before the gap instead of bridging it.
			skipped = n
			log.Warn("MP4 recording fell behind the stream; the file is cut and recording continues from the latest keyframe")
			if cerr := seg.cutNow(); cerr != nil {
				log.Error("MP4 recording: closing a file failed", "error", cerr)
				seg.abort()
			}
			// A skip over sequence headers the recorder never read brings
			// the current ones with it (hub.Subscriber.Read).
		}
		for _, p := range pkts {
			if !p.Header && any && p.Time < last {
				continue // a resubscription replays the GOP cache: skip what is recorded
			}
			if !p.Header {
				last, any = p.Time, true
			}
			if werr := seg.writePacket(p); werr != nil {
				log.Error("MP4 recording: write failed; the file is cut here", "error", werr)
				seg.abort()
			}
		}
		r.Counters.SkippedPackets.Add(seg.Skipped)
		seg.Skipped = 0
		buf = pkts
		switch {
		case err == nil:
			continue
		case errors.Is(err, hub.ErrTooSlow):
			log.Warn("MP4 recording fell behind the stream; continuing from the next keyframe")
			if cerr := seg.cutNow(); cerr != nil {
				log.Error("MP4 recording: closing a file failed", "error", cerr)
				seg.abort()
			}
			sub.Close()
			if sub, err = b.stream.Subscribe(r.mp4SubOpts()); err == nil {
				skipped = sub.Skipped()
				continue
			}
			sub = nil
		case !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled):
			log.Error("MP4 recording: read failed", "error", err)
		}
		break
	}
	if sub != nil {
		sub.Close()
	}
	if err := seg.finish(); err != nil {
		log.Error("MP4 recording: closing the last file failed", "error", err)
	}
	b.mu.Lock()
	c := b.mp4
	b.mu.Unlock()
	c.end(time.Now())
}

// openFile implements segmentSink: a new MP4 file of the broadcast. A
// recording holding Config.MaxFiles files ends and the broadcast goes on in a
// new recording.
func (b *broadcast) openFile() (string, error) {
	b.mu.Lock()
	c := b.mp4
	b.mu.Unlock()
	if c.fileCount() >= b.r.cfg.MaxFiles {
		now := time.Now()
		c.end(now)
		b.mp4Part++
		nc, err := b.r.startRec(b, store.KindMP4, fmt.Sprintf("%s-mp4-%d", b.id, b.mp4Part+1), now, 0)
		if err != nil {
			return "", err
		}
		b.mu.Lock()
		b.mp4, c = nc, nc
		b.mu.Unlock()
	}
	seq := c.allocSeq()
	name := fmt.Sprintf("%06d.mp4", seq)
	if err := c.logSoon(fileEntry{Seq: seq, Name: name, State: stateWriting}); err != nil {
		return "", err
	}
	return filepath.Join(c.dir, name+journalExt), nil
}

// fileClosed implements segmentSink.
func (b *broadcast) fileClosed(path string, n int64, idx *journalIndex) error {
	b.mu.Lock()
	c := b.mp4
	b.mu.Unlock()
	name := strings.TrimSuffix(filepath.Base(path), journalExt)
	f := c.file(name)
	if f == nil {
		return fmt.Errorf("closed file %s is not in the recording", name)
	}
	e := *f
	e.State, e.Bytes, e.idx = stateClosed, n, idx
	if err := c.logSoon(e); err != nil {
		return err
	}
	c.kick()
	return nil
}

// SegmentReady implements hls.SegmentSink: the segment is queued for the spool
// when its stream records HLS VOD.
func (r *Recorder) SegmentReady(_ context.Context, seg hls.Segment) {
	r.mu.Lock()
	b := r.live[seg.StreamKey]
	r.mu.Unlock()
	if b == nil {
		return
	}
	b.mu.Lock()
	q := b.hlsq
	b.mu.Unlock()
	if q == nil {
		return
	}
	b.hlsMu.RLock()
	defer b.hlsMu.RUnlock()
	if !b.hlsClosed {
		q <- seg // the writer drains the queue until it is closed
	}
}

// StreamEnded implements hls.SegmentSink: the HLS VOD recording ends after the
// segments queued before.
func (r *Recorder) StreamEnded(_ context.Context, streamKey string) {
	r.mu.Lock()
	b := r.live[streamKey]
	r.mu.Unlock()
	if b != nil {
		b.stopHLS()
	}
}

// writeHLS writes queued segments into the spool until the queue closes.
func (b *broadcast) writeHLS(log *slog.Logger) {
	defer b.r.readers.Done()
	b.mu.Lock()
	c, q, end := b.hls, b.hlsq, b.hlsEnd
	b.mu.Unlock()
	defer close(end)
	for seg := range q {
		data := seg.Bytes() // muxed here, off the packager's goroutine, unless a viewer asked first
		if len(data) == 0 {
			continue
		}
		seq := c.allocSeq()
		name := fmt.Sprintf("%06d.ts", seq)
		p := filepath.Join(c.dir, name)
		// The segment, its name and its files.log entry become durable
		// together, with the log entry's flush (c.log waits for it).
		err := writeFileSync(p+".tmp", data, b.r.gs.Written)
		if err == nil {
			err = os.Rename(p+".tmp", p)
		}
		if err == nil {
			err = b.r.gs.DirWritten(c.dir)
		}
		if err == nil {
			err = c.log(fileEntry{Seq: seq, Name: name, State: stateReady, DurationMillis: seg.Duration.Milliseconds(),
				Bytes: int64(len(data)), Discontinuity: seg.Discontinuity, ProgramDate: seg.ProgramDateTime.UTC()})
		}
		if err != nil {
			log.Error("HLS VOD: segment not spooled", "seq", seg.Seq, "error", err)
			_ = os.Remove(p + ".tmp")
			continue
		}
		c.kick()
	}
	c.end(time.Now())
}
