package hub

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
)

var (
	avcHeader = []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe0, 0, 0}
	aacHeader = []byte{0xaf, 0, 0x12, 0x10}
)

func keyframe() []byte { return []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65} }
func inter() []byte    { return []byte{0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41} }
func audio() []byte    { return []byte{0xaf, 1, 0x21, 0x10} }

// publishGOPs writes n GOPs of `frames` video frames 33 ms apart, starting at t0,
// with one audio frame per video frame.
func publishGOPs(t *testing.T, p *Publisher, t0 uint32, n, frames int) uint32 {
	t.Helper()
	ts := t0
	for g := 0; g < n; g++ {
		for f := 0; f < frames; f++ {
			data := inter()
			if f == 0 {
				data = keyframe()
			}
			require.NoError(t, p.WriteVideo(ts, data))
			require.NoError(t, p.WriteAudio(ts, audio()))
			ts += 33
		}
	}
	return ts
}

func newTestHub(cfg Config) *Hub {
	if cfg.ReconnectWindow == 0 {
		cfg.ReconnectWindow = time.Hour
	}
	return New(cfg)
}

func readAll(t *testing.T, sub *Subscriber) []*Packet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var out []*Packet
	for {
		pkts, err := sub.Read(ctx, nil)
		out = append(out, pkts...)
		if err != nil {
			return out
		}
	}
}

