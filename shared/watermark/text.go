// Package watermark turns a channel's watermark settings into safe ffmpeg
// filter graph fragments: a text watermark drawn with drawtext and an image
// overlaid with overlay. Every value is validated against allow-lists and
// ranges before it reaches a filter graph, and the only free-form input (the
// text) never appears in the graph at all: it is written to a file that
// drawtext reads with textfile= and expansion=none, so quotes, colons,
// backslashes, "%{", semicolons, commas and brackets render literally.
//
// Images are fetched once over HTTPS with a dialer that refuses private,
// loopback, link-local, unspecified and multicast addresses after DNS
// resolution (Fetcher), or read from the blob store, and are accepted only as
// PNG or JPEG of bounded size.
package watermark

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/livestack/livestack/shared/channel"
)

// Limits on text watermarks.
const (
	MaxTextBytes     = channel.MaxWatermarkTextBytes
	DefaultFontSize  = 24
	MinFontSize      = channel.MinFontSize
	MaxFontSize      = channel.MaxFontSize
	MaxOffset        = 8192
	DefaultTextColor = channel.DefaultTextColor
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid watermark")

// Color returns the drawtext/ffmpeg spelling of a validated colour: a lower-case
// name, or 0xRRGGBB[AA] (a '#' would need no escaping, but 0x is ffmpeg's
// documented form). Empty means DefaultTextColor. The rule is
// channel.TextColor's, so the API refuses what the worker would.
func Color(c string) (string, error) {
	if v, ok := channel.TextColor(c); ok {
		return v, nil
	}
	return "", fmt.Errorf("%w: colour %q is not #RRGGBB[AA] or one of the supported names", ErrInvalid, c)
}

// ValidateText checks a text watermark: 1-MaxTextBytes of valid UTF-8 without
// control characters other than tab and newline, a font size of 0 (default)
// or MinFontSize-MaxFontSize, a supported colour, offsets 0-MaxOffset.
func ValidateText(t channel.TextWatermark) error {
	if len(t.Text) == 0 || len(t.Text) > MaxTextBytes {
		return fmt.Errorf("%w: text must be 1-%d bytes, got %d", ErrInvalid, MaxTextBytes, len(t.Text))
	}
	if !utf8.ValidString(t.Text) {
		return fmt.Errorf("%w: text is not valid UTF-8", ErrInvalid)
	}
	for _, r := range t.Text {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f {
			return fmt.Errorf("%w: text contains control character %U", ErrInvalid, r)
		}
	}
	if t.FontSize != 0 && (t.FontSize < MinFontSize || t.FontSize > MaxFontSize) {
		return fmt.Errorf("%w: font size must be %d-%d, got %d", ErrInvalid, MinFontSize, MaxFontSize, t.FontSize)
	}
	if _, err := Color(t.Color); err != nil {
		return err
	}
	if t.Top < 0 || t.Left < 0 || t.Top > MaxOffset || t.Left > MaxOffset {
		return fmt.Errorf("%w: top and left must be 0-%d", ErrInvalid, MaxOffset)
	}
	return nil
}

// Font is how drawtext finds its font: a font file (preferred) or a
// fontconfig family name.
type Font struct {
	File   string
	Family string
}

// DefaultFont is DejaVu Sans: the Debian file when present, else the
// fontconfig family.
func DefaultFont() Font {
	for _, p := range []string{
		"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
		"/usr/share/fonts/dejavu/DejaVuSans.ttf",
		"/usr/share/fonts/TTF/DejaVuSans.ttf",
	} {
		if _, err := os.Stat(p); err == nil {
			return Font{File: p}
		}
	}
	return Font{Family: "DejaVu Sans"}
}

// WriteTextFile writes the watermark text into dir (a private temp dir of the
// worker) and returns the file's path, for TextFilter.
func WriteTextFile(dir, text string) (string, error) {
	p := filepath.Join(dir, "watermark.txt")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		return "", fmt.Errorf("write watermark text: %w", err)
	}
	return p, nil
}

// TextFilter returns the drawtext filter (one filter, no labels) drawing the
// text held in textFile. t must have passed ValidateText. Every value is
// escaped for both the option level and the filter graph level (EscapeValue),
// although only the file and font paths can hold characters that need it.
func TextFilter(t channel.TextWatermark, textFile string, font Font) (string, error) {
	if err := ValidateText(t); err != nil {
		return "", err
	}
	color, _ := Color(t.Color)
	size := t.FontSize
	if size == 0 {
		size = DefaultFontSize
	}
	opts := []string{}
	if font.File != "" {
		opts = append(opts, "fontfile="+EscapeValue(font.File))
	} else if font.Family != "" {
		opts = append(opts, "font="+EscapeValue(font.Family))
	}
	opts = append(opts,
		"textfile="+EscapeValue(textFile),
		"expansion=none",
		"fontsize="+strconv.Itoa(size),
		"fontcolor="+color,
		"x="+strconv.Itoa(t.Left),
		"y="+strconv.Itoa(t.Top),
	)
	return "drawtext=" + strings.Join(opts, ":"), nil
}

// EscapeValue escapes a filter option value for ffmpeg's two parsing levels
// (https://ffmpeg.org/ffmpeg-filters.html#Notes-on-filtergraph-escaping):
// first the option level, where the value is quoted with '...' (a quote inside
// becomes '\”), then the filter graph level, where '\', ”', '[', ']', ',',
// ';' and ':' are backslash-escaped. The result, placed after "key=", parses
// back to exactly v.
func EscapeValue(v string) string {
	// Bytes, not runes: every special character is ASCII, and invalid UTF-8
	// must pass through unchanged.
	// Level 1: option value, parsed by av_get_token with ':' as the separator.
	var l1 strings.Builder
	l1.WriteByte('\'')
	for i := 0; i < len(v); i++ {
		if v[i] == '\'' {
			l1.WriteString(`'\''`)
			continue
		}
		l1.WriteByte(v[i])
	}
	l1.WriteByte('\'')
	// Level 2: filter graph description.
	s1 := l1.String()
	var l2 strings.Builder
	for i := 0; i < len(s1); i++ {
		switch s1[i] {
		case '\\', '\'', '[', ']', ',', ';', ':':
			l2.WriteByte('\\')
		}
		l2.WriteByte(s1[i])
	}
	return l2.String()
}
