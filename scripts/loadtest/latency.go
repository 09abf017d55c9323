package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livestack/livestack/shared/media/flv"
)

// The latency mode measures, per publish on a fresh channel with HLS and
// CMAF on:
//
//   - publish → first HLS playlist: from the first media tag sent (right
//     after the server accepted the publish) to the first answer of
//     /{id}/live.m3u8 that lists a segment, polled every -poll;
//   - publish → first LL-HLS part: to the first media playlist of
//     /{id}/master.m3u8 (the variant's, when it is a multivariant playlist)
//     that lists an EXT-X-PART, asked with a blocking reload
//     (_HLS_msn=0&_HLS_part=0) as soon as the playlist exists;
//   - LL-HLS live-edge delay: for -edge-for, blocking reloads each ask for the
//     part after the newest one listed; when an answer lists a new part, the
//     harness fetches it, reads the decode time of its newest video frame
//     (fMP4 tfdt + sample durations), and looks up when the publisher sent
//     that frame. Edge = answer time − send time: how long after it was pushed
//     a frame becomes playable. A player holding back PART-HOLD-BACK from the
//     playlist's end plays edge + PART-HOLD-BACK behind the publisher (to
//     within one frame interval), the figure the target is about.
//
// The frame's decode time maps to the publisher's timestamps through the
// first part of the stream, which starts on the first frame published.

// latencyRun is one publish.
type latencyRun struct {
	Channel         string    `json:"channel"`
	FirstPlaylistMs *float64  `json:"firstHlsPlaylistMs,omitempty"`
	FirstPartMs     *float64  `json:"firstLlhlsPartMs,omitempty"`
	PartTargetMs    float64   `json:"partTargetMs"`
	PartHoldBackMs  float64   `json:"partHoldBackMs"`
	CanBlockReload  bool      `json:"canBlockReload"`
	EdgeMs          []float64 `json:"-"`
	Edge            *spread   `json:"edgeMs,omitempty"`
	Unmatched       int       `json:"unmatchedParts,omitempty"`
	Error           string    `json:"error,omitempty"`
}

