package snapshot

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func goJPEG(t testing.TB, w, h int, seed byte) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{byte(x*7) + seed, byte(y * 13), byte(x * y), 255})
		}
	}
	var b bytes.Buffer
	require.NoError(t, jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}))
	return b.Bytes()
}

// handJPEG is a structurally valid JPEG stream exercising fill bytes, stuffed
// 0xFF00, restart markers and a standalone TEM marker (not decodable).
func handJPEG() []byte {
	return []byte{
		0xFF, 0xD8, // SOI
		0xFF, 0xFF, 0xE0, 0x00, 0x04, 0xAA, 0xBB, // fill byte, APP0 of 2 bytes
		0xFF, 0x01, // TEM
		0xFF, 0xDA, 0x00, 0x03, 0x01, // SOS header
		0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD7, 0x78, // entropy data
		0xFF, 0xFF, 0xD9, // EOI after a fill byte
	}
}

func TestJPEGReader(t *testing.T) {
	a, b := goJPEG(t, 64, 48, 0), goJPEG(t, 33, 17, 99)
	hand := handJPEG()
	wantHand := append([]byte(nil), hand...)
	wantHand = append(wantHand[:2], wantHand[3:]...) // the reader drops fill bytes
	wantHand = append(wantHand[:len(wantHand)-3], 0xFF, 0xD9)
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    [][]byte
		wantErr error // after the wanted pictures
	}{
		{"empty", nil, 0, nil, io.EOF},
		{"one", a, 0, [][]byte{a}, io.EOF},
		{"three", bytes.Join([][]byte{a, b, a}, nil), 0, [][]byte{a, b, a}, io.EOF},
		{"markers", hand, 0, [][]byte{wantHand}, io.EOF},
		{"truncated", append(append([]byte(nil), a...), b[:len(b)/2]...), 0, [][]byte{a}, io.ErrUnexpectedEOF},
		{"half soi", []byte{0xFF}, 0, nil, io.ErrUnexpectedEOF},
		{"no soi", []byte{0x00, 0x01, 0x02}, 0, nil, errAny},
		{"too large", a, len(a) - 1, nil, ErrJPEGTooLarge},
		{"bad length", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01}, 0, nil, errAny},
		{"sof without ff", []byte{0xFF, 0xD8, 0x12}, 0, nil, errAny},
		{"nested soi", []byte{0xFF, 0xD8, 0xFF, 0xD8}, 0, nil, errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewJPEGReader(bytes.NewReader(tc.in), tc.max)
			for i, w := range tc.want {
				got, err := r.Next()
				require.NoError(t, err, "picture %d", i)
				require.Equal(t, w, got, "picture %d", i)
			}
			_, err := r.Next()
			require.Error(t, err)
			if tc.wantErr != errAny {
				require.ErrorIs(t, err, tc.wantErr)
			}
		})
	}
	// the pictures decode
	r := NewJPEGReader(bytes.NewReader(bytes.Join([][]byte{a, b}, nil)), 0)
	for _, w := range []int{64, 33} {
		p, err := r.Next()
		require.NoError(t, err)
		img, err := jpeg.Decode(bytes.NewReader(p))
		require.NoError(t, err)
		require.Equal(t, w, img.Bounds().Dx())
	}
}

var errAny = errors.New("any error")

func FuzzJPEGReader(f *testing.F) {
	f.Add(goJPEG(f, 16, 16, 1))
	f.Add(bytes.Join([][]byte{goJPEG(f, 8, 8, 2), handJPEG()}, nil))
	f.Add(handJPEG())
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0xFF})
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 1 << 16
		r := NewJPEGReader(bytes.NewReader(in), max)
		total := 0
		for i := 0; i < 1000; i++ {
			p, err := r.Next()
			if err != nil {
				return
			}
			if len(p) < 4 || p[0] != 0xFF || p[1] != 0xD8 || p[len(p)-2] != 0xFF || p[len(p)-1] != 0xD9 {
				t.Fatalf("picture without SOI/EOI: % x", p)
			}
			if len(p) > max {
				t.Fatalf("picture of %d bytes over the limit", len(p))
			}
			total += len(p)
			if total > len(in) {
				t.Fatalf("returned %d bytes from %d of input", total, len(in))
			}
		}
	})
}
