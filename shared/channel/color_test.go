package channel_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/watermark"
)

// The API (Validate) and the worker (shared/watermark) accept exactly the same
// text watermark colours: a colour the API stores is one the worker draws, and
// one the worker would refuse is refused when it is set, naming the field.
func TestTextColorAgreesWithWatermark(t *testing.T) {
	for _, tc := range []struct {
		color  string
		ffmpeg string // empty: refused
	}{
		{"", "white"},
		{"red", "red"},
		{"Red", "red"},
		{"FUCHSIA", "fuchsia"},
		{"grey", "grey"},
		{"#00ff00", "0x00ff00"},
		{"#11223344", "0x11223344"},
		{"chartreuse", ""}, // letters, and in ffmpeg's table, but not on the list
		{"ultraviolet", ""},
		{"#fff", ""},
		{"#1122334", ""},
		{"0x00ff00", ""},
		{"red@0.5", ""},
		{"red:fontfile=/etc/passwd", ""},
		{"red ", ""},
		{"white\n", ""},
	} {
		t.Run(tc.color, func(t *testing.T) {
			got, ok := channel.TextColor(tc.color)
			require.Equal(t, tc.ffmpeg != "", ok)
			require.Equal(t, tc.ffmpeg, got)

			wm, err := watermark.Color(tc.color)
			require.Equal(t, ok, err == nil, "watermark.Color disagrees: %v", err)
			require.Equal(t, got, wm)

			c := channel.Channel{ID: "cam1", Watermark: channel.Watermark{Text: &channel.TextWatermark{Text: "live", Color: tc.color}}}
			c.Normalize()
			err = c.Validate()
			if ok {
				require.NoError(t, err)
				require.NoError(t, watermark.ValidateText(*c.Watermark.Text))
				return
			}
			var fe *channel.FieldError
			require.True(t, errors.As(err, &fe), "%v", err)
			require.Equal(t, "watermark.text.color", fe.Field)
			require.ErrorIs(t, err, channel.ErrInvalid)
			require.Error(t, watermark.ValidateText(*c.Watermark.Text))
		})
	}
}

// The same agreement for the rest of a text watermark: text and font size.
func TestTextWatermarkAgreesWithWatermark(t *testing.T) {
	for _, tc := range []struct {
		name  string
		text  string
		size  int
		field string // empty: accepted
	}{
		{"default size", "live", 0, ""},
		{"smallest size", "live", 8, ""},
		{"largest size", "live", 512, ""},
		{"size too small", "live", 7, "watermark.text.fontSize"},
		{"size 1", "live", 1, "watermark.text.fontSize"},
		{"size too large", "live", 513, "watermark.text.fontSize"},
		{"negative size", "live", -1, "watermark.text.fontSize"},
		{"tab and newline", "a\tb\nc", 0, ""},
		{"unicode", "Grüße 🎥", 0, ""},
		{"control character", "a\x01b", 0, "watermark.text.text"},
		{"carriage return", "a\rb", 0, "watermark.text.text"},
		{"delete", "a\x7fb", 0, "watermark.text.text"},
		{"invalid UTF-8", "a\xffb", 0, "watermark.text.text"},
		{"empty", "", 0, "watermark.text.text"},
		{"too long", strings.Repeat("x", 257), 0, "watermark.text.text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := channel.TextWatermark{Text: tc.text, FontSize: tc.size}
			c := channel.Channel{ID: "cam1", Watermark: channel.Watermark{Text: &w}}
			c.Normalize()
			err := c.Validate()
			werr := watermark.ValidateText(w)
			if tc.field == "" {
				require.NoError(t, err)
				require.NoError(t, werr)
				return
			}
			var fe *channel.FieldError
			require.True(t, errors.As(err, &fe), "%v", err)
			require.Equal(t, tc.field, fe.Field)
			require.Error(t, werr, "the API refuses what the worker accepts")
		})
	}
}
