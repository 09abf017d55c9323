package playauth

import (
	"net/url"
	"testing"
	"time"
)

// BenchmarkVerify measures one signed-URL check (every HTTP-FLV open and,
// for playAuth channels, every HLS/CMAF request pays it).
func BenchmarkVerify(b *testing.B) {
	s, v := newPair(b)
	for _, tc := range []struct {
		name string
		sign func(string) (string, error)
	}{
		{"canned", func(u string) (string, error) { return s.Sign(u, testNow.Add(time.Hour)) }},
		{"custom-ip", func(u string) (string, error) {
			return s.SignPolicy(u, "https://play.example/ch/*", testNow.Add(time.Hour), "10.0.0.0/8")
		}},
	} {
		signed, err := tc.sign("https://play.example/ch/live.flv")
		if err != nil {
			b.Fatal(err)
		}
		u, _ := url.Parse(signed)
		req := reqOf(b, signed, "10.1.2.3")
		req.Path = u.EscapedPath()
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Verify(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
