package snapshot

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/blob/fsblob"
	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/boltstore"
)

// pacedSource replays packets in real time.
type pacedSource struct {
	pkts  []Packet
	i     int
	start time.Time
}

func (p *pacedSource) Next(ctx context.Context) (Packet, error) {
	if p.i >= len(p.pkts) {
		return Packet{}, io.EOF
	}
	pkt := p.pkts[p.i]
	p.i++
	if p.start.IsZero() {
		p.start = time.Now()
	}
	select {
	case <-time.After(time.Until(p.start.Add(time.Duration(pkt.Time) * time.Millisecond))):
	case <-ctx.Done():
		return Packet{}, ctx.Err()
	}
	return pkt, nil
}

func (p *pacedSource) Close() error { return nil }

func TestRun(t *testing.T) {
	pkts := encodeFLV(t, "320x240", "6.5")
	dir := t.TempDir()
	bs, err := fsblob.New(filepath.Join(dir, "blobs"))
	require.NoError(t, err)
	st, err := boltstore.Open(filepath.Join(dir, "db"))
	require.NoError(t, err)
	defer st.Close()
	dec := NewPersistent(DecoderConfig{})
	defer dec.Close()
	var (
		mu   sync.Mutex
		pics []Picture
	)
	var c Counters
	// ticks every 1.5 s, keyframes every 1 s: each tick has a new keyframe
	err = Run(t.Context(), Config{ChannelID: "ch1", BroadcastID: "b1", Interval: 1500 * time.Millisecond, Blob: bs, Index: st, Decoder: dec,
		Counters: &c, OnPicture: func(p Picture) { mu.Lock(); pics = append(pics, p); mu.Unlock() }}, &pacedSource{pkts: pkts})
	require.NoError(t, err)
	// first picture at the first keyframe, then every 1.5 s for 6.5 s
	require.GreaterOrEqual(t, len(pics), 4)
	require.LessOrEqual(t, len(pics), 5)
	require.EqualValues(t, len(pics), c.Taken.Load())
	require.Zero(t, c.DecodeFailed.Load()+c.StoreFailed.Load()+c.IndexFailed.Load())
	for i, p := range pics {
		require.Equal(t, SnapshotKey("ch1", "b1", p.Taken.Unix()), p.Key, "picture %d", i)
		rc, info, err := bs.Get(t.Context(), p.Key)
		require.NoError(t, err)
		require.Equal(t, "image/jpeg", info.ContentType)
		img, err := jpeg.Decode(rc)
		rc.Close()
		require.NoError(t, err)
		require.Equal(t, 320, img.Bounds().Dx())
		require.Equal(t, 240, img.Bounds().Dy())
		if i > 0 {
			gap := p.Taken.Sub(pics[i-1].Taken)
			require.InDelta(t, 1500*time.Millisecond, gap, float64(300*time.Millisecond), "picture %d: %v after the previous", i, gap)
			require.Greater(t, p.StreamTime, pics[i-1].StreamTime, "a new keyframe each time")
		}
		rec, err := st.GetRecording(t.Context(), p.RecordingID)
		require.NoError(t, err)
		require.Equal(t, store.KindSnapshot, rec.Kind)
		require.Equal(t, []string{p.Key}, rec.Keys)
		require.Equal(t, "b1", rec.BroadcastID)
		require.EqualValues(t, len(p.JPEG), rec.Bytes)
	}
}

// TestRunSkipsStaleKeyframes: with ticks more frequent than keyframes, a tick
// with no new keyframe takes no picture.
func TestRunSkipsStaleKeyframes(t *testing.T) {
	pkts := encodeFLV(t, "160x120", "3.5")
	bs, err := fsblob.New(t.TempDir())
	require.NoError(t, err)
	dec := NewPersistent(DecoderConfig{})
	defer dec.Close()
	var c Counters
	require.NoError(t, Run(t.Context(), Config{ChannelID: "ch1", BroadcastID: "b1", Interval: 250 * time.Millisecond,
		Blob: bs, Decoder: dec, Counters: &c}, &pacedSource{pkts: pkts}))
	// 4 keyframes in 3.5 s and about 14 ticks: never more pictures than keyframes
	require.GreaterOrEqual(t, c.Taken.Load(), int64(2))
	require.LessOrEqual(t, c.Taken.Load(), int64(len(keyframes(pkts))))
	require.Positive(t, c.StaleSkipped.Load(), "ticks without a new keyframe were skipped")
}