func TestSubscriberStartsOnKeyframeWithHeaders(t *testing.T) {
	h := newTestHub(Config{})
	p, err := h.Publish("ch", PublishOptions{})
	require.NoError(t, err)
	require.NoError(t, p.WriteMetadata([]byte{2, 0, 10, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a'}))
	require.NoError(t, p.WriteVideo(0, avcHeader))
	require.NoError(t, p.WriteAudio(0, aacHeader))
	end := publishGOPs(t, p, 0, 3, 10)

	sub, err := h.Subscribe("ch", SubscribeOptions{})
	require.NoError(t, err)
	defer sub.Close()
	pkts := readAll(t, sub)
	require.GreaterOrEqual(t, len(pkts), 4)
	require.Equal(t, flv.TagScript, pkts[0].Type)
	require.True(t, pkts[1].Header)
	require.True(t, pkts[2].Header)
	require.True(t, pkts[3].Keyframe, "first media packet must be a keyframe")
	require.Equal(t, uint32(2*10*33), pkts[3].Time, "GOP cache starts at the latest keyframe")
	require.Equal(t, pkts[3].Time, pkts[1].Time, "headers restamped to the GOP start")
	require.Equal(t, 3+20, len(pkts), "headers + one GOP of 10 video and 10 audio")
	var last uint32
	for _, pk := range pkts {
		require.GreaterOrEqual(t, pk.Time, last)
		last = pk.Time
	}
	require.Less(t, last, end)
}

func TestSubscriberFollowsLiveAndSeesEOF(t *testing.T) {
	h := newTestHub(Config{ReconnectWindow: -1})
	p, err := h.Publish("ch", PublishOptions{})
	require.NoError(t, err)
	require.NoError(t, p.WriteVideo(0, avcHeader))
	publishGOPs(t, p, 0, 1, 2)
	sub, err := h.Subscribe("ch", SubscribeOptions{})
	require.NoError(t, err)
	got := make(chan []*Packet, 1)
	go func() {
		var all []*Packet
		for {
			pkts, err := sub.Read(context.Background(), nil)
			all = append(all, pkts...)
			if err != nil {
				require.ErrorIs(t, err, io.EOF)
				got <- all
				return
			}
		}
	}()
	publishGOPs(t, p, 66, 1, 3)
	p.Close("done")
	all := <-got
	require.Equal(t, 1+4+6, len(all))
	require.Nil(t, h.Stream("ch"), "stream removed once the publisher left with no reconnect window")
}

func TestDuplicatePublishRefusedAndReconnectContinues(t *testing.T) {
	h := newTestHub(Config{})
	p1, err := h.Publish("ch", PublishOptions{})
	require.NoError(t, err)
	_, err = h.Publish("ch", PublishOptions{})
	require.ErrorIs(t, err, ErrAlreadyPublished)
	require.NoError(t, p1.WriteVideo(0, avcHeader))
	publishGOPs(t, p1, 1000, 1, 5) // times 1000..1132
	sub, err := h.Subscribe("ch", SubscribeOptions{})
	require.NoError(t, err)
	first := readAll(t, sub)
	p1.Close("network")

	p2, err := h.Publish("ch", PublishOptions{})
	require.NoError(t, err, "reconnect within the window takes the stream over")
	require.NoError(t, p2.WriteVideo(0, avcHeader)) // identical header: not re-sent
	publishGOPs(t, p2, 0, 1, 5)                     // the encoder restarted its clock at 0
	second := readAll(t, sub)
	require.Len(t, second, 10, "no duplicate header, all new media")
	last := first[len(first)-1].Time
	for _, pk := range second {
		require.Greater(t, pk.Time, last-1, "timestamps continue monotonically")
		last = pk.Time
	}
	require.Equal(t, 1, h.Stream("ch").Stats().Reconnects)

	// A changed header is delivered in order.
	p2.Close("x")
	p3, err := h.Publish("ch", PublishOptions{})
	require.NoError(t, err)
	changed := append([]byte(nil), avcHeader...)
	changed[8] = 0x28
	require.NoError(t, p3.WriteVideo(0, changed))
	publishGOPs(t, p3, 0, 1, 1)
	third := readAll(t, sub)
	require.True(t, third[0].Header)
	require.Equal(t, changed, third[0].Data())
}

func TestSlowSubscriberSkipsThenDropped(t *testing.T) {
	h := newTestHub(Config{MaxLag: 500 * time.Millisecond, MaxSkips: 2})
	p, err := h.Publish("ch", PublishOptions{})
	require.NoError(t, err)
	require.NoError(t, p.WriteVideo(0, avcHeader))
	ts := publishGOPs(t, p, 0, 1, 10)
	slow, err := h.Subscribe("ch", SubscribeOptions{})
	require.NoError(t, err)
	fast, err := h.Subscribe("ch", SubscribeOptions{})
	require.NoError(t, err)
	_, err = slow.Read(context.Background(), nil) // headers + GOP, then stops reading
	require.NoError(t, err)
	readAll(t, fast)

	for round := 0; round < 3; round++ {
		for g := 0; g < 2; g++ { // 660 ms of media: beyond MaxLag for the slow reader
			ts = publishGOPs(t, p, ts, 1, 10)
			require.Len(t, readAll(t, fast), 20, "the fast reader is never held back")
		}
		pkts, err := slow.Read(context.Background(), nil)
		if round < 2 {
			require.NoError(t, err)
			require.True(t, pkts[0].Keyframe, "a skip lands on a keyframe")
			require.Equal(t, int64(round+1), slow.Skipped())
		} else {
			require.True(t, errors.Is(err, ErrTooSlow), "dropped after MaxSkips: %v", err)
		}
	}
	s := h.Stream("ch")
	s.mu.RLock()
	held := len(s.pkts)
	s.mu.RUnlock()
	require.LessOrEqual(t, held, 2*2*10+2, "memory is bounded by the GOP cache and MaxLag, not by the slow reader")
	require.Equal(t, int64(1), s.Stats().SubscribersDropped)
}

// A subscriber that skips over header packets it never read gets the current
// headers before the keyframe it resumes on; one that read them does not.
func TestSkipResendsUnreadHeaders(t *testing.T) {
	for _, tc := range []struct {
		name        string
		headersRead bool // the subscriber read the headers before falling behind
		change      bool // a new video header arrives while it lags
		want        int  // header packets before the keyframe
	}{
		{name: "subscribed before any header", want: 2},
		{name: "headers read, no change", headersRead: true, want: 0},
		{name: "headers read, then changed", headersRead: true, change: true, want: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHub(Config{MaxLag: 500 * time.Millisecond, MaxSkips: 10})
			p, err := h.Publish("ch", PublishOptions{})
			require.NoError(t, err)
			var sub *Subscriber
			if !tc.headersRead {
				sub, err = h.Subscribe("ch", SubscribeOptions{Internal: true})
				require.NoError(t, err)
			}
			require.NoError(t, p.WriteVideo(0, avcHeader))
			require.NoError(t, p.WriteAudio(0, aacHeader))
			ts := publishGOPs(t, p, 0, 1, 10)
			if tc.headersRead {
				sub, err = h.Subscribe("ch", SubscribeOptions{Internal: true})
				require.NoError(t, err)
				_, err = sub.Read(context.Background(), nil)
				require.NoError(t, err)
			}
			if tc.change {
				changed := append([]byte{}, avcHeader...)
				changed[len(changed)-1] = 1
				require.NoError(t, p.WriteVideo(ts, changed))
			}
			publishGOPs(t, p, ts, 3, 10) // 1 s: beyond MaxLag
			pkts, err := sub.Read(context.Background(), nil)
			require.NoError(t, err)
			require.Equal(t, int64(1), sub.Skipped())
			n := 0
			for n < len(pkts) && pkts[n].Header {
				require.Equal(t, pkts[tc.want].Time, pkts[n].Time, "headers are stamped where the subscriber resumes")
				n++
			}
			require.Equal(t, tc.want, n, "header packets before the keyframe")
			require.True(t, pkts[n].Keyframe, "then the keyframe it resumes on")
			require.Greater(t, pkts[n].Time, uint32(300))
		})
	}
}

func TestMergeWindowBatchesWakeups(t *testing.T) {
	mw := 40 * time.Millisecond
	h := newTestHub(Config{})
	p, err := h.Publish("ch", PublishOptions{MergeWindow: &mw})
	require.NoError(t, err)
	require.NoError(t, p.WriteVideo(0, avcHeader))
	publishGOPs(t, p, 0, 1, 1)
	sub, err := h.Subscribe("ch", SubscribeOptions{Merge: true})
	require.NoError(t, err)
	_, err = sub.Read(context.Background(), nil)
	require.NoError(t, err)

	start := time.Now()
	for i := 0; i < 5; i++ { // 5 packets within a window
		require.NoError(t, p.WriteVideo(uint32(100+i), inter()))
	}
	pkts, err := sub.Read(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, pkts, 5, "one wake-up per window carries everything")
	require.GreaterOrEqual(t, time.Since(start), mw-5*time.Millisecond)
}

func TestViewerLimitAndAudioOnly(t *testing.T) {
	h := newTestHub(Config{MaxViewersPerStream: 1})
	p, err := h.Publish("ch", PublishOptions{})
	require.NoError(t, err)
	require.NoError(t, p.WriteAudio(0, aacHeader))
	for i := 0; i < 10; i++ {
		require.NoError(t, p.WriteAudio(uint32(i*23), audio()))
	}
	sub, err := h.Subscribe("ch", SubscribeOptions{})
	require.NoError(t, err)
	_, err = h.Subscribe("ch", SubscribeOptions{})
	require.ErrorIs(t, err, ErrTooManyViewers)
	_, err = h.Subscribe("ch", SubscribeOptions{Internal: true})
	require.NoError(t, err, "internal subscribers are not viewers")
	pkts := readAll(t, sub)
	require.Len(t, pkts, 2, "audio-only: header + the latest audio frame as the sync point")
	_, err = h.Subscribe("nope", SubscribeOptions{})
	require.ErrorIs(t, err, ErrNotFound)
}

func TestMergeWindowEndsBatchesOnVideoFrames(t *testing.T) {
	mw := 70 * time.Millisecond
	h := newTestHub(Config{ReconnectWindow: -1})
	p, err := h.Publish("ch", PublishOptions{MergeWindow: &mw})
	require.NoError(t, err)
	require.NoError(t, p.WriteVideo(0, avcHeader))
	publishGOPs(t, p, 0, 1, 1)
	sub, err := h.Subscribe("ch", SubscribeOptions{Merge: true})
	require.NoError(t, err)
	_, err = sub.Read(context.Background(), nil)
	require.NoError(t, err)

	type batch struct {
		n   int
		at  time.Duration
		end flv.TagType
	}
	batches := make(chan batch, 16)
	start := time.Now()
	go func() {
		for {
			pkts, err := sub.Read(context.Background(), nil)
			if err != nil {
				close(batches)
				return
			}
			batches <- batch{n: len(pkts), at: time.Since(start), end: pkts[len(pkts)-1].Type}
		}
	}()
	// 30 fps video with audio in between, in real time: 6 frames.
	ts := uint32(33)
	for i := 0; i < 6; i++ {
		require.NoError(t, p.WriteAudio(ts, audio()))
		time.Sleep(16 * time.Millisecond)
		require.NoError(t, p.WriteVideo(ts+16, inter()))
		time.Sleep(17 * time.Millisecond)
		ts += 33
	}
	p.Close("done")
	var got []batch
	for b := range batches {
		got = append(got, b)
	}
	require.GreaterOrEqual(t, len(got), 2)
	require.LessOrEqual(t, len(got), 4, "about one write per two frames, not one per packet: %+v", got)
	for _, b := range got[:len(got)-1] {
		require.Equal(t, flv.TagVideo, b.end, "batches end on a video frame: %+v", got)
	}
}

// With DeferWake a waiting subscriber wakes at Flush, once for everything
// appended since; a subscriber that reads without waiting sees it at once.
func TestDeferWakeWakesAtFlush(t *testing.T) {
	h := newTestHub(Config{})
	p, err := h.Publish("ch", PublishOptions{DeferWake: true})
	require.NoError(t, err)
	require.NoError(t, p.WriteVideo(0, avcHeader))
	publishGOPs(t, p, 0, 1, 1)
	p.Flush()
	sub, err := h.Subscribe("ch", SubscribeOptions{Internal: true})
	require.NoError(t, err)
	_, err = sub.Read(context.Background(), nil)
	require.NoError(t, err)

	got := make(chan int, 1)
	go func() {
		pkts, _ := sub.Read(context.Background(), nil)
		got <- len(pkts)
	}()
	time.Sleep(20 * time.Millisecond) // the reader is waiting
	for i := 0; i < 3; i++ {
		require.NoError(t, p.WriteVideo(uint32(100+33*i), inter()))
	}
	select {
	case n := <-got:
		t.Fatalf("woken before Flush with %d packets", n)
	case <-time.After(50 * time.Millisecond):
	}
	p.Flush()
	select {
	case n := <-got:
		require.Equal(t, 3, n, "one wake-up carries the whole batch")
	case <-time.After(2 * time.Second):
		t.Fatal("not woken by Flush")
	}

	other, err := h.Subscribe("ch", SubscribeOptions{Internal: true})
	require.NoError(t, err)
	require.NoError(t, p.WriteVideo(300, inter()))
	pkts, err := other.Read(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, uint32(300), pkts[len(pkts)-1].Time, "a reader that does not wait sees unflushed packets")

	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			pkts, err := sub.Read(context.Background(), nil)
			if err != nil || pkts[len(pkts)-1].Time == 400 {
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, p.WriteVideo(400, inter()))
	p.Close("bye") // Close flushes
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not wake the reader")
	}
}

func TestLowLatencyCountsViewersAndFlaggedSubscribers(t *testing.T) {
	h := newTestHub(Config{})
	p, err := h.Publish("ch", PublishOptions{})
	require.NoError(t, err)
	s := p.Stream()
	for _, tc := range []struct {
		opts SubscribeOptions
		want bool
	}{
		{SubscribeOptions{Internal: true}, false},
		{SubscribeOptions{Internal: true, LowLatency: true}, true},
		{SubscribeOptions{}, true},
		{SubscribeOptions{Merge: true}, true},
	} {
		require.False(t, s.LowLatency())
		sub, err := s.Subscribe(tc.opts)
		require.NoError(t, err)
		require.Equal(t, tc.want, s.LowLatency(), "%+v", tc.opts)
		sub.Close()
		sub.Close() // twice is harmless
	}
	require.False(t, s.LowLatency())
}

// A merging packager of a DeferWake stream that nobody watches is woken by
// Flush (the publisher's batch), not by a merge timer; a viewer arriving gets
// the pending batch flushed and timers again.
func TestDeferWakeFlushEndsMergeBatch(t *testing.T) {
	mw := 50 * time.Millisecond
	h := newTestHub(Config{})
	p, err := h.Publish("ch", PublishOptions{DeferWake: true, MergeWindow: &mw})
	require.NoError(t, err)
	require.NoError(t, p.WriteVideo(0, avcHeader))
	publishGOPs(t, p, 0, 1, 1)
	p.Flush()
	pkgr, err := h.Subscribe("ch", SubscribeOptions{Internal: true, Merge: true})
	require.NoError(t, err)
	_, err = pkgr.Read(context.Background(), nil)
	require.NoError(t, err)

	got := make(chan int, 1)
	go func() {
		pkts, _ := pkgr.Read(context.Background(), nil)
		got <- len(pkts)
	}()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, p.WriteAudio(40, audio()))
	select {
	case n := <-got:
		t.Fatalf("woken without Flush (%d packets)", n)
	case <-time.After(3 * mw):
	}
	p.Flush()
	select {
	case n := <-got:
		require.Equal(t, 1, n)
	case <-time.After(2 * time.Second):
		t.Fatal("Flush did not end the merge batch")
	}

	require.NoError(t, p.WriteAudio(60, audio())) // pending, no timer
	viewer, err := h.Subscribe("ch", SubscribeOptions{Merge: true})
	require.NoError(t, err)
	pkts, err := pkgr.Read(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, uint32(60), pkts[0].Time, "a viewer's arrival flushes the pending batch")
	_, err = viewer.Read(context.Background(), nil)
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, p.WriteAudio(80, audio())) // no Flush: the merge timer wakes the viewer
	pkts, err = viewer.Read(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, uint32(80), pkts[len(pkts)-1].Time)
	require.Less(t, time.Since(start), time.Second)
}

