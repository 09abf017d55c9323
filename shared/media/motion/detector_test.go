package motion

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func frame(w, h int, fill byte, box func(x, y int) (byte, bool)) []byte {
	f := make([]byte, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			f[y*w+x] = fill
			if box != nil {
				if v, ok := box(x, y); ok {
					f[y*w+x] = v
				}
			}
		}
	}
	return f
}

// square draws a v-valued square of side s at (x0, y0).
func square(x0, y0, s int, v byte) func(x, y int) (byte, bool) {
	return func(x, y int) (byte, bool) {
		return v, x >= x0 && x < x0+s && y >= y0 && y < y0+s
	}
}

func TestChangedPercent(t *testing.T) {
	const w, h = 10, 10
	tests := []struct {
		name string
		a, b []byte
		diff int
		want float64
	}{
		{"identical", frame(w, h, 50, nil), frame(w, h, 50, nil), 10, 0},
		{"all changed", frame(w, h, 0, nil), frame(w, h, 255, nil), 10, 100},
		{"darker counts too", frame(w, h, 200, nil), frame(w, h, 100, nil), 10, 100},
		{"at threshold not counted", frame(w, h, 100, nil), frame(w, h, 110, nil), 10, 0},
		{"just over threshold", frame(w, h, 100, nil), frame(w, h, 111, nil), 10, 100},
		{"noise under threshold", frame(w, h, 100, nil), frame(w, h, 100, func(x, y int) (byte, bool) { return byte(100 + (x+y)%9), true }), 10, 0},
		{"quarter", frame(w, h, 0, nil), frame(w, h, 0, square(0, 0, 5, 200)), 10, 25},
		{"square moved", frame(w, h, 0, square(0, 0, 2, 200)), frame(w, h, 0, square(5, 5, 2, 200)), 10, 8},
		{"length mismatch", make([]byte, 4), make([]byte, 5), 10, 0},
		{"empty", nil, nil, 10, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.InDelta(t, tc.want, ChangedPercent(tc.a, tc.b, tc.diff), 1e-9)
		})
	}
}

func TestDetector(t *testing.T) {
	const w, h = 20, 10
	still := frame(w, h, 30, nil)
	tests := []struct {
		name    string
		diff    int
		percent float64
		frames  [][]byte
		want    []bool
	}{
		{"first frame is only a reference", 10, 1, [][]byte{frame(w, h, 255, nil)}, []bool{false}},
		{"still scene", 10, 1, [][]byte{still, still, still}, []bool{false, false, false}},
		{"box appears, stays, leaves", 10, 4, [][]byte{still, frame(w, h, 30, square(0, 0, 3, 250)), frame(w, h, 30, square(0, 0, 3, 250)), still},
			[]bool{false, true, false, true}},
		{"small box under percent", 10, 10, [][]byte{still, frame(w, h, 30, square(0, 0, 3, 250))}, []bool{false, false}},
		{"faint change under diff", 50, 1, [][]byte{still, frame(w, h, 60, nil)}, []bool{false, false}},
		{"size change resets", 10, 1, [][]byte{still, frame(w, h/2, 200, nil), frame(w, h/2, 200, nil)}, []bool{false, false, false}},
		{"global flash", 10, 30, [][]byte{still, frame(w, h, 200, nil), frame(w, h, 200, nil)}, []bool{false, true, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &Detector{Diff: tc.diff, Percent: tc.percent}
			for i, f := range tc.frames {
				_, got := d.Feed(f)
				require.Equal(t, tc.want[i], got, "frame %d", i)
			}
		})
	}
	d := &Detector{Diff: 10, Percent: 1}
	d.Feed(still)
	d.Reset()
	_, m := d.Feed(frame(w, h, 255, nil))
	require.False(t, m, "after Reset the next frame is only a reference")
}

func BenchmarkChangedPercent(b *testing.B) {
	a, c := frame(160, 120, 10, nil), frame(160, 120, 10, square(40, 40, 40, 200))
	b.SetBytes(int64(len(a)))
	for b.Loop() {
		ChangedPercent(a, c, 10)
	}
}

func TestManagerRemovesStaleSpool(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"motion-1.flv", "motion-2.flv.mp4", "keep.txt"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600))
	}
	NewManager(ManagerConfig{SpoolDir: dir})
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, left, 1)
	require.Equal(t, "keep.txt", left[0].Name())
}