type failingDecoder struct{ n int }

func (f *failingDecoder) Decode(context.Context, Keyframe) ([]byte, error) {
	f.n++
	return nil, errors.New("boom")
}
func (f *failingDecoder) Restarts() int64 { return int64(f.n) }
func (f *failingDecoder) Close() error    { return nil }

func TestRunCountsFailures(t *testing.T) {
	pkts := encodeFLV(t, "160x120", "2.5")
	bs, err := fsblob.New(t.TempDir())
	require.NoError(t, err)
	var c Counters
	require.NoError(t, Run(t.Context(), Config{ChannelID: "ch1", BroadcastID: "b1", Interval: 500 * time.Millisecond,
		Blob: bs, Decoder: &failingDecoder{}, Counters: &c}, &pacedSource{pkts: pkts}))
	require.GreaterOrEqual(t, c.DecodeFailed.Load(), int64(2))
	require.Equal(t, c.DecodeFailed.Load(), c.Restarts.Load())
	require.Zero(t, c.Taken.Load())
}

func TestHandler(t *testing.T) {
	m := NewManager(ManagerConfig{})
	pic := []byte("\xff\xd8fake\xff\xd9")
	m.latest["ch1"] = Picture{ChannelID: "ch1", Key: "snapshots/ch1/b/1.jpg", Taken: time.Now().Add(-3 * time.Second), JPEG: pic}
	deny := func(r *http.Request, id string) error {
		if r.URL.Query().Get("sig") != "ok" {
			return errors.New("unsigned")
		}
		return nil
	}
	mux := http.NewServeMux()
	m.RegisterPlayback(mux, nil, deny)
	open := http.NewServeMux()
	m.RegisterPlayback(open, nil, nil)
	tests := []struct {
		name   string
		mux    *http.ServeMux
		method string
		path   string
		status int
		body   []byte
	}{
		{"latest", open, http.MethodGet, "/ch1/snapshot.jpg", 200, pic},
		{"head", open, http.MethodHead, "/ch1/snapshot.jpg", 200, nil},
		{"none", open, http.MethodGet, "/ch2/snapshot.jpg", 404, nil},
		{"bad id", open, http.MethodGet, "/.hidden/snapshot.jpg", 404, nil},
		{"unauthorized", mux, http.MethodGet, "/ch1/snapshot.jpg", 403, nil},
		{"unauthorized unknown", mux, http.MethodGet, "/ch2/snapshot.jpg", 403, nil},
		{"authorized", mux, http.MethodGet, "/ch1/snapshot.jpg?sig=ok", 200, pic},
		{"post", open, http.MethodPost, "/ch1/snapshot.jpg", 405, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			tc.mux.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
			require.Equal(t, tc.status, w.Code, w.Body.String())
			if tc.status != 200 {
				return
			}
			require.Equal(t, "image/jpeg", w.Header().Get("Content-Type"))
			require.Equal(t, "public, max-age=2", w.Header().Get("Cache-Control"))
			require.Equal(t, "*", w.Header().Get("Access-Control-Allow-Origin"))
			require.Equal(t, "snapshots/ch1/b/1.jpg", w.Header().Get("X-Snapshot-Key"))
			if tc.body != nil {
				require.True(t, bytes.Equal(tc.body, w.Body.Bytes()))
			}
		})
	}
	m.Counters.Taken.Add(3)
	m.Counters.StoreFailed.Add(1)
	got := gather(t, m)
	require.Equal(t, 3.0, got["livestack_snapshots_taken_total"])
	require.Equal(t, 1.0, got[`livestack_snapshots_failed_total{stage="store"}`])
	require.Equal(t, 0.0, got[`livestack_snapshots_failed_total{stage="decode"}`])
	require.InDelta(t, 3.0, got[`livestack_snapshot_age_seconds{channel="ch1"}`], 1)
}

// Snapshot keys live under the prefix the AWS bucket's lifecycle rule and the
// workers' IAM policy name (terraform/modules/storage, modules/processing).
func TestSnapshotKey(t *testing.T) {
	require.Equal(t, "snapshots/", KeyPrefix)
	require.Equal(t, "snapshots/cam1/b-20261206/1796540400.jpg", SnapshotKey("cam1", "b-20261206", 1796540400))
}
