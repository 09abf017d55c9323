package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseMedia(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		err   string
		check func(t *testing.T, pl *mediaPlaylist)
	}{
		{"parts only (the first playlist of a stream)", `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600
#EXT-X-PART-INF:PART-TARGET=0.200
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-MAP:URI="initmx-2.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-12-06T03:33:32.900Z
#EXT-X-PART:DURATION=0.200,URI="c-0.0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="c-0.1.m4s"
`, "", func(t *testing.T, pl *mediaPlaylist) {
			require.Empty(t, pl.Segments)
			require.Equal(t, []partRef{{MSN: 0, Index: 0, URI: "c-0.0.m4s", Duration: 200 * time.Millisecond}}, pl.Parts)
			require.Equal(t, "initmx-2.mp4", pl.MapURI)
			require.Equal(t, 600*time.Millisecond, pl.PartHoldBack)
			require.True(t, pl.CanBlockReload)
		}},
		{"segments without parts (TS HLS)", "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:41\n#EXTINF:2.000,\nseg41.ts\n#EXTINF:1.960,\nseg42.ts\n", "", func(t *testing.T, pl *mediaPlaylist) {
			require.Equal(t, 41, pl.MediaSequence)
			require.Equal(t, []mediaSegment{{URI: "seg41.ts", Duration: 2 * time.Second}, {URI: "seg42.ts", Duration: 1960 * time.Millisecond}}, pl.Segments)
			require.Empty(t, pl.allParts())
			require.False(t, pl.CanBlockReload)
		}},
		{"byte ranges", `#EXTM3U
#EXT-X-MEDIA-SEQUENCE:3
#EXT-X-PART:DURATION=0.2,URI="s3.mp4",BYTERANGE="1000@0"
#EXT-X-PART:DURATION=0.2,URI="s3.mp4",BYTERANGE=500
`, "", func(t *testing.T, pl *mediaPlaylist) {
			require.Equal(t, "bytes=0-999", pl.Parts[0].Range)
			require.Equal(t, "bytes=1000-1499", pl.Parts[1].Range)
			require.Equal(t, 3, pl.Parts[1].MSN)
			require.Equal(t, 1, pl.Parts[1].Index)
		}},
		{"multivariant", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n", "multivariant", nil},
		{"no header", "#EXTINF:1,\nx.ts\n", "#EXTM3U", nil},
		{"empty", "", "empty", nil},
		{"uri without extinf", "#EXTM3U\nx.ts\n", "without EXTINF", nil},
		{"part without uri", "#EXTM3U\n#EXT-X-PART:DURATION=0.2\n", "without URI", nil},
		{"bad duration", "#EXTM3U\n#EXTINF:soon,\nx.ts\n", "EXTINF", nil},
		{"unterminated quote", "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\n", "unterminated", nil},
		{"bad byterange", "#EXTM3U\n#EXT-X-PART:DURATION=0.2,URI=\"a\",BYTERANGE=\"x@1\"\n", "BYTERANGE", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, err := parseMedia([]byte(tt.in))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			tt.check(t, pl)
		})
	}
}

func TestAttributes(t *testing.T) {
	a, err := attributes(`TYPE=PART,URI="a,b.m4s",DURATION=0.2,INDEPENDENT=YES`)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"TYPE": "PART", "URI": "a,b.m4s", "DURATION": "0.2", "INDEPENDENT": "YES"}, a)
	_, err = attributes(`URI="a"x,B=1`)
	require.ErrorContains(t, err, "junk")
	_, err = attributes(`=1`)
	require.Error(t, err)
}

// FuzzParseMedia: any bytes parse or fail cleanly, and what parses is consistent.
func FuzzParseMedia(f *testing.F) {
	f.Add([]byte(llPlaylist))
	f.Add([]byte("#EXTM3U\n#EXT-X-PART:DURATION=0.2,URI=\"s3.mp4\",BYTERANGE=\"1000@0\"\n#EXTINF:0.2,\ns.mp4\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pl, err := parseMedia(b)
		if err != nil {
			return
		}
		ps := pl.allParts()
		for i := 1; i < len(ps); i++ {
			if !ps[i].after(ps[i-1]) {
				t.Fatalf("parts out of order: %+v then %+v", ps[i-1], ps[i])
			}
		}
	})
}