func TestLowLatencyWaitClosesWhenAViewerArrives(t *testing.T) {
	h := newTestHub(Config{})
	p, err := h.Publish("ch", PublishOptions{})
	require.NoError(t, err)
	s := p.Stream()
	w := s.LowLatencyWait()
	pkgr, err := s.Subscribe(SubscribeOptions{Internal: true})
	require.NoError(t, err)
	select {
	case <-w:
		t.Fatal("an internal subscriber is no viewer")
	default:
	}
	viewer, err := s.Subscribe(SubscribeOptions{})
	require.NoError(t, err)
	select {
	case <-w:
	default:
		t.Fatal("not closed when the first viewer arrived")
	}
	w2 := s.LowLatencyWait()
	other, err := s.Subscribe(SubscribeOptions{})
	require.NoError(t, err)
	select {
	case <-w2:
		t.Fatal("closed again by a second viewer")
	default:
	}
	for _, sub := range []*Subscriber{pkgr, viewer, other} {
		sub.Close()
	}
}

// A subscriber with a MaxLag of its own (a recorder) reads everything after
// falling further behind than the hub's MaxLag; the stream keeps only what it
// has not read, and past its own MaxLag it skips like any other.
func TestPatientSubscriberKeepsWhatItHasNotRead(t *testing.T) {
	h := newTestHub(Config{MaxLag: 500 * time.Millisecond})
	p, err := h.Publish("ch", PublishOptions{})
	require.NoError(t, err)
	require.NoError(t, p.WriteVideo(0, avcHeader))
	ts := publishGOPs(t, p, 0, 1, 10)
	patient, err := h.Subscribe("ch", SubscribeOptions{Internal: true, MaxLag: 2 * time.Second})
	require.NoError(t, err)
	defer patient.Close()
	plain, err := h.Subscribe("ch", SubscribeOptions{Internal: true})
	require.NoError(t, err)
	defer plain.Close()
	_, err = patient.Read(context.Background(), nil)
	require.NoError(t, err)
	_, err = plain.Read(context.Background(), nil)
	require.NoError(t, err)
	held := func() int {
		s := h.Stream("ch")
		s.mu.RLock()
		defer s.mu.RUnlock()
		return len(s.pkts)
	}

	ts = publishGOPs(t, p, ts, 3, 10) // 990 ms: past the hub's MaxLag, within the patient one's
	got := readAll(t, patient)
	require.Len(t, got, 60, "every packet, no skip")
	require.Zero(t, patient.Skipped())
	readAll(t, plain)
	require.Equal(t, int64(1), plain.Skipped(), "the plain subscriber skipped")
	ts = publishGOPs(t, p, ts, 1, 10) // trimmed on append
	require.Len(t, readAll(t, patient), 20)
	readAll(t, plain)
	ts = publishGOPs(t, p, ts, 1, 10)
	require.LessOrEqual(t, held(), 2*2*10+2, "once read, the stream keeps only its GOP cache and MaxLag")

	publishGOPs(t, p, ts, 8, 10) // 2.6 s: past the patient subscriber's MaxLag too
	require.LessOrEqual(t, held(), 2*(2000/33)+2, "what the patient subscriber has not read is kept up to its MaxLag only")
	got = readAll(t, patient)
	require.Equal(t, int64(1), patient.Skipped())
	require.True(t, got[0].Keyframe || got[0].Header, "the skip lands on a keyframe")
}

