package recording

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/stretchr/testify/require"
)

func randomPart(r *rand.Rand) fmp4.Part {
	p := fmp4.Part{SequenceNumber: r.Uint32()}
	for id := 1; id <= r.IntN(3)+1; id++ {
		t := &fmp4.PartTrack{ID: id, BaseTime: r.Uint64() >> r.IntN(64)}
		for range r.IntN(40) {
			s := &fmp4.Sample{Duration: r.Uint32() >> r.IntN(32), Payload: make([]byte, r.IntN(3000))}
			if r.IntN(4) == 0 {
				s.IsNonSyncSample = true
			}
			if r.IntN(3) == 0 {
				s.PTSOffset = int32(r.Uint32()) >> r.IntN(32)
			}
			for i := range s.Payload {
				s.Payload[i] = byte(r.Uint32())
			}
			t.Samples = append(t.Samples, s)
		}
		p.Tracks = append(p.Tracks, t)
	}
	return p
}

func TestAppendPartMatchesMediacommon(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fixed := []fmp4.Part{
		{SequenceNumber: 1, Tracks: []*fmp4.PartTrack{{ID: 1}}},
		{SequenceNumber: 7, Tracks: []*fmp4.PartTrack{
			{ID: 1, BaseTime: 90000, Samples: []*fmp4.Sample{{Duration: 3000, Payload: []byte{1, 2, 3}}, {Duration: 3000, IsNonSyncSample: true, PTSOffset: -3000, Payload: []byte{4}}}},
			{ID: 2, BaseTime: 44100, Samples: []*fmp4.Sample{{Duration: 1024, Payload: []byte{5, 6}}}},
		}},
	}
	for i := 0; i < 500; i++ {
		fixed = append(fixed, randomPart(r))
	}
	prefix := []byte("journal so far")
	for i, p := range fixed {
		var want seekablebuffer.Buffer
		require.NoError(t, p.Marshal(&want), "part %d", i)
		got := appendPart(append([]byte{}, prefix...), p)
		require.True(t, bytes.HasPrefix(got, prefix))
		require.Equal(t, want.Bytes(), got[len(prefix):], "part %d", i)
	}
}

func BenchmarkFragment(b *testing.B) {
	// one second of 30 fps video at ~1 Mbit/s and 44.1 kHz AAC
	p := fmp4.Part{SequenceNumber: 1}
	v := &fmp4.PartTrack{ID: 1}
	for i := 0; i < 30; i++ {
		v.Samples = append(v.Samples, &fmp4.Sample{Duration: 3000, IsNonSyncSample: i > 0, PTSOffset: 3000, Payload: make([]byte, 3800)})
	}
	a := &fmp4.PartTrack{ID: 2}
	for i := 0; i < 43; i++ {
		a.Samples = append(a.Samples, &fmp4.Sample{Duration: 1024, Payload: make([]byte, 280)})
	}
	p.Tracks = []*fmp4.PartTrack{v, a}
	b.Run("mediacommon", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var buf seekablebuffer.Buffer
			if err := p.Marshal(&buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("appendPart", func(b *testing.B) {
		b.ReportAllocs()
		var dst []byte
		for b.Loop() {
			dst = appendPart(dst[:0], p)
		}
	})
}

// parseFragment reads back what appendPart writes, as mediacommon's parser
// does, and refuses what it does not know.
func TestParseFragmentMatchesMediacommon(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 300; i++ {
		p := randomPart(r)
		b := appendPart(nil, p)
		got, ok := parseFragment(b)
		require.True(t, ok, "part %d", i)
		var want fmp4.Parts
		require.NoError(t, want.Unmarshal(b))
		require.Len(t, want, 1)
		require.Equal(t, want[0].SequenceNumber, got.SequenceNumber)
		require.Equal(t, len(want[0].Tracks), len(got.Tracks))
		for k, wt := range want[0].Tracks {
			gt := got.Tracks[k]
			require.Equal(t, wt.ID, gt.ID)
			require.Equal(t, wt.BaseTime, gt.BaseTime)
			require.Equal(t, len(wt.Samples), len(gt.Samples))
			for j, ws := range wt.Samples {
				require.Equal(t, *ws, *gt.Samples[j], "part %d track %d sample %d", i, k, j)
			}
		}
		// anything cut short or changed in its structure is refused
		for _, cut := range []int{1, 9, len(b) / 2, len(b) - 1} {
			if cut < len(b) {
				_, ok := parseFragment(b[:cut])
				require.False(t, ok)
			}
		}
	}
	b := appendPart(nil, fmp4.Part{SequenceNumber: 1, Tracks: []*fmp4.PartTrack{{ID: 1, Samples: []*fmp4.Sample{{Duration: 1, Payload: []byte{1}}}}}})
	b[8+16+8+16+4] = 'X' // tfdt renamed
	_, ok := parseFragment(b)
	require.False(t, ok)
}

func FuzzParseFragment(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		f.Add(appendPart(nil, randomPart(r)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := parseFragment(b)
		if !ok {
			return
		}
		// whatever it accepts, it writes back to the same bytes
		if got := appendPart(nil, p); !bytes.Equal(got, b) {
			var want fmp4.Parts
			if err := want.Unmarshal(b); err != nil {
				t.Fatalf("accepted a fragment mediacommon refuses: %v", err)
			}
		}
	})
}

// parseFragment reads a whole moof+mdat through parseMoof into an fmp4.Part
// whose payloads alias b, to compare with mediacommon's parser.
func parseFragment(b []byte) (p fmp4.Part, ok bool) {
	seq, tracks, ok := parseMoof(b, len(b))
	if !ok {
		return p, false
	}
	p.SequenceNumber = seq
	for _, ft := range tracks {
		t := &fmp4.PartTrack{ID: ft.ID, BaseTime: ft.BaseTime}
		for _, fs := range ft.Samples {
			s := fs.Sample
			s.Payload = b[fs.Offset : fs.Offset+int64(fs.Size)]
			t.Samples = append(t.Samples, &s)
		}
		p.Tracks = append(p.Tracks, t)
	}
	return p, true
}

// writeVec writes every buffer in order, more buffers than one writev takes
// included, and the journal's fragments are appendPart's bytes.
func TestWriteVec(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 1023, 1024, 1025, 3000} {
		var bufs [][]byte
		want := []byte{}
		for i := range n {
			b := make([]byte, r.IntN(40)) // some empty
			for k := range b {
				b[k] = byte(i + k)
			}
			bufs = append(bufs, b)
			want = append(want, b...)
		}
		path := filepath.Join(t.TempDir(), "v")
		f, err := os.Create(path)
		require.NoError(t, err)
		written, err := writeVec(f, bufs)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		require.Equal(t, int64(len(want)), written)
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, want, got, "%d buffers", n)
	}

	path := filepath.Join(t.TempDir(), "j.mp4.journal")
	j, err := createJournal(path, &fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: 90000, Codec: &codecs.H264{SPS: testSPS, PPS: []byte{0x08}}}}}, nil)
	require.NoError(t, err)
	start := j.bytes
	var want []byte
	for i := range 5 {
		p := randomPart(r)
		p.SequenceNumber = uint32(i + 1)
		want = appendPart(want, p)
		require.NoError(t, j.writePart(p.Tracks))
	}
	require.NoError(t, j.close())
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, int64(len(got)), j.bytes)
	require.Equal(t, want, got[start:])
}
