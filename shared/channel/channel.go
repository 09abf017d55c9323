// Package channel holds livestack's domain model: a channel is a named place a
// broadcaster pushes to, with the outputs, recording, transcoding, watermark and
// relay settings that decide what the platform does with its stream.
//
// The JSON form is a contract (see DESIGN.md): fields may be added, never renamed.
// Omitted fields take defaults (FLV on, HLS 2 s x 6); call Normalize after decoding.
package channel

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults applied by Normalize to omitted fields.
const (
	DefaultHLSSegmentSeconds = 2
	DefaultHLSListSize       = 6
	DefaultMP4SegmentSeconds = 60
	DefaultSnapshotSeconds   = 10
	DefaultCodec             = "libx264"
	MaxRelayTargets          = 8
	MaxNameLength            = 200
	MaxDescriptionLength     = 2000
)

// Renditions are the rendition names a channel may ask for, smallest first.
var Renditions = []string{"360p", "480p", "720p", "1080p"}

// Channel is one push point and everything done with its stream.
type Channel struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
	Enabled     bool       `json:"enabled"`
	Outputs     Outputs    `json:"outputs"`
	Recording   Recording  `json:"recording"`
	Transcode   Transcode  `json:"transcode"`
	Watermark   Watermark  `json:"watermark"`
	Relay       []Relay    `json:"relay"`
	// PlayAuth requires signed play URLs (CloudFront-style) for this channel.
	PlayAuth bool `json:"playAuth"`
	// PushKeyEpoch selects the channel's push signing key (signing.Signer.ForEpoch);
	// rotating the push key (POST /api/v1/channels/{id}/rotate-key) increments
	// it, which invalidates every push URL signed before. 0 is the platform key.
	PushKeyEpoch int64 `json:"pushKeyEpoch,omitempty"`
	// Delivery holds latency/fan-out tuning; zero values mean "server default".
	Delivery  Delivery  `json:"delivery"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Outputs selects the playback formats served for the channel's stream.
type Outputs struct {
	FLV               *bool `json:"flv,omitempty"`
	HLS               *bool `json:"hls,omitempty"`
	CMAF              bool  `json:"cmaf"`
	HLSSegmentSeconds int   `json:"hlsSegmentSeconds"`
	HLSListSize       int   `json:"hlsListSize"`
}

// FLVEnabled reports whether HTTP-FLV (and RTMP play) is served; on by default.
func (o Outputs) FLVEnabled() bool { return o.FLV == nil || *o.FLV }

// HLSEnabled reports whether MPEG-TS HLS is served; on by default.
func (o Outputs) HLSEnabled() bool { return o.HLS == nil || *o.HLS }

// Recording selects what is kept of a broadcast.
type Recording struct {
	MP4               bool   `json:"mp4"`
	MP4SegmentSeconds int    `json:"mp4SegmentSeconds"`
	HLSVOD            bool   `json:"hlsVod"`
	Snapshots         bool   `json:"snapshots"`
	SnapshotSeconds   int    `json:"snapshotSeconds"`
	Motion            Motion `json:"motion"`
}

// Motion configures motion-triggered capture.
type Motion struct {
	Enabled bool `json:"enabled"`
	// DurationMillis is the minimum clip length in milliseconds.
	DurationMillis int `json:"durationMillis"`
	// Percent is the share of the picture (0-100) that must change.
	Percent int `json:"percent"`
	// TimeoutSeconds is how long capture continues after motion ends.
	TimeoutSeconds int `json:"timeoutSeconds"`
	// Diff is the per-pixel difference (0-255) counted as change.
	Diff int `json:"diff"`
}

// Transcode selects the rendition ladder made by a worker.
type Transcode struct {
	Enabled    bool     `json:"enabled"`
	Codec      string   `json:"codec"`
	Renditions []string `json:"renditions"`
}

// Watermark burns text and/or an image into every output.
type Watermark struct {
	Text  *TextWatermark  `json:"text,omitempty"`
	Image *ImageWatermark `json:"image,omitempty"`
}

// TextWatermark is drawn with ffmpeg drawtext; values are validated and escaped by the worker.
type TextWatermark struct {
	Text     string `json:"text"`
	FontSize int    `json:"fontSize"`
	Color    string `json:"color"`
	Top      int    `json:"top"`
	Left     int    `json:"left"`
}

// ImageWatermark is overlaid from an HTTPS URL or a blob key.
type ImageWatermark struct {
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Top    int    `json:"top"`
	Left   int    `json:"left"`
}

// Relay is one RTMP/RTMPS target the stream is pushed to.
type Relay struct {
	URL string `json:"url"`
}

// Delivery tunes fan-out for the channel's viewers.
type Delivery struct {
	// MergeWindowMillis batches this much media per write to a viewer; nil uses the
	// server default, 0 writes every frame at once.
	MergeWindowMillis *int `json:"mergeWindowMillis,omitempty"`
}

// Errors returned by Validate; wrap them in a *FieldError naming the field.
var (
	ErrInvalid = errors.New("invalid channel")
)

// FieldError names the field that failed validation.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Unwrap lets errors.Is(err, ErrInvalid) match every validation error.
func (e *FieldError) Unwrap() error { return ErrInvalid }

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ValidID reports whether id is a safe channel id: letters, digits, '-' and '_',
// at most 64 characters, so it can be used in paths and keys without escaping.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Normalize fills omitted fields with their defaults.
func (c *Channel) Normalize() {
	if c.Outputs.HLSSegmentSeconds == 0 {
		c.Outputs.HLSSegmentSeconds = DefaultHLSSegmentSeconds
	}
	if c.Outputs.HLSListSize == 0 {
		c.Outputs.HLSListSize = DefaultHLSListSize
	}
	if c.Recording.MP4SegmentSeconds == 0 {
		c.Recording.MP4SegmentSeconds = DefaultMP4SegmentSeconds
	}
	if c.Recording.SnapshotSeconds == 0 {
		c.Recording.SnapshotSeconds = DefaultSnapshotSeconds
	}
	m := &c.Recording.Motion
	if m.DurationMillis == 0 {
		m.DurationMillis = 5000
	}
	if m.Percent == 0 {
		m.Percent = 30
	}
	if m.TimeoutSeconds == 0 {
		m.TimeoutSeconds = 60
	}
	if m.Diff == 0 {
		m.Diff = 10
	}
	if c.Transcode.Codec == "" {
		c.Transcode.Codec = DefaultCodec
	}
	if c.Relay == nil {
		c.Relay = []Relay{}
	}
	if c.Transcode.Renditions == nil {
		c.Transcode.Renditions = []string{}
	}
}

// Validate checks every field and returns a *FieldError for the first bad one.
func (c *Channel) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
	}
	if !ValidID(c.ID) {
		return bad("id", "must be 1-64 letters, digits, '-' or '_'")
	}
	if len(c.Name) > MaxNameLength {
		return bad("name", "longer than %d characters", MaxNameLength)
	}
	if len(c.Description) > MaxDescriptionLength {
		return bad("description", "longer than %d characters", MaxDescriptionLength)
	}
	if s := c.Outputs.HLSSegmentSeconds; s < 1 || s > 30 {
		return bad("outputs.hlsSegmentSeconds", "must be 1-30, got %d", s)
	}
	if n := c.Outputs.HLSListSize; n < 2 || n > 60 {
		return bad("outputs.hlsListSize", "must be 2-60, got %d", n)
	}
	if s := c.Recording.MP4SegmentSeconds; s < 1 || s > 3600 {
		return bad("recording.mp4SegmentSeconds", "must be 1-3600, got %d", s)
	}
	if s := c.Recording.SnapshotSeconds; s < 1 || s > 3600 {
		return bad("recording.snapshotSeconds", "must be 1-3600, got %d", s)
	}
	m := c.Recording.Motion
	if m.Percent < 1 || m.Percent > 100 {
		return bad("recording.motion.percent", "must be 1-100, got %d", m.Percent)
	}
	if m.Diff < 1 || m.Diff > 255 {
		return bad("recording.motion.diff", "must be 1-255, got %d", m.Diff)
	}
	if m.TimeoutSeconds < 1 || m.TimeoutSeconds > 3600 {
		return bad("recording.motion.timeoutSeconds", "must be 1-3600, got %d", m.TimeoutSeconds)
	}
	if m.DurationMillis < 100 || m.DurationMillis > 3600_000 {
		return bad("recording.motion.durationMillis", "must be 100-3600000, got %d", m.DurationMillis)
	}
	switch c.Transcode.Codec {
	case "libx264", "libx265":
	default:
		return bad("transcode.codec", "must be libx264 or libx265, got %q", c.Transcode.Codec)
	}
	seen := map[string]bool{}
	for i, r := range c.Transcode.Renditions {
		if !knownRendition(r) {
			return bad(fmt.Sprintf("transcode.renditions[%d]", i), "must be one of %s, got %q", strings.Join(Renditions, ", "), r)
		}
		if seen[r] {
			return bad(fmt.Sprintf("transcode.renditions[%d]", i), "%q listed twice", r)
		}
		seen[r] = true
	}
	if len(c.Relay) > MaxRelayTargets {
		return bad("relay", "at most %d targets", MaxRelayTargets)
	}
	for i, r := range c.Relay {
		if err := ValidateRelayURL(r.URL); err != nil {
			return bad(fmt.Sprintf("relay[%d].url", i), "%v", err)
		}
	}
	if t := c.Watermark.Text; t != nil {
		if len(t.Text) == 0 || len(t.Text) > MaxWatermarkTextBytes {
			return bad("watermark.text.text", "must be 1-%d bytes", MaxWatermarkTextBytes)
		}
		if !DrawableText(t.Text) {
			return bad("watermark.text.text", "must be UTF-8 without control characters other than tab and newline")
		}
		if t.FontSize != 0 && (t.FontSize < MinFontSize || t.FontSize > MaxFontSize) {
			return bad("watermark.text.fontSize", "must be 0 (the default) or %d-%d, got %d", MinFontSize, MaxFontSize, t.FontSize)
		}
		if _, ok := TextColor(t.Color); !ok {
			return bad("watermark.text.color", "must be #RRGGBB[AA] or one of %s, got %q", strings.Join(TextColorNames(), ", "), t.Color)
		}
		if t.Top < 0 || t.Left < 0 || t.Top > 8192 || t.Left > 8192 {
			return bad("watermark.text", "top and left must be 0-8192")
		}
	}
	if im := c.Watermark.Image; im != nil {
		u, err := url.Parse(im.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "blob") || u.Host == "" && u.Scheme == "https" {
			return bad("watermark.image.url", "must be an https:// URL or a blob: key")
		}
		if im.Width < 0 || im.Height < 0 || im.Width > 8192 || im.Height > 8192 {
			return bad("watermark.image", "width and height must be 0-8192")
		}
		if im.Top < 0 || im.Left < 0 || im.Top > 8192 || im.Left > 8192 {
			return bad("watermark.image", "top and left must be 0-8192")
		}
	}
	if d := c.Delivery.MergeWindowMillis; d != nil && (*d < 0 || *d > 1000) {
		return bad("delivery.mergeWindowMillis", "must be 0-1000, got %d", *d)
	}
	return nil
}

// Text watermark limits, shared with the worker (shared/watermark) so that the
// API refuses what the worker would.
const (
	// DefaultTextColor is the colour of a text watermark without one.
	DefaultTextColor = "white"
	// MaxWatermarkTextBytes bounds the text.
	MaxWatermarkTextBytes = 256
	// MinFontSize and MaxFontSize bound a font size other than 0 (the default).
	MinFontSize = 8
	MaxFontSize = 512
)

// DrawableText reports whether a text watermark's text is valid UTF-8 without
// control characters other than tab and newline.
func DrawableText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f {
			return false
		}
	}
	return true
}

// textColorNames are the colour names a text watermark accepts besides
// #RRGGBB[AA]: a subset of ffmpeg's colour table (libavutil/parseutils.c), so
// every accepted name parses in drawtext. The one list both the API (Validate)
// and the worker (shared/watermark) check against.
var textColorNames = map[string]bool{
	"white": true, "black": true, "red": true, "green": true, "blue": true, "yellow": true,
	"orange": true, "purple": true, "pink": true, "gray": true, "grey": true, "silver": true,
	"gold": true, "cyan": true, "magenta": true, "lime": true, "navy": true, "maroon": true,
	"olive": true, "teal": true, "aqua": true, "fuchsia": true, "brown": true, "violet": true,
}

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$`)

