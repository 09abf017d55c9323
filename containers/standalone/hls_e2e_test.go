package main

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/hls/hlstest"
)

// httpGet fetches url and returns status, headers and body.
func httpGet(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

// resolve joins a playlist-relative URI onto the playlist's URL.
func resolve(playlist, uri string) string {
	return playlist[:strings.LastIndexByte(playlist, '/')+1] + uri
}

// probeDurations returns ffprobe's per-codec stream durations of a file.
func probeDurations(t *testing.T, file string) map[string]float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,duration", "-of", "csv=p=0", file).CombinedOutput()
	require.NoError(t, err, "%s", out)
	durs := map[string]float64{}
	for _, l := range strings.Fields(string(out)) {
		name, ds, _ := strings.Cut(l, ",")
		d, err := strconv.ParseFloat(ds, 64)
		require.NoError(t, err, "%s", out)
		durs[name] = d
	}
	return durs
}

// pushFFmpeg publishes testsrc2 + sine for secs seconds (real time) with ffmpeg.
func pushFFmpeg(ctx context.Context, url string, secs int) ([]byte, error) {
	return exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(secs), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k", "-f", "flv", url).CombinedOutput()
}

func TestHLSAndCMAFFromFFmpeg(t *testing.T) {
	needFFmpeg(t)
	in := testInstance(t, nil)
	in.addChannel(t, "hlscam", func(c *channel.Channel) {
		c.Outputs.CMAF = true
		c.Outputs.HLSSegmentSeconds = 1
	})
	base := in.URLs.PlayBase + "/hlscam/"

	// nothing published yet: 404, with CORS
	code, h, _ := httpGet(t, base+"live.m3u8")
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "*", h.Get("Access-Control-Allow-Origin"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pushed := make(chan error, 1)
	start := time.Now()
	go func() {
		out, err := pushFFmpeg(ctx, in.pushURL("hlscam", time.Now().Add(time.Hour)), 7)
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		pushed <- err
	}()

	// the first playlist appears as soon as the first segment is complete
	var live *hlstest.Media
	require.Eventually(t, func() bool {
		code, _, body := httpGet(t, base+"live.m3u8")
		if code != http.StatusOK {
			return false
		}
		m, err := hlstest.ParseMedia(body)
		require.NoError(t, err, "%s", body)
		live = m
		return true
	}, 6*time.Second, 50*time.Millisecond)
	t.Logf("publish -> first TS playlist: %s", time.Since(start))

	// LL-HLS: master -> media playlist with parts, the first part soon after publish
	code, h, body := httpGet(t, base+"master.m3u8")
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.Equal(t, "application/vnd.apple.mpegurl", h.Get("Content-Type"))
	require.Equal(t, "*", h.Get("Access-Control-Allow-Origin"))
	variants, err := hlstest.ParseMultivariant(body)
	require.NoError(t, err)
	require.Len(t, variants, 1)
	require.Regexp(t, `^avc1\.[0-9a-f]{6},mp4a\.40\.2$`, variants[0].Codecs)
	require.Equal(t, "320x240", variants[0].Resolution)
	mediaURL := resolve(base+"master.m3u8", variants[0].URI)

	// blocking reload: ask for the part after the preload hint's; it returns when it exists
	code, _, body = httpGet(t, mediaURL)
	require.Equal(t, http.StatusOK, code)
	ll, err := hlstest.ParseMedia(body)
	require.NoError(t, err, "%s", body)
	require.NoError(t, ll.Validate(), "%s", body)
	msn := ll.MediaSequence + uint64(len(ll.Segments))
	part := len(ll.Trailing) + 1
	t0 := time.Now()
	code, h, body = httpGet(t, fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", mediaURL, msn, part))
	waited := time.Since(t0)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.Equal(t, "*", h.Get("Access-Control-Allow-Origin"))
	ll2, err := hlstest.ParseMedia(body)
	require.NoError(t, err)
	require.NoError(t, ll2.Validate(), "%s", body)
	require.NoError(t, hlstest.CheckProgress(ll, ll2))
	edge := ll2.MediaSequence + uint64(len(ll2.Segments))
	require.True(t, edge > msn || len(ll2.Trailing) > part, "the requested part is in the playlist:\n%s", body)
	require.Less(t, waited, 1500*time.Millisecond)
	t.Logf("blocking reload for part %d.%d waited %s", msn, part, waited)

	// follow the TS playlist while the stream runs: it only moves forward
	prev := live
	for time.Since(start) < 6*time.Second {
		time.Sleep(400 * time.Millisecond)
		code, _, body := httpGet(t, base+"live.m3u8")
		require.Equal(t, http.StatusOK, code)
		m, err := hlstest.ParseMedia(body)
		require.NoError(t, err)
		require.NoError(t, m.Validate(), "%s", body)
		require.NoError(t, hlstest.CheckProgress(prev, m))
		prev = m
	}
	require.GreaterOrEqual(t, len(prev.Segments), 4)

	// TS segments: cache headers, and ffprobe reads h264+aac of the listed duration ±1 frame
	dir := t.TempDir()
	for i, seg := range prev.Segments {
		code, h, data := httpGet(t, resolve(base+"live.m3u8", seg.URI))
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "video/mp2t", h.Get("Content-Type"))
		require.Contains(t, h.Get("Cache-Control"), "immutable")
		require.Equal(t, "*", h.Get("Access-Control-Allow-Origin"))
		f := filepath.Join(dir, fmt.Sprintf("ts%d.ts", i))
		require.NoError(t, os.WriteFile(f, data, 0o600))
		d := probeDurations(t, f)
		require.Contains(t, d, "h264")
		require.Contains(t, d, "aac")
		require.InDelta(t, seg.Duration, d["h264"], 0.041, "segment %s video duration", seg.URI)
	}

	// CMAF segments: init + segment decode to the listed duration
	code, _, body = httpGet(t, mediaURL)
	require.Equal(t, http.StatusOK, code)
	ll, err = hlstest.ParseMedia(body)
	require.NoError(t, err)
	require.NoError(t, ll.Validate(), "%s", body)
	code, _, initSeg := httpGet(t, resolve(mediaURL, ll.Segments[0].Map))
	require.Equal(t, http.StatusOK, code)
	for i, seg := range ll.Segments {
		code, _, data := httpGet(t, resolve(mediaURL, seg.URI))
		require.Equal(t, http.StatusOK, code)
		f := filepath.Join(dir, fmt.Sprintf("c%d.mp4", i))
		require.NoError(t, os.WriteFile(f, append(append([]byte(nil), initSeg...), data...), 0o600))
		// fragment times start at the segment's place in the stream: count frames instead
		out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", f).CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "aac,")
		var frames int
		for _, l := range strings.Fields(string(out)) {
			if n, ok := strings.CutPrefix(l, "h264,"); ok {
				frames, err = strconv.Atoi(n)
				require.NoError(t, err)
			}
		}
		require.InDelta(t, seg.Duration*25, float64(frames), 1, "segment %s: video frames ±1", seg.URI)
	}

	// DASH: the template resolves to the same segments
	code, h, body = httpGet(t, base+"manifest.mpd")
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.Equal(t, "application/dash+xml", h.Get("Content-Type"))
	var mpd struct {
		Type string `xml:"type,attr"`
		Tpl  struct {
			Init        string `xml:"initialization,attr"`
			Media       string `xml:"media,attr"`
			StartNumber uint64 `xml:"startNumber,attr"`
			S           []struct {
				D int64 `xml:"d,attr"`
			} `xml:"SegmentTimeline>S"`
		} `xml:"Period>AdaptationSet>Representation>SegmentTemplate"`
	}
	require.NoError(t, xml.Unmarshal(body, &mpd), "%s", body)
	require.Equal(t, "dynamic", mpd.Type)
	require.NotEmpty(t, mpd.Tpl.S)
	code, _, _ = httpGet(t, base+mpd.Tpl.Init)
	require.Equal(t, http.StatusOK, code)
	for i := range mpd.Tpl.S {
		name := strings.ReplaceAll(mpd.Tpl.Media, "$Number$", strconv.FormatUint(mpd.Tpl.StartNumber+uint64(i), 10))
		code, _, _ := httpGet(t, base+name)
		require.Equal(t, http.StatusOK, code, name)
	}

	// metrics name the stream's packagers
	_, _, metrics := httpGet(t, in.URLs.PlayBase+"/metrics")
	require.Contains(t, string(metrics), `livestack_packager_segments_total{format="ts",stream="hlscam"}`)
	require.Contains(t, string(metrics), `livestack_packager_segments_total{format="cmaf",stream="hlscam"}`)
	require.Contains(t, string(metrics), `livestack_packager_live_edge_age_seconds{format="ts",stream="hlscam"}`)

	require.NoError(t, <-pushed)
	// the ended stream's playlist ends with EXT-X-ENDLIST
	require.Eventually(t, func() bool {
		_, _, body := httpGet(t, base+"live.m3u8")
		return strings.Contains(string(body), "#EXT-X-ENDLIST")
	}, 15*time.Second, 200*time.Millisecond)

	// unknown streams and files are 404
	code, _, _ = httpGet(t, in.URLs.PlayBase+"/nosuch/live.m3u8")
	require.Equal(t, http.StatusNotFound, code)
	code, _, _ = httpGet(t, base+"s0-999.ts")
	require.Equal(t, http.StatusNotFound, code)
}

func TestHLSOffChannelServesNoPlaylist(t *testing.T) {
	fx := media(t)
	in := testInstance(t, nil)
	off := false
	url := in.addChannel(t, "nohls", func(c *channel.Channel) { c.Outputs.HLS = &off })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = publishTags(ctx, url, fx, publishOpts{loops: 2}) }()
	openViewer(t, in.flvURL("nohls")) // live
	time.Sleep(1500 * time.Millisecond)
	for _, f := range []string{"live.m3u8", "master.m3u8", "manifest.mpd"} {
		code, _, _ := httpGet(t, in.URLs.PlayBase+"/nohls/"+f)
		require.Equal(t, http.StatusNotFound, code, f)
	}
}

