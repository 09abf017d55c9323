package rtmpguard

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzLimits are small so the fuzzer reaches every limit.
var fuzzLimits = Limits{
	MaxMessageSize:  1 << 16,
	MaxCommandSize:  4 << 10,
	MaxChunkSize:    1 << 16,
	MaxChunkStreams: 8,
	MaxAMFDepth:     8,
	MaxAMFValues:    256,
}

// stepReader returns at most step bytes per Read.
type stepReader struct {
	b    []byte
	step int
}

func (s *stepReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), s.step)], s.b)
	s.b = s.b[n:]
	return n, nil
}

// FuzzReader feeds arbitrary bytes after a valid handshake, read in pieces of
// split bytes (0: as they come). The guard must not panic, must pass on a
// prefix of the input unchanged, all of it unless it reports a violation at
// the first byte withheld, and must keep its buffers within the limits.
// go-rtmp's own chunk reader, fed what the guard passed on, must read the same
// messages and not panic, and go-amf0 must decode the command bodies without
// running out of memory.
func FuzzReader(f *testing.F) {
	for _, tc := range ruleCases(f) {
		if len(tc.input) > 1+2*handshakeSize {
			f.Add(tc.input[1+2*handshakeSize:], uint16(0))
			f.Add(tc.input[1+2*handshakeSize:], uint16(5))
		}
	}
	hs := handshake()
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		input := append(hs[:len(hs):len(hs)], data...)
		var src io.Reader = bytes.NewReader(input)
		if split != 0 {
			src = &stepReader{b: input, step: int(split)}
		}
		var msgs []messageInfo
		g := NewReader(src, fuzzLimits)
		g.onMessage = func(m messageInfo) { msgs = append(msgs, m) }
		out, err := readAll(g, 4096)

		require.True(t, bytes.Equal(input[:len(out)], out), "passed bytes differ from input")
		var v *Violation
		if errors.As(err, &v) {
			require.ErrorIs(t, err, ErrViolation)
			require.Equal(t, int64(len(out)), v.Offset)
			require.Less(t, len(out), len(input))
		} else {
			require.ErrorIs(t, err, io.EOF)
			require.Len(t, out, len(input))
		}

		lim := fuzzLimits.withDefaults()
		require.LessOrEqual(t, len(g.streams), lim.MaxChunkStreams)
		for _, cs := range g.streams {
			require.LessOrEqual(t, cap(cs.body), 2*lim.MaxCommandSize)
		}
		require.Equal(t, uint64(len(out)), g.Stats().Bytes)
		require.Equal(t, uint64(len(msgs)), g.Stats().Messages)

		requireInSync(t, out, err, msgs, fuzzLimits)
	})
}
