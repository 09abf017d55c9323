package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/rtmpclient"
	"github.com/livestack/livestack/shared/rtmpserver"
)

// synthInput is a 1 s loop of 30 fps video (a keyframe first, frames of
// frameSize bytes) and audio every 23 ms, with H.264 and AAC headers.
func synthInput(frameSize int) *input {
	in := &input{
		Path:   "synth",
		Video:  []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xee},
		Audio:  []byte{0xaf, 0, 0x12, 0x10},
		Period: 1000, VideoFrames: 30, Keyframes: 1,
	}
	var video, audio []flv.Tag
	for i := range 30 {
		f := make([]byte, 9+frameSize)
		f[0], f[1], f[9] = 0x27, 1, 0x41
		if i == 0 {
			f[0], f[9] = 0x17, 0x65
		}
		binary.BigEndian.PutUint32(f[5:], uint32(frameSize))
		video = append(video, flv.Tag{Type: flv.TagVideo, Timestamp: uint32(i * 100 / 3), Data: f})
	}
	for ts := uint32(0); ts < 1000; ts += 23 {
		audio = append(audio, flv.Tag{Type: flv.TagAudio, Timestamp: ts, Data: []byte{0xaf, 1, byte(ts), 0x21}})
	}
	// Interleaved by timestamp, video first at equal times, as ffmpeg writes.
	for len(video)+len(audio) > 0 {
		if len(audio) == 0 || (len(video) > 0 && video[0].Timestamp <= audio[0].Timestamp) {
			in.Media, video = append(in.Media, video[0]), video[1:]
		} else {
			in.Media, audio = append(in.Media, audio[0]), audio[1:]
		}
	}
	for _, t := range in.Media {
		in.Bytes += int64(flv.TagHeaderSize + len(t.Data) + flv.PrevSizeLength)
	}
	return in
}

// recTag is a tag as fakeAppend encodes it: 1 type byte, 4 timestamp bytes.
type recTag struct {
	typ flv.TagType
	ts  uint32
}

func fakeAppend(dst []byte, typ flv.TagType, ts uint32, _ []byte) ([]byte, error) {
	return binary.BigEndian.AppendUint32(append(dst, byte(typ)), ts), nil
}

func decodeRec(b []byte) []recTag {
	var out []recTag
	for ; len(b) >= 5; b = b[5:] {
		out = append(out, recTag{flv.TagType(b[0]), binary.BigEndian.Uint32(b[1:])})
	}
	return out
}

const ms = int64(time.Millisecond)

// TestCamCursor: each batch is a video frame with the audio due by then;
// timestamps keep increasing across passes of the loop.
func TestCamCursor(t *testing.T) {
	in := synthInput(10)
	c := camCursor{in: in, start: 1000 * ms}
	var all []recTag
	next := c.nextBatch()
	require.Equal(t, 1000*ms, next)
	for i := range 65 { // two passes and a bit
		b, n, err := c.appendDue(nil, next, fakeAppend)
		require.NoError(t, err)
		batch := decodeRec(b)
		require.NotEmpty(t, batch, "batch %d", i)
		videos := 0
		for _, r := range batch {
			require.LessOrEqual(t, c.start+int64(r.ts)*ms, next, "batch %d: only tags due", i)
			if r.typ == flv.TagVideo {
				videos++
				require.Equal(t, next, c.start+int64(r.ts)*ms, "batch %d is sent when its frame is due", i)
			}
		}
		require.Equal(t, 1, videos, "batch %d: one frame per batch", i)
		require.Equal(t, int64((len(batch)-1)*(11+4+4)+11+4+19), n, "batch %d: FLV bytes", i)
		all = append(all, batch...)
		prev := next
		next = c.nextBatch()
		require.Greater(t, next, prev)
		require.LessOrEqual(t, next-prev, 34*ms, "batch %d: frame interval", i)
	}
	// Nothing sent twice or skipped: the timestamps of each type increase by
	// the input's steps, across the loop.
	var videoTS []uint32
	audioN := 0
	for _, r := range all {
		if r.typ == flv.TagVideo {
			videoTS = append(videoTS, r.ts)
		} else {
			audioN++
		}
	}
	require.Len(t, videoTS, 65)
	for i, ts := range videoTS {
		require.Equal(t, uint32(i/30*1000+(i%30)*100/3), ts)
	}
	require.Equal(t, 44+44+6, audioN, "two passes of 44 audio tags, and those up to 2133 ms of the third")

	// A late caller gets everything due at once, in order.
	c = camCursor{in: in, start: 0}
	b, _, err := c.appendDue(nil, 2500*ms, fakeAppend)
	require.NoError(t, err)
	got := decodeRec(b)
	require.Len(t, got, 2*len(in.Media)+16+22, "two passes, then 16 frames and 22 audio tags up to 500 ms")
	require.True(t, slices.IsSortedFunc(got, func(a, b recTag) int { return int(a.ts) - int(b.ts) }))
}