// Messages written after SetArrival carry its time, not the clock's; the zero
// time goes back to the clock.
func TestSetArrivalStampsMessages(t *testing.T) {
	clock := time.Unix(1000, 0)
	cfg := Config{now: func() time.Time { return clock }}
	h := newTestHub(cfg)
	defer h.Close()
	pub, err := h.Publish("cam", PublishOptions{})
	require.NoError(t, err)
	sub, err := pub.Stream().Subscribe(SubscribeOptions{})
	require.NoError(t, err)
	defer sub.Close()
	read := time.Unix(1000, 0).Add(250 * time.Millisecond) // a socket read
	pub.SetArrival(read)
	clock = clock.Add(time.Second) // the clock moves on while the read's messages are handled
	require.NoError(t, pub.WriteVideo(0, keyframe()))
	require.NoError(t, pub.WriteAudio(0, audio()))
	pub.SetArrival(time.Time{})
	require.NoError(t, pub.WriteVideo(33, inter()))
	pkts := readAll(t, sub)
	require.Len(t, pkts, 3)
	require.Equal(t, (250 * time.Millisecond).Nanoseconds(), pkts[0].Arrived)
	require.Equal(t, (250 * time.Millisecond).Nanoseconds(), pkts[1].Arrived)
	require.Equal(t, time.Second.Nanoseconds(), pkts[2].Arrived, "the clock again")
}
