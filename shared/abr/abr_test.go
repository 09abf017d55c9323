package abr

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/hub"
)

func TestSnapRate(t *testing.T) {
	for in, want := range map[float64]float64{9.54: 10, 29.6: 29.97, 30.4: 30, 29.97: 29.97, 59.2: 59.94, 24.1: 24, 7.5: 7.5, 33.3: 33.3} {
		require.Equal(t, want, snapRate(in), "%v", in)
	}
}

func TestBandwidth(t *testing.T) {
	peak, avg := bandwidth("360p", hub.Stats{AudioCodecString: "mp4a.40.2", BitrateIn: 9_000_000})
	require.Equal(t, 440_000+AudioBitrate, peak, "maxrate plus audio, whatever was measured")
	require.Equal(t, 400_000+AudioBitrate, avg)
	peak, avg = bandwidth("1080p", hub.Stats{})
	require.Equal(t, 2_200_000, peak)
	require.Equal(t, 2_000_000, avg)
	peak, avg = bandwidth("original", hub.Stats{BitrateIn: 2_500_000})
	require.Equal(t, 2_750_000, peak)
	require.Equal(t, 2_500_000, avg)
	// Not measured yet: the worker's target for the source's size.
	peak, avg = bandwidth("original", hub.Stats{Height: 720, AudioCodecString: "mp4a.40.2"})
	require.Equal(t, 1_100_000+AudioBitrate, peak)
	require.Equal(t, 1_000_000+AudioBitrate, avg)
	_, avg = bandwidth("original", hub.Stats{Height: 1000})
	require.Equal(t, 2_500_000, avg)
}

func TestMasterErrors(t *testing.T) {
	h := hub.New(hub.Config{})
	mux := http.NewServeMux()
	mux.Handle(Pattern, &Master{Hub: h, Authorize: func(r *http.Request, id string) error {
		if id == "private" {
			return errors.New("unsigned")
		}
		return nil
	}})
	for path, want := range map[string]int{
		"/demo/index.m3u8":    http.StatusNotFound, // nothing live
		"/private/index.m3u8": http.StatusForbidden,
		"/a..b/index.m3u8":    http.StatusNotFound,
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		require.Equal(t, want, rec.Code, path)
	}
	// A rendition without a sequence header yet is not listed.
	p, err := h.Publish("demo/360p", hub.PublishOptions{})
	require.NoError(t, err)
	defer p.Close("test")
	require.Empty(t, (&Master{Hub: h}).Variants("demo", ""))
}

func FuzzParseFrameRate(f *testing.F) {
	f.Add([]byte("\x02\x00\x0aonMetaData\x08\x00\x00\x00\x01\x00\x09framerate\x00\x40\x39\x00\x00\x00\x00\x00\x00\x00\x00\x09"))
	f.Add([]byte("\x02\x00\x0aonMetaData\x03\x00\x00\x09"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r := parseFrameRate(b); r < 0 || r > 1000 || r != r {
			t.Fatalf("frame rate %v", r)
		}
	})
}

func TestParseFrameRate(t *testing.T) {
	require.Equal(t, 25.0, parseFrameRate([]byte("\x02\x00\x0aonMetaData\x08\x00\x00\x00\x01\x00\x09framerate\x00\x40\x39\x00\x00\x00\x00\x00\x00\x00\x00\x09")))
	require.Zero(t, parseFrameRate([]byte("\x02\x00\x0aonMetaData\x03\x00\x00\x09")))
	require.Zero(t, parseFrameRate([]byte("junk")))
}