func TestPhaseOffset(t *testing.T) {
	in := synthInput(10)
	frame := 1000 * ms / 30
	bins := make([]int, 5)
	for n := range 1000 {
		o := phaseOffset(n, in)
		require.GreaterOrEqual(t, o, int64(0))
		require.Less(t, o, frame)
		bins[o*5/frame]++
	}
	for i, c := range bins {
		require.InDelta(t, 200, c, 10, "bin %d: %v", i, bins)
	}
}

// fakeConn records the batches written; while blocked, writes return
// ErrBlocked and Flush waits for unblock.
type fakeConn struct {
	mu      sync.Mutex
	batches [][]recTag
	blocked bool
	unblock chan struct{}
	flushes int
}

func (f *fakeConn) WriteChunks(b []byte, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, decodeRec(b))
	if f.blocked {
		return fmt.Errorf("write: %w", rtmpclient.ErrBlocked)
	}
	return nil
}

func (f *fakeConn) Flush(time.Time) error {
	<-f.unblock
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushes++
	f.blocked = false
	return nil
}

func (f *fakeConn) snapshot() [][]recTag {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.batches)
}

// TestShardBlocked: a publisher whose write blocks leaves the shard's
// schedule, its lag grows while its queue drains, the other publisher of the
// shard goes on, and once drained it catches up with everything due in one
// write.
func TestShardBlocked(t *testing.T) {
	in := synthInput(10)
	slow := &fakeConn{unblock: make(chan struct{})}
	fast := &fakeConn{}
	var unblockOnce sync.Once
	unblock := func() { unblockOnce.Do(func() { close(slow.unblock) }) }
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { unblock(); cancel(); wg.Wait() }()
	sh := &pubShard{wg: &wg}
	newPub := func(c *fakeConn) *camPublisher {
		p := &camPublisher{in: in, channel: "c", conn: c, appendTag: fakeAppend, failed: make(chan struct{})}
		p.cur = camCursor{in: in, start: nanotime()}
		p.next = p.cur.nextBatch()
		sh.add(p)
		return p
	}
	ps, pf := newPub(slow), newPub(fast)

	step := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(pubTick) {
			sh.tick(ctx)
		}
	}
	step(200 * time.Millisecond)
	require.GreaterOrEqual(t, len(slow.snapshot()), 2)
	require.Less(t, ps.maxLag.Load(), 150*ms)

	slow.mu.Lock()
	slow.blocked = true
	slow.mu.Unlock()
	before := len(slow.snapshot())
	blockedAt := time.Now()
	step(300 * time.Millisecond)
	sh.tick(ctx)
	require.Len(t, slow.snapshot(), before+1, "one blocked write, then the shard leaves it alone")
	require.True(t, ps.slow.Load())
	// It blocked at its first frame after blockedAt, at most a frame and a tick later.
	require.GreaterOrEqual(t, ps.maxLag.Load(), int64(time.Since(blockedAt))-50*ms, "lag counted while blocked")
	require.GreaterOrEqual(t, len(fast.snapshot()), 5, "the other publisher went on")
	require.Less(t, pf.maxLag.Load(), 150*ms)

	unblock()
	require.Eventually(t, func() bool { return !ps.slow.Load() }, 5*time.Second, time.Millisecond)
	step(20 * time.Millisecond)
	got := slow.snapshot()
	require.Greater(t, len(got), before+1)
	catchUp := got[before+1]
	videos := 0
	for _, r := range catchUp {
		if r.typ == flv.TagVideo {
			videos++
		}
	}
	require.GreaterOrEqual(t, videos, 7, "the catch-up write has the frames due meanwhile")
	var all []recTag
	for _, b := range got {
		all = append(all, b...)
	}
	require.True(t, slices.IsSortedFunc(all, func(a, b recTag) int { return int(a.ts) - int(b.ts) }), "nothing lost or repeated")
	require.Equal(t, len(slices.CompactFunc(slices.Clone(all), func(a, b recTag) bool { return a == b })), len(all))
	require.Equal(t, 1, slow.flushes)
	require.False(t, ps.hasFailed())
}