// TextColor checks a text watermark colour and returns its ffmpeg spelling: a
// lower-case name (case is ignored), or 0xRRGGBB[AA] for #RRGGBB[AA] (0x is
// ffmpeg's documented form). Empty means DefaultTextColor. ok is false for
// anything else.
func TextColor(c string) (ffmpeg string, ok bool) {
	if c == "" {
		return DefaultTextColor, true
	}
	if hexColor.MatchString(c) {
		return "0x" + c[1:], true
	}
	if l := strings.ToLower(c); textColorNames[l] {
		return l, true
	}
	return "", false
}

// TextColorNames lists the accepted colour names, sorted.
func TextColorNames() []string {
	out := make([]string, 0, len(textColorNames))
	for n := range textColorNames {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func knownRendition(r string) bool {
	for _, k := range Renditions {
		if k == r {
			return true
		}
	}
	return false
}

// ValidateRelayURL accepts rtmp:// and rtmps:// URLs with a host and a path.
func ValidateRelayURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "rtmp" && u.Scheme != "rtmps" {
		return fmt.Errorf("scheme must be rtmp or rtmps, got %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("missing host")
	}
	if strings.Trim(u.Path, "/") == "" {
		return errors.New("missing app/stream path")
	}
	return nil
}

// Live reports whether the channel may publish at t: enabled and not expired.
func (c *Channel) Live(t time.Time) error {
	if !c.Enabled {
		return ErrDisabled
	}
	if c.ExpiresAt != nil && !t.Before(*c.ExpiresAt) {
		return ErrExpired
	}
	return nil
}

// Publish refusal reasons tied to the channel itself.
var (
	ErrDisabled = errors.New("channel disabled")
	ErrExpired  = errors.New("channel expired")
)
