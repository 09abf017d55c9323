package rtmpguard

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// loopReader returns head once, then loop over and over.
type loopReader struct {
	head, loop []byte
	pos        int
}

func (l *loopReader) Read(p []byte) (int, error) {
	if len(l.head) > 0 {
		n := copy(p, l.head)
		l.head = l.head[n:]
		return n, nil
	}
	n := copy(p, l.loop[l.pos:])
	l.pos = (l.pos + n) % len(l.loop)
	return n, nil
}

// BenchmarkReaderMedia passes about 1 MB of video (and some audio) in 4096-byte
// chunks through the guard per op, 32 KiB per Read, as a publisher's hot path.
func BenchmarkReaderMedia(b *testing.B) {
	var media []byte
	for i := range 16 {
		media = append(media, chunked(4096, video(uint32(i*33), 64<<10), audio(uint32(i*33), 400))...)
	}
	head := cat(handshake(), chunked(128, setChunkSize(4096)))
	g := NewReader(&loopReader{head: head, loop: media}, Limits{})
	_, err := io.ReadFull(g, make([]byte, len(head)))
	require.NoError(b, err)

	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(media)))
	b.ReportAllocs()
	for b.Loop() {
		for n := 0; n < len(media); {
			k, err := g.Read(buf[:min(len(buf), len(media)-n)])
			if err != nil {
				b.Fatal(err)
			}
			n += k
		}
	}
	b.StopTimer()
	require.NotZero(b, g.Stats().Messages)
}
