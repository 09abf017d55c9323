// Package abr serves the adaptive-bitrate master playlist of a channel,
// /{channelId}/index.m3u8: one variant per rendition the worker is publishing
// into the hub right now ("{channelId}/{rendition}"), with BANDWIDTH,
// RESOLUTION, CODECS and FRAME-RATE read from the renditions' own streams, and
// variant URIs pointing at the renditions' HLS playlists
// ("{rendition}/live.m3u8", served by the HLS packager for any hub key).
package abr

import (
	"math"
	"net/http"
	"sort"
	"strconv"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/transcode"
)

// Pattern is the route of the master playlist (net/http ServeMux syntax).
const Pattern = "GET /{channel}/index.m3u8"

// AudioBitrate is assumed for a variant's audio when its bitrate is not
// measured yet.
const AudioBitrate = transcode.DefaultAudioBitrate

// Master serves /{channelId}/index.m3u8 from the hub.
type Master struct {
	Hub *hub.Hub
	// Authorize checks signed playback like every other playback path; nil
	// lets everyone play.
	Authorize func(r *http.Request, channelID string) error

	rates frameRates
}

// Variants returns the channel's live worker renditions (360p-1080p and the
// watermarked full-size "original") as master playlist variants, lowest
// bandwidth first. query is appended to each URI (so signed
// play parameters reach the media playlists).
func (m *Master) Variants(channelID, query string) []*playlist.MultivariantVariant {
	var out []*playlist.MultivariantVariant
	for _, rend := range ingest.RenditionNames {
		s := m.Hub.Stream(channelID + "/" + rend)
		if s == nil || !s.Live() {
			continue
		}
		st := s.Stats()
		if st.VideoCodecString == "" || st.Width == 0 || st.Height == 0 {
			continue // no sequence header yet: not playable
		}
		peak, avg := bandwidth(rend, st)
		v := &playlist.MultivariantVariant{
			Bandwidth:        peak,
			AverageBandwidth: &avg,
			Codecs:           []string{st.VideoCodecString},
			Resolution:       strconv.Itoa(st.Width) + "x" + strconv.Itoa(st.Height),
			URI:              rend + "/live.m3u8",
		}
		if st.AudioCodecString != "" {
			v.Codecs = append(v.Codecs, st.AudioCodecString)
		}
		if fps := m.rates.get(s); fps > 0 {
			fps = math.Round(fps*1000) / 1000
			v.FrameRate = &fps
		} else if st.FPS > 0 {
			fps := snapRate(st.FPS)
			v.FrameRate = &fps
		}
		if query != "" {
			v.URI += "?" + query
		}
		out = append(out, v)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Bandwidth < out[j].Bandwidth })
	return out
}

// bandwidth is the variant's peak and average bitrate from its template (the
// "original" has none: its measured rate is used): the
// worker encodes with maxrate 1.1 x the template's video rate, so that plus
// the audio bounds every segment. (The hub's measured rate is per wall-clock
// second: it overshoots after an encoder stall and undershoots while one
// lasts, so it is shown only when a rendition has no template.)
func bandwidth(rend string, st hub.Stats) (peak, avg int) {
	t, ok := transcode.Lookup(rend)
	audio := 0
	if st.AudioCodecString != "" {
		audio = AudioBitrate
	}
	if !ok {
		if m := int(st.BitrateIn); m > 0 {
			return m * 11 / 10, m
		}
		// Not measured yet: the worker's target for a source of this size
		// (transcode.Plan without the source's measured bitrate).
		br := transcode.DefaultOriginalBitrate
		for _, t := range transcode.Templates {
			if t.Height == st.Height {
				br = t.Bitrate
			}
		}
		return br*11/10 + audio, br + audio
	}
	return t.Bitrate*11/10 + audio, t.Bitrate + audio
}

// ServeHTTP implements http.Handler for Pattern.
func (m *Master) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("channel")
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if !channel.ValidID(id) {
		http.Error(w, "no such stream", http.StatusNotFound)
		return
	}
	if m.Authorize != nil {
		if err := m.Authorize(r, id); err != nil {
			http.Error(w, "playback not authorized", http.StatusForbidden)
			return
		}
	}
	vs := m.Variants(id, r.URL.RawQuery)
	if len(vs) == 0 {
		h.Set("Cache-Control", "no-store")
		http.Error(w, "no renditions live", http.StatusNotFound)
		return
	}
	pl := playlist.Multivariant{Version: 3, IndependentSegments: true, Variants: vs}
	b, err := pl.Marshal()
	if err != nil {
		http.Error(w, "playlist error", http.StatusInternalServerError)
		return
	}
	h.Set("Content-Type", "application/vnd.apple.mpegurl")
	h.Set("Cache-Control", "max-age=1")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b)
}

// commonRates are the frame rates a measured rate within 5 % snaps to (the hub
// measures over a few seconds, so 30 fps reads as 29.6 or 30.4).
var commonRates = []float64{10, 12, 15, 20, 23.976, 24, 25, 29.97, 30, 48, 50, 59.94, 60}

func snapRate(fps float64) float64 {
	best, bestDiff := 0.0, math.Inf(1)
	for _, r := range commonRates {
		if d := math.Abs(fps-r) / r; d < bestDiff {
			best, bestDiff = r, d
		}
	}
	if bestDiff <= 0.05 {
		return best
	}
	return math.Round(fps*1000) / 1000
}