func TestHLSPublisherReconnectContinuesPlaylist(t *testing.T) {
	fx := media(t)
	in := testInstance(t, nil)
	url := in.addChannel(t, "hlsflaky", func(c *channel.Channel) {
		c.Outputs.CMAF = true
		c.Outputs.HLSSegmentSeconds = 1
		c.Outputs.HLSListSize = 20
	})
	base := in.URLs.PlayBase + "/hlsflaky/"

	var (
		mu        sync.Mutex
		snapshots []*hlstest.Media
		llSnaps   []*hlstest.Media
	)
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(150 * time.Millisecond):
			}
			for _, p := range []struct {
				name string
				dst  *[]*hlstest.Media
			}{{"live.m3u8", &snapshots}, {"media.m3u8", &llSnaps}} {
				resp, err := http.Get(base + p.name)
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					continue
				}
				m, err := hlstest.ParseMedia(b)
				if err != nil {
					t.Errorf("%s: %v\n%s", p.name, err, b)
					continue
				}
				if err := m.Validate(); err != nil {
					t.Errorf("%s: %v\n%s", p.name, err, b)
				}
				mu.Lock()
				*p.dst = append(*p.dst, m)
				mu.Unlock()
			}
		}
	}()

	first, cancel1 := context.WithTimeout(context.Background(), 3500*time.Millisecond)
	defer cancel1()
	_ = publishTags(first, url, fx, publishOpts{loops: 1})
	time.Sleep(800 * time.Millisecond) // gone, within the 10 s reconnect window
	second, cancel2 := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel2()
	_ = publishTags(second, url, fx, publishOpts{}) // the encoder's clock restarts at 0
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-polled

	mu.Lock()
	defer mu.Unlock()
	for _, snaps := range [][]*hlstest.Media{snapshots, llSnaps} {
		require.Greater(t, len(snaps), 10)
		for i := 1; i < len(snaps); i++ {
			require.NoError(t, hlstest.CheckProgress(snaps[i-1], snaps[i]))
		}
		last := snaps[len(snaps)-1]
		require.Zero(t, last.MediaSequence, "one playlist from the first segment on")
		require.GreaterOrEqual(t, len(last.Segments), 5, "segments from both sessions")
		for _, s := range last.Segments {
			require.False(t, s.Discontinuity, "same codec parameters: no discontinuity (segment %d)", s.Seq)
		}
		require.InDelta(t, last.Duration(), float64(len(last.Segments)), 1.01)
	}
	require.Equal(t, 1, in.Gateway.Hub.Stream("hlsflaky").Stats().Reconnects)
}
