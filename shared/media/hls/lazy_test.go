package hls

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
)

// packetizeCount runs packetize on a PES of total bytes (split into parts of
// random sizes) and returns how many packets it wrote and how far the
// continuity counter moved.
func packetizeCount(t *testing.T, rng *rand.Rand, total int, pcr bool, rai bool) (packets int, ccMoved int) {
	t.Helper()
	pes := make([]byte, total)
	for i := range pes {
		pes[i] = byte(i)
	}
	var parts [][]byte
	for rest := pes; len(rest) > 0; {
		n := 1 + rng.IntN(len(rest))
		parts = append(parts, rest[:n])
		rest = rest[n:]
	}
	p := int64(-1)
	if pcr {
		p = 12345
	}
	var m tsMuxer
	cc := uint8(7)
	out := m.packetize(nil, pidVideo, &cc, parts, total, p, rai)
	require.Zero(t, len(out)%tsPacketSize, "total %d", total)
	// the payload comes back in order: the packets hold the PES and nothing else
	payload := make([]byte, 0, total)
	for i := 0; i < len(out); i += tsPacketSize {
		pkt := out[i : i+tsPacketSize]
		off := 4
		if pkt[3]&0x20 != 0 {
			off += 1 + int(pkt[4])
		}
		payload = append(payload, pkt[off:]...)
	}
	require.Equal(t, pes, payload, "total %d", total)
	return len(out) / tsPacketSize, int(cc - 7)
}

func TestTSPacketsTable(t *testing.T) {
	for _, tc := range []struct {
		total, firstAF, want int
	}{
		{0, 0, 0},
		{0, 8, 0},
		{1, 0, 1},
		{1, 8, 1},
		{176, 8, 1}, // fills the first packet after a PCR
		{177, 8, 2},
		{182, 2, 1},
		{183, 2, 2},
		{183, 0, 1}, // one byte short: an adaptation field of just its length byte
		{184, 0, 1},
		{185, 0, 2},
		{176 + 184, 8, 2},
		{176 + 184 + 1, 8, 3},
		{368, 0, 2},
		{369, 0, 3},
		{1_000_000, 0, 5435},
		{1_000_000, 8, 5435},
	} {
		require.Equal(t, tc.want, tsPackets(tc.total, tc.firstAF), "total %d, first adaptation field %d", tc.total, tc.firstAF)
	}
}

// tsPackets counts what packetize writes, for every first-packet adaptation field
// packetize makes, every size up to a few packets and random large ones.
func TestTSPacketsMatchesPacketize(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := make([]int, 0, 1200)
	for n := 0; n <= 1000; n++ {
		sizes = append(sizes, n)
	}
	for range 200 {
		sizes = append(sizes, rng.IntN(300_000))
	}
	for _, af := range []struct{ pcr, rai bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
		firstAF := firstAFLen(af.pcr, af.rai)
		for _, n := range sizes {
			packets, moved := packetizeCount(t, rng, n, af.pcr, af.rai)
			require.Equal(t, packets, tsPackets(n, firstAF), "total %d, pcr %t, rai %t", n, af.pcr, af.rai)
			require.Equal(t, packets%256, moved, "continuity counter")
		}
	}
}

// The sizes announced before muxing and the PES sizes behind them are exact: each
// segment's Size is its muxed length, whole TS packets.
func TestSegmentSizeIsMuxedLength(t *testing.T) {
	tags := clip(t)
	for _, sc := range goldenScenarios() {
		_, segs := goldenRun(t, sc, tags)
		require.NotEmpty(t, segs, sc.name)
		for _, seg := range segs {
			size := seg.Size()
			require.Zero(t, size%tsPacketSize)
			require.Equal(t, size, len(seg.Bytes()), "%s segment %d", sc.name, seg.Seq)
			require.Equal(t, size, cap(seg.Bytes()), "%s segment %d: buffer of the exact size", sc.name, seg.Seq)
		}
	}
}

// Concurrent requests for one segment mux it once and all get the same bytes; the
// frames (hub packet references) are dropped once it is muxed.
func TestSegmentBytesConcurrent(t *testing.T) {
	segs := segmentAll(t, clip(t), time.Second)
	seg := segs[1]
	require.NotEmpty(t, seg.body.frames)
	copies := []Segment{seg, seg, seg} // copies share the media
	var wg sync.WaitGroup
	got := make([][]byte, 16)
	for i := range got {
		wg.Go(func() { got[i] = copies[i%len(copies)].Bytes() })
	}
	wg.Wait()
	for _, b := range got {
		require.Len(t, b, seg.Size())
		require.Same(t, &got[0][0], &b[0], "muxed more than once")
	}
	require.Nil(t, seg.body.frames)
	require.Nil(t, seg.body.avc)
	require.Equal(t, got[0], seg.Bytes())
	demux(t, seg.Bytes())
}

func TestSegmentWithBytes(t *testing.T) {
	require.Nil(t, Segment{}.Bytes())
	require.Zero(t, Segment{}.Size())
	data := []byte("already muxed")
	seg := Segment{Seq: 3}.WithBytes(data)
	require.Equal(t, uint64(3), seg.Seq)
	require.Equal(t, len(data), seg.Size())
	require.True(t, bytes.Equal(data, seg.Bytes()))
	require.Same(t, &data[0], &seg.Bytes()[0])
}

// A malformed frame is refused when it arrives (counted in Errors, no TS
// packets), so the counters of the segments after it stay right.
func TestSegmenterDropsMalformedFrameOnArrival(t *testing.T) {
	tags := clip(t)
	var segs []Segment
	s := NewSegmenter("k", "k", time.Second, 0, func(seg Segment) { segs = append(segs, seg) })
	var n int
	for _, tag := range tags {
		s.WriteTag(tag.Type, tag.Timestamp, tag.Data)
		if tag.Timestamp == 520 && s.open && n == 0 {
			n = len(s.cur.frames)
			s.WriteTag(flv.TagVideo, 530, []byte{0x27, 1, 0, 0, 0, 0, 0, 0, 99, 0x41})
			require.Equal(t, int64(1), s.Errors)
			require.Len(t, s.cur.frames, n, "malformed frame collected")
		}
	}
	s.Flush()
	require.NotZero(t, n)
	requireContinuous(t, segs)
	for _, seg := range segs {
		require.NotEmpty(t, demux(t, seg.Bytes()).videoDTS)
	}
}

// requireContinuous checks every PID's continuity counter across the segments of
// one stream: each packet (all carry payload) is one more than the last.
func requireContinuous(t *testing.T, segs []Segment) {
	t.Helper()
	last := map[uint16]byte{}
	for _, seg := range segs {
		data := seg.Bytes()
		for i := 0; i < len(data); i += tsPacketSize {
			pkt := data[i : i+tsPacketSize]
			require.Equal(t, byte(0x47), pkt[0])
			pid := uint16(pkt[1]&0x1F)<<8 | uint16(pkt[2])
			require.NotZero(t, pkt[3]&0x10, "packet without payload")
			cc := pkt[3] & 0x0F
			if prev, ok := last[pid]; ok {
				require.Equal(t, (prev+1)&0x0F, cc, "segment %d, packet %d, PID %#x", seg.Seq, i/tsPacketSize, pid)
			}
			last[pid] = cc
		}
	}
}

// Continuity counters run on across segments in every scenario, however few of
// the segments before were muxed (here: none until the end).
func TestSegmenterContinuityAcrossSegments(t *testing.T) {
	tags := clip(t)
	for _, sc := range goldenScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			_, segs := goldenRun(t, sc, tags)
			requireContinuous(t, segs)
		})
	}
}