type testAuth struct{}

func (testAuth) AuthorizePublish(_ context.Context, req ingest.PublishRequest) (ingest.Grant, error) {
	if req.Sign != "tok" {
		return ingest.Grant{}, ingest.Refuse(ingest.ReasonBadSignature, "bad token")
	}
	return ingest.Grant{Channel: &channel.Channel{ID: req.ChannelID, Enabled: true}, LeaseUntil: time.Now().Add(time.Minute)}, nil
}

func (a testAuth) Renew(ctx context.Context, req ingest.PublishRequest) (ingest.Grant, error) {
	return a.AuthorizePublish(ctx, req)
}

func (testAuth) Unpublish(context.Context, ingest.PublishRequest) error { return nil }

// TestPublishersToServer runs three publishers on one shard against
// livestack's RTMP server: each stream goes live, receives its frames at
// real-time pace with increasing timestamps, the harness measures small lags
// and the bytes sent, and stopping ends the publishers without error.
func TestPublishersToServer(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	h := hub.New(hub.Config{Logger: log})
	defer h.Close()
	srv, err := rtmpserver.New(rtmpserver.Config{Hub: h, Authorizer: testAuth{}, Logger: log})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln, nil)
	}()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
		<-served
	}()

	in := synthInput(6000) // frames above the 4096-byte chunk size
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			wg.Wait()
		}
	}()
	sh := &pubShard{wg: &wg}
	wg.Go(func() { sh.run(ctx) })
	var pubs []*camPublisher
	for i := range 3 {
		id := fmt.Sprintf("ch%d", i)
		p := &camPublisher{url: "rtmp://" + ln.Addr().String() + "/stream/" + id + "?sign=tok", channel: id, in: in, n: i}
		pubs = append(pubs, p)
		wg.Go(func() { p.run(ctx, sh) })
	}
	subs := make([]*hub.Subscriber, len(pubs))
	require.Eventually(t, func() bool {
		for i, p := range pubs {
			require.NotEqual(t, phaseEnded, p.phase.Load(), "%s: %v", p.channel, p.err)
			if subs[i] == nil {
				if s := h.Stream(p.channel); s != nil && s.Live() {
					subs[i], err = h.Subscribe(p.channel, hub.SubscribeOptions{Internal: true})
					require.NoError(t, err)
				}
			}
		}
		return !slices.Contains(subs, nil)
	}, 10*time.Second, 5*time.Millisecond)

	// Read for 1.5 s; each stream's last frame time must follow the clock.
	start := time.Now()
	rctx, rcancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer rcancel()
	last := make([]uint32, len(subs))
	frames := make([]int, len(subs))
	backwards := make([]int, len(subs))
	var rwg sync.WaitGroup
	for i, sub := range subs {
		rwg.Go(func() {
			for {
				pkts, err := sub.Read(rctx, nil)
				for _, pk := range pkts {
					if pk.Type == flv.TagVideo && !pk.Header {
						if frames[i] > 0 && pk.Time <= last[i] {
							backwards[i]++
						}
						last[i] = pk.Time
						frames[i]++
					}
				}
				if err != nil {
					return
				}
			}
		})
	}
	rwg.Wait()
	elapsed := time.Since(start)
	for i, p := range pubs {
		require.Equal(t, phasePlaying, p.phase.Load(), p.channel)
		require.Zero(t, backwards[i], "%s: video times increase", p.channel)
		require.GreaterOrEqual(t, frames[i], 20, "%s: frames in %s", p.channel, elapsed)
		require.Greater(t, int64(last[i]), (elapsed - 500*time.Millisecond).Milliseconds(), "%s: keeps pace", p.channel)
		// The stream began at most a second before the reads did (the
		// subscription starts at its keyframe, the first frame).
		require.Less(t, int64(last[i]), (elapsed+time.Second).Milliseconds()+100, "%s: not ahead of real time", p.channel)
		require.Less(t, p.maxLag.Load(), 1000*ms, "%s: send lag", p.channel)
		require.Less(t, p.maxWake.Load(), 1000*ms, "%s: wake lateness", p.channel)
		require.Greater(t, p.bytes.Load(), int64(30*6000), p.channel)
	}

	cancel()
	wg.Wait()
	stopped = true
	for _, p := range pubs {
		require.Equal(t, phaseEnded, p.phase.Load())
		require.NoError(t, p.err, p.channel)
	}
}