// spread is a small distribution in milliseconds.
type spread struct {
	P50     float64 `json:"p50"`
	P95     float64 `json:"p95"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	Samples int     `json:"samples"`
}

func spreadOf(v []float64) *spread {
	if len(v) == 0 {
		return nil
	}
	s := slices.Clone(v)
	slices.Sort(s)
	r := func(f float64) float64 { return math.Round(f*10) / 10 }
	return &spread{P50: r(percentile(s, 0.5)), P95: r(percentile(s, 0.95)), Min: r(s[0]), Max: r(s[len(s)-1]), Samples: len(s)}
}

// latencyReport is the latency mode's output.
type latencyReport struct {
	Command        string        `json:"command"`
	Input          inputInfo     `json:"input"`
	HLSTime        int           `json:"hlsSegmentSeconds"`
	Poll           string        `json:"poll"`
	Runs           []*latencyRun `json:"runs"`
	FirstPlaylist  *spread       `json:"firstHlsPlaylistMs"`
	FirstPart      *spread       `json:"firstLlhlsPartMs"`
	Edge           *spread       `json:"edgeMs"`
	EdgeAtHoldBack *spread       `json:"edgeAtPartHoldBackMs"`
	PartHoldBackMs float64       `json:"partHoldBackMs"`
	PartTargetMs   float64       `json:"partTargetMs"`
	LoadAverage    string        `json:"loadAverage"`
	Error          string        `json:"error,omitempty"`
}

func runLatency(ctx context.Context, cfg *config, in *input, stdout, log io.Writer) error {
	tgt, err := openTarget(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer tgt.close(log)
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	prefix := cfg.Channel + "-lat-" + hex.EncodeToString(rnd[:])
	rep := &latencyReport{
		Command: strings.Join(os.Args, " "), HLSTime: cfg.HLSTime, Poll: cfg.Poll.String(),
		Input: inputInfo{File: in.Path, Width: in.Width, Height: in.Height, FPS: math.Round(in.FPS()*100) / 100,
			BitrateKbps: math.Round(in.Bitrate() / 1e3), LoopSeconds: float64(in.Period) / 1000},
		LoadAverage: loadAverage(),
	}
	var runErr error
	for i := range cfg.Runs {
		id := fmt.Sprintf("%s-%d", prefix, i)
		push, err := tgt.api.createChannel(ctx, map[string]any{"id": id, "enabled": true,
			"outputs": map[string]any{"hls": true, "cmaf": true, "hlsSegmentSeconds": cfg.HLSTime}})
		if err != nil {
			runErr = fmt.Errorf("channel %s: %w%s", id, err, tgt.exitNote())
			break
		}
		r := measureLatency(ctx, cfg, tgt.base, id, push, in)
		rep.Runs = append(rep.Runs, r)
		fmt.Fprintf(log, "loadtest: latency run %d/%d: %s\n", i+1, cfg.Runs, r.line())
		if ctx.Err() != nil {
			runErr = ctx.Err()
			break
		}
	}
	var first, part, edge, edgeHB []float64
	for _, r := range rep.Runs {
		if r.FirstPlaylistMs != nil {
			first = append(first, *r.FirstPlaylistMs)
		}
		if r.FirstPartMs != nil {
			part = append(part, *r.FirstPartMs)
		}
		edge = append(edge, r.EdgeMs...)
		for _, e := range r.EdgeMs {
			edgeHB = append(edgeHB, e+r.PartHoldBackMs)
		}
		rep.PartHoldBackMs, rep.PartTargetMs = max(rep.PartHoldBackMs, r.PartHoldBackMs), max(rep.PartTargetMs, r.PartTargetMs)
	}
	rep.FirstPlaylist, rep.FirstPart, rep.Edge, rep.EdgeAtHoldBack = spreadOf(first), spreadOf(part), spreadOf(edge), spreadOf(edgeHB)
	if runErr == nil {
		var failed []string
		for _, r := range rep.Runs {
			if r.Error != "" {
				failed = append(failed, r.Channel+": "+r.Error)
			}
		}
		if len(failed) > 0 {
			runErr = fmt.Errorf("%d of %d runs failed: %s%s", len(failed), len(rep.Runs), strings.Join(failed, "; "), tgt.exitNote())
		}
	}
	if runErr != nil {
		rep.Error = runErr.Error()
	}
	if cfg.JSON {
		if err := writeJSONAny(stdout, rep); err != nil {
			return err
		}
	} else {
		rep.writeTable(stdout)
	}
	return runErr
}

func (r *latencyRun) line() string {
	f := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.0f ms", *p)
	}
	s := fmt.Sprintf("first HLS playlist %s, first LL-HLS part %s", f(r.FirstPlaylistMs), f(r.FirstPartMs))
	if e := r.Edge; e != nil {
		s += fmt.Sprintf(", edge p50 %.0f ms p95 %.0f ms (%d parts) + PART-HOLD-BACK %.0f ms", e.P50, e.P95, e.Samples, r.PartHoldBackMs)
	}
	if r.Error != "" {
		s += ", error: " + r.Error
	}
	return s
}

func (rep *latencyReport) writeTable(w io.Writer) {
	fmt.Fprintf(w, "input    %s: %dx%d %.0f fps, %.0f kbit/s FLV\n", rep.Input.File, rep.Input.Width, rep.Input.Height, rep.Input.FPS, rep.Input.BitrateKbps)
	fmt.Fprintf(w, "channels HLS %d s segments + CMAF (LL-HLS); polls every %s; load average at start %s\n\n", rep.HLSTime, rep.Poll, rep.LoadAverage)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measure\tp50 ms\tp95 ms\tmin ms\tmax ms\tsamples\ttarget\t")
	row := func(name string, s *spread, target string) {
		if s == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t0\t%s\t\n", name, target)
			return
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%.0f\t%d\t%s\t\n", name, s.P50, s.P95, s.Min, s.Max, s.Samples, target)
	}
	row("publish -> first HLS playlist", rep.FirstPlaylist, fmt.Sprintf("<= %.1f s", float64(rep.HLSTime)+0.3))
	row("publish -> first LL-HLS part", rep.FirstPart, "<= 0.5 s")
	row("part available - its newest frame pushed", rep.Edge, "")
	row(fmt.Sprintf("live-edge delay at PART-HOLD-BACK (%.0f ms)", rep.PartHoldBackMs), rep.EdgeAtHoldBack, "<= 0.8 s")
	tw.Flush()
	if rep.Error != "" {
		fmt.Fprintf(w, "error: %s\n", rep.Error)
	}
}

// measureLatency publishes in to push and measures one run.
func measureLatency(ctx context.Context, cfg *config, base, id, push string, in *input) *latencyRun {
	r := &latencyRun{Channel: id}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()

	type first struct {
		at  int64
		pl  *mediaPlaylist
		url string
		err error
	}
	tsDone, llDone := make(chan first, 1), make(chan first, 1)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	go func() {
		at, err := firstSegment(wctx, client, base+"/"+id+"/live.m3u8", cfg.Poll)
		tsDone <- first{at: at, err: err}
	}()
	go func() {
		u, pl, at, err := firstPart(wctx, client, base+"/"+id+"/master.m3u8", cfg.Poll)
		llDone <- first{at: at, pl: pl, url: u, err: err}
	}()

	pub := &publisher{URL: push, Input: in, Log: &sendLog{}}
	pctx, stopPub := context.WithCancel(ctx)
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(pctx) }()
	defer func() { stopPub(); <-pubDone }()

	var errs []error
	ts, ll := <-tsDone, <-llDone
	started := pub.started.Load()
	if started == 0 {
		select {
		case err := <-pubDone:
			pubDone <- err
			r.Error = fmt.Sprintf("publish: %v", err)
		default:
			r.Error = "the publisher sent nothing"
		}
		return r
	}
	if ts.err != nil {
		errs = append(errs, fmt.Errorf("first HLS playlist: %w", ts.err))
	} else {
		r.FirstPlaylistMs = msPtr(ts.at - started)
	}
	if ll.err != nil {
		errs = append(errs, fmt.Errorf("first LL-HLS part: %w", ll.err))
	} else {
		r.FirstPartMs = msPtr(ll.at - started)
		r.CanBlockReload = ll.pl.CanBlockReload
		r.PartHoldBackMs = float64(ll.pl.PartHoldBack) / 1e6
		r.PartTargetMs = float64(ll.pl.PartTarget) / 1e6
		if err := measureEdge(ctx, cfg, client, ll.url, ll.pl, in, pub, r); err != nil {
			errs = append(errs, fmt.Errorf("live edge: %w", err))
		}
		r.Edge = spreadOf(r.EdgeMs)
	}
	select {
	case err := <-pubDone:
		pubDone <- err
		if err != nil {
			errs = append(errs, fmt.Errorf("publish: %w", err))
		}
	default:
	}
	if err := errors.Join(errs...); err != nil {
		r.Error = strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	return r
}

func msPtr(d int64) *float64 {
	f := math.Round(float64(d)/1e5) / 10
	return &f
}

// getBody GETs u and returns the status, the body and when the answer's
// body was complete (nanotime).
func getBody(ctx context.Context, c *http.Client, u string, header http.Header) (int, []byte, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, b, nanotime(), err
}

// firstSegment polls a TS playlist until it lists a segment.
func firstSegment(ctx context.Context, c *http.Client, u string, poll time.Duration) (int64, error) {
	last := ""
	for {
		code, b, at, err := getBody(ctx, c, u, nil)
		switch {
		case err != nil:
			last = err.Error()
		case code == http.StatusOK:
			pl, perr := parseMedia(b)
			if perr != nil {
				return 0, fmt.Errorf("%s: %w", u, perr)
			}
			if len(pl.Segments) > 0 {
				return at, nil
			}
			last = "200 without segments"
		default:
			last = strconv.Itoa(code)
		}
		if err := sleepCtx(ctx, poll); err != nil {
			return 0, fmt.Errorf("%s: %w (last answer: %s)", u, err, last)
		}
	}
}

// firstPart polls the CMAF playlist until it exists, then asks the media
// playlist for the first part with a blocking reload until one is listed.
func firstPart(ctx context.Context, c *http.Client, u string, poll time.Duration) (string, *mediaPlaylist, int64, error) {
	last := ""
	mediaURL := ""
	for {
		if mediaURL == "" {
			code, b, at, err := getBody(ctx, c, u, nil)
			switch {
			case err != nil:
				last = err.Error()
			case code == http.StatusOK:
				if !bytes.Contains(b, []byte("#EXT-X-STREAM-INF")) {
					pl, perr := parseMedia(b)
					if perr != nil {
						return "", nil, 0, fmt.Errorf("%s: %w", u, perr)
					}
					if len(pl.allParts()) > 0 {
						return u, pl, at, nil
					}
					mediaURL = u
					continue
				}
				var mv playlist.Multivariant
				if perr := mv.Unmarshal(b); perr != nil {
					return "", nil, 0, fmt.Errorf("%s: %w", u, perr)
				}
				if len(mv.Variants) == 0 {
					return "", nil, 0, fmt.Errorf("%s: a multivariant playlist without variants", u)
				}
				if mediaURL, err = resolve(u, mv.Variants[0].URI); err != nil {
					return "", nil, 0, err
				}
				continue
			default:
				last = strconv.Itoa(code)
			}
			if err := sleepCtx(ctx, poll); err != nil {
				return "", nil, 0, fmt.Errorf("%s: %w (last answer: %s)", u, err, last)
			}
			continue
		}
		code, b, at, err := getBody(ctx, c, withQuery(mediaURL, "_HLS_msn", "0", "_HLS_part", "0"), nil)
		switch {
		case err != nil:
			last = err.Error()
		case code == http.StatusOK:
			pl, perr := parseMedia(b)
			if perr != nil {
				return "", nil, 0, fmt.Errorf("%s: %w", mediaURL, perr)
			}
			if len(pl.allParts()) > 0 {
				return mediaURL, pl, at, nil
			}
			last = "200 without parts"
		default:
			last = strconv.Itoa(code)
		}
		if err := sleepCtx(ctx, poll); err != nil {
			return "", nil, 0, fmt.Errorf("%s: %w (last answer: %s)", mediaURL, err, last)
		}
	}
}

func resolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("playlist URI %q: %w", ref, err)
	}
	return b.ResolveReference(r).String(), nil
}

// withQuery adds key/value pairs to u's query.
func withQuery(u string, kv ...string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := p.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	p.RawQuery = q.Encode()
	return p.String()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fmp4Track is the video track of an init segment.
type fmp4Track struct {
	trex      *mp4.TrexBox
	timescale uint32
}

// videoTrack finds the video track of an fMP4 init segment.
func videoTrack(init []byte) (*fmp4Track, error) {
	f, err := mp4.DecodeFile(bytes.NewReader(init))
	if err != nil {
		return nil, fmt.Errorf("init segment: %w", err)
	}
	if f.Init == nil || f.Init.Moov == nil {
		return nil, errors.New("init segment: no moov")
	}
	for _, trak := range f.Init.Moov.Traks {
		if trak.Mdia == nil || trak.Mdia.Hdlr == nil || trak.Mdia.Hdlr.HandlerType != "vide" {
			continue
		}
		id := trak.Tkhd.TrackID
		trex, ok := f.Init.Moov.Mvex.GetTrex(id)
		if !ok {
			trex = &mp4.TrexBox{TrackID: id}
		}
		return &fmp4Track{trex: trex, timescale: trak.Mdia.Mdhd.Timescale}, nil
	}
	return nil, errors.New("init segment: no video track")
}

// videoDecodeTimes returns the decode times (ms) of the video samples of an
// fMP4 part or segment.
func (t *fmp4Track) videoDecodeTimes(b []byte) ([]float64, error) {
	f, err := mp4.DecodeFile(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var out []float64
	for _, seg := range f.Segments {
		for _, frag := range seg.Fragments {
			ss, err := frag.GetFullSamples(t.trex)
			if err != nil {
				return nil, err
			}
			for _, s := range ss {
				out = append(out, float64(s.DecodeTime)*1000/float64(t.timescale))
			}
		}
	}
	return out, nil
}

// measureEdge samples the live edge of the media playlist for cfg.EdgeFor.
func measureEdge(ctx context.Context, cfg *config, c *http.Client, mediaURL string, pl *mediaPlaylist, in *input, pub *publisher, r *latencyRun) error {
	if pl.MapURI == "" {
		return errors.New("the media playlist has no EXT-X-MAP (not fMP4)")
	}
	mapURL, err := resolve(mediaURL, pl.MapURI)
	if err != nil {
		return err
	}
	code, init, _, err := getBody(ctx, c, mapURL, nil)
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("init segment %s: %d %v", mapURL, code, err)
	}
	track, err := videoTrack(init)
	if err != nil {
		return err
	}
	parts := pl.allParts()
	// The first part of the stream starts with the first video frame sent.
	firstVideo := -1.0
	for _, t := range in.Media {
		if t.Type == flv.TagVideo {
			firstVideo = float64(t.Timestamp)
			break
		}
	}
	dts, err := fetchPart(ctx, c, mediaURL, parts[0], track)
	if err != nil {
		return err
	}
	if len(dts) == 0 {
		return errors.New("the first part has no video sample")
	}
	offset := dts[0] - firstVideo

	type avail struct {
		part partRef
		at   int64
	}
	work := make(chan avail, 256)
	done := make(chan error, 1)
	go func() {
		var ferr error
		for a := range work {
			d, err := fetchPart(ctx, c, mediaURL, a.part, track)
			if err != nil {
				if ferr == nil && ctx.Err() == nil {
					ferr = err
				}
				continue
			}
			if len(d) == 0 {
				continue // an audio-only part
			}
			ts := math.Round(d[len(d)-1] - offset)
			sent, ok := int64(0), false
			for _, delta := range []float64{0, -1, 1} {
				if ts+delta >= 0 {
					if sent, ok = pub.Log.Get(uint32(ts + delta)); ok {
						break
					}
				}
			}
			if !ok {
				r.Unmatched++
				continue
			}
			r.EdgeMs = append(r.EdgeMs, math.Round(float64(a.at-sent)/1e4)/100)
		}
		done <- ferr
	}()

	newest := parts[len(parts)-1]
	deadline := time.Now().Add(cfg.EdgeFor)
	var loopErr error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		u := mediaURL
		if r.CanBlockReload {
			u = withQuery(mediaURL, "_HLS_msn", strconv.Itoa(newest.MSN), "_HLS_part", strconv.Itoa(newest.Index+1))
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		code, b, at, err := getBody(rctx, c, u, nil)
		cancel()
		if err != nil || code != http.StatusOK {
			loopErr = fmt.Errorf("blocking reload %s: %d %v", u, code, err)
			break
		}
		npl, err := parseMedia(b)
		if err != nil {
			loopErr = fmt.Errorf("%s: %w", u, err)
			break
		}
		ps := npl.allParts()
		if len(ps) > 0 && ps[len(ps)-1].after(newest) {
			newest = ps[len(ps)-1]
			select {
			case work <- avail{part: newest, at: at}:
			default: // the fetcher is far behind: skip this sample
			}
		} else if !r.CanBlockReload {
			if err := sleepCtx(ctx, cfg.Poll); err != nil {
				break
			}
		}
	}
	close(work)
	ferr := <-done
	return errors.Join(loopErr, ferr)
}

// fetchPart GETs a part and returns its video decode times (ms).
func fetchPart(ctx context.Context, c *http.Client, mediaURL string, p partRef, track *fmp4Track) ([]float64, error) {
	u, err := resolve(mediaURL, p.URI)
	if err != nil {
		return nil, err
	}
	var h http.Header
	if p.Range != "" {
		h = http.Header{"Range": {p.Range}}
	}
	code, b, _, err := getBody(ctx, c, u, h)
	if err != nil {
		return nil, fmt.Errorf("part %s: %w", u, err)
	}
	if code != http.StatusOK && code != http.StatusPartialContent {
		return nil, fmt.Errorf("part %s: status %d", u, code)
	}
	d, err := track.videoDecodeTimes(b)
	if err != nil {
		return nil, fmt.Errorf("part %s: %w", u, err)
	}
	return d, nil
}

// loadAverage is /proc/loadavg's first three fields, for the report.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
