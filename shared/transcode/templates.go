// Package transcode builds the one ffmpeg command of a channel's rendition
// ladder and reads its progress. One process decodes the source once, splits
// the picture, applies the watermark once (before the split, so every output
// carries it), scales per rendition and encodes each rendition with fixed,
// aligned keyframes; audio is encoded (or copied) once and muxed into every
// output through ffmpeg's tee muxer, so no work is done twice.
package transcode

import (
	"fmt"
	"slices"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/ingest"
)

// Template is one rendition of the ladder.
type Template struct {
	// Name is the rendition name ("720p"), also the last part of its stream key.
	Name string `json:"name"`
	// Label is the earlier solution's name of the template.
	Label string `json:"label"`
	// Width and Height are the nominal 16:9 size; the output keeps the
	// source's aspect ratio at Height.
	Width  int `json:"width"`
	Height int `json:"height"`
	// Bitrate is the video bitrate in bit/s.
	Bitrate int `json:"bitrate"`
}

// Templates are the default ladder (DESIGN.md "Transcode templates"), smallest first.
var Templates = []Template{
	{Name: "360p", Label: "流畅", Width: 640, Height: 360, Bitrate: 400_000},
	{Name: "480p", Label: "标清", Width: 854, Height: 480, Bitrate: 600_000},
	{Name: "720p", Label: "高清", Width: 1280, Height: 720, Bitrate: 1_000_000},
	{Name: "1080p", Label: "超清", Width: 1920, Height: 1080, Bitrate: 2_000_000},
}

// Lookup returns the template named name.
func Lookup(name string) (Template, bool) {
	for _, t := range Templates {
		if t.Name == name {
			return t, true
		}
	}
	return Template{}, false
}

// Output is one encoded rendition.
type Output struct {
	// Name is the rendition name: a template name or ingest.RenditionOriginal.
	Name string
	// Height is the output height; 0 keeps the source size (no scaling).
	Height int
	// Bitrate is the video bitrate in bit/s.
	Bitrate int
	// URL is where the rendition is published (rtmp://…); filled by the caller.
	URL string
}

// DefaultOriginalBitrate is the bitrate of the re-encoded source when its own
// bitrate is unknown.
const DefaultOriginalBitrate = 2_500_000

// Plan picks the outputs for a channel: every selected rendition not taller
// than the source (never upscale; with an unknown source height all of them),
// smallest first, plus the source re-encoded at its own size and bitrate when
// the channel has a watermark (so no output escapes it). srcBitrate is the
// source's measured video bitrate (0 if unknown).
func Plan(ch *channel.Channel, srcHeight, srcBitrate int) ([]Output, error) {
	var outs []Output
	if ch.Transcode.Enabled {
		for _, t := range Templates {
			if !slices.Contains(ch.Transcode.Renditions, t.Name) {
				continue
			}
			if srcHeight > 0 && t.Height > srcHeight {
				continue
			}
			outs = append(outs, Output{Name: t.Name, Height: t.Height, Bitrate: t.Bitrate})
		}
		for _, r := range ch.Transcode.Renditions {
			if _, ok := Lookup(r); !ok {
				return nil, fmt.Errorf("plan %s: unknown rendition %q", ch.ID, r)
			}
		}
	}
	if ch.Watermark.Text != nil || ch.Watermark.Image != nil {
		br := srcBitrate
		if br <= 0 {
			br = DefaultOriginalBitrate
			for _, t := range Templates {
				if t.Height == srcHeight {
					br = t.Bitrate
				}
			}
		}
		outs = append(outs, Output{Name: ingest.RenditionOriginal, Bitrate: br})
	}
	return outs, nil
}
