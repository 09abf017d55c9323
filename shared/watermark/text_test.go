package watermark

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
)

// hostile texts: each would break out of a naive drawtext=text='...' value.
var hostile = []string{
	`it's`,
	`a:b`,
	`back\slash\\`,
	`%{pts} %{localtime}`,
	`x;drawbox=c=red`,
	`one,two`,
	`[in][out]`,
	`'\'':fontsize=300\`,
	`  padded  `,
	"two\nlines",
	`日本語 ünïcödé`,
}

func TestValidateText(t *testing.T) {
	ok := channel.TextWatermark{Text: "live", FontSize: 24, Color: "#ff0000", Top: 10, Left: 20}
	require.NoError(t, ValidateText(ok))
	for _, h := range hostile {
		w := ok
		w.Text = h
		require.NoError(t, ValidateText(w), "%q is valid text: it is drawn literally", h)
	}
	for _, tc := range []struct {
		name string
		mod  func(*channel.TextWatermark)
	}{
		{"empty", func(w *channel.TextWatermark) { w.Text = "" }},
		{"too long", func(w *channel.TextWatermark) { w.Text = strings.Repeat("a", MaxTextBytes+1) }},
		{"invalid utf-8", func(w *channel.TextWatermark) { w.Text = "a\xffb" }},
		{"NUL", func(w *channel.TextWatermark) { w.Text = "a\x00b" }},
		{"escape", func(w *channel.TextWatermark) { w.Text = "a\x1b[31mb" }},
		{"font too small", func(w *channel.TextWatermark) { w.FontSize = 2 }},
		{"font too big", func(w *channel.TextWatermark) { w.FontSize = 513 }},
		{"negative top", func(w *channel.TextWatermark) { w.Top = -1 }},
		{"huge left", func(w *channel.TextWatermark) { w.Left = MaxOffset + 1 }},
		{"colour injection", func(w *channel.TextWatermark) { w.Color = "red:fontsize=99" }},
		{"unknown colour", func(w *channel.TextWatermark) { w.Color = "ultraviolet" }},
		{"short hex", func(w *channel.TextWatermark) { w.Color = "#fff" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := ok
			tc.mod(&w)
			err := ValidateText(w)
			require.ErrorIs(t, err, ErrInvalid)
			_, err = TextFilter(w, "/tmp/x", Font{Family: "DejaVu Sans"})
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
}

func TestColor(t *testing.T) {
	for in, want := range map[string]string{"": "white", "Red": "red", "#00FF00": "0x00FF00", "#11223344": "0x11223344"} {
		got, err := Color(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

// avGetToken is ffmpeg's av_get_token (libavutil/avstring.c): it reads one
// token up to an unescaped, unquoted character of term, handling '\' escapes
// and '...' quotes and trimming unquoted whitespace. It returns the token and
// the rest.
func avGetToken(s, term string) (string, string) {
	const ws = " \n\t\r"
	s = strings.TrimLeft(s, ws)
	var out []byte
	end := 0
	i := 0
	for i < len(s) && !strings.ContainsRune(term, rune(s[i])) {
		c := s[i]
		i++
		switch {
		case c == '\\' && i < len(s):
			out = append(out, s[i])
			i++
			end = len(out)
		case c == '\'':
			for i < len(s) && s[i] != '\'' {
				out = append(out, s[i])
				i++
			}
			if i < len(s) {
				i++
				end = len(out)
			}
		default:
			out = append(out, c)
		}
	}
	for len(out) > end && strings.ContainsRune(ws, rune(out[len(out)-1])) {
		out = out[:len(out)-1]
	}
	return string(out), s[i:]
}

// unescape undoes both levels the way ffmpeg parses a filter option value.
func unescape(escaped string) (string, bool) {
	graph, rest := avGetToken(escaped, "[],;")
	if rest != "" {
		return "", false
	}
	opt, rest := avGetToken(graph, ":=")
	if rest != "" {
		return "", false
	}
	return opt, true
}

func TestEscapeValueRoundTrip(t *testing.T) {
	for _, h := range append(hostile, "", "/tmp/livestack-worker-1/watermark.txt", "C:\\fonts\\a b.ttf") {
		got, ok := unescape(EscapeValue(h))
		require.True(t, ok, "%q escapes into one token", h)
		require.Equal(t, h, got)
	}
}

func FuzzEscapeValue(f *testing.F) {
	for _, h := range hostile {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, v string) {
		e := EscapeValue(v)
		got, ok := unescape(e)
		if !ok || got != v {
			t.Fatalf("EscapeValue(%q) = %q parses back as %q (whole token: %v)", v, e, got, ok)
		}
	})
}

func FuzzValidateText(f *testing.F) {
	for _, h := range hostile {
		f.Add(h, 24, "#FFCC00", 10, 10)
	}
	f.Add("x", 0, "red:x=1", 0, 0)
	f.Fuzz(func(t *testing.T, text string, size int, color string, top, left int) {
		w := channel.TextWatermark{Text: text, FontSize: size, Color: color, Top: top, Left: left}
		filter, err := TextFilter(w, "/tmp/wm dir/watermark.txt", Font{File: "/usr/share/fonts/a'b.ttf"})
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		// The filter is one drawtext whose options are exactly ours: the text
		// never appears, and each option parses back to a safe value.
		body, ok := strings.CutPrefix(filter, "drawtext=")
		if !ok {
			t.Fatalf("not a drawtext: %q", filter)
		}
		graph, rest := avGetToken(body, "[],;")
		if rest != "" {
			t.Fatalf("filter %q does not stay one filter", filter)
		}
		keys := []string{}
		for graph != "" {
			k, r := avGetToken(graph, "=")
			v, r2 := avGetToken(strings.TrimPrefix(r, "="), ":")
			_ = v
			keys = append(keys, k)
			graph = strings.TrimPrefix(r2, ":")
		}
		want := []string{"fontfile", "textfile", "expansion", "fontsize", "fontcolor", "x", "y"}
		if strings.Join(keys, ",") != strings.Join(want, ",") {
			t.Fatalf("options %v, want %v (filter %q)", keys, want, filter)
		}
	})
}

// render draws filter on a black 480x64 frame and returns its gray pixels.
func render(t *testing.T, filter string) []byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "color=c=black:s=480x64:d=1",
		"-vf", filter, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-").Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("ffmpeg -vf %q: %v: %s", filter, err, ee.Stderr)
	}
	require.NoError(t, err)
	require.Len(t, out, 480*64)
	return out
}

// TestHostileTextRendersLiterally draws each hostile text with the worker's
// filter (textfile, expansion=none) and compares the frame with an
// independent rendering of the same characters (text= with EscapeValue): they
// must be identical and not blank; and a text differing only in its special
// characters must look different, so those characters are drawn.
func TestHostileTextRendersLiterally(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("LIVESTACK_E2E") == "1" {
			t.Fatal("ffmpeg is required")
		}
		t.Skip("ffmpeg not installed")
	}
	font := DefaultFont()
	blank := render(t, "null")
	for _, h := range []string{`it's a:b \ %{pts} ; [x] , drawbox=c=red`, `%{localtime}`, `'\'':fontsize=300\`} {
		dir := t.TempDir()
		w := channel.TextWatermark{Text: h, FontSize: 16, Color: "white", Top: 20, Left: 4}
		p, err := WriteTextFile(dir, h)
		require.NoError(t, err)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.Equal(t, h, string(b), "the text file holds the exact bytes")
		f, err := TextFilter(w, p, font)
		require.NoError(t, err)
		require.NotContains(t, f, h)
		got := render(t, f)
		require.NotEqual(t, blank, got, "%q drew nothing", h)

		ref := "drawtext=fontfile=" + EscapeValue(font.File) + ":text=" + EscapeValue(h) + ":expansion=none:fontsize=16:fontcolor=white:x=4:y=20"
		if font.File == "" {
			ref = strings.Replace(ref, "fontfile=", "font=", 1)
			ref = strings.Replace(ref, EscapeValue(""), EscapeValue(font.Family), 1)
		}
		require.Equal(t, render(t, ref), got, "%q renders as its literal characters", h)

		stripped := strings.NewReplacer("'", "", ":", "", `\`, "", "%", "", ";", "", "[", "", "]", "", ",", "").Replace(h)
		p2, err := WriteTextFile(t.TempDir(), stripped)
		require.NoError(t, err)
		f2, err := TextFilter(w, p2, font)
		require.NoError(t, err)
		require.NotEqual(t, render(t, f2), got, "special characters of %q are drawn", h)
	}
}
