package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/stretchr/testify/require"
)

const llPlaylist = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6
#EXT-X-PART-INF:PART-TARGET=0.2
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-MAP:URI="init.mp4"
#EXT-X-PART:DURATION=0.2,URI="s7p0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.2,URI="s7p1.mp4"
#EXTINF:0.4,
s7.mp4
#EXT-X-PART:DURATION=0.2,URI="s8p0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.2,URI="s8p1.mp4"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s8p2.mp4"
`

func TestAllParts(t *testing.T) {
	pl, err := parseMedia([]byte(llPlaylist))
	require.NoError(t, err)
	ps := pl.allParts()
	require.Len(t, ps, 4)
	require.Equal(t, partRef{MSN: 7, Index: 0, URI: "s7p0.mp4", Duration: 200 * time.Millisecond}, ps[0])
	require.Equal(t, partRef{MSN: 8, Index: 1, URI: "s8p1.mp4", Duration: 200 * time.Millisecond}, ps[3])
	require.True(t, ps[2].after(ps[1]))
	require.True(t, ps[3].after(ps[2]))
	require.False(t, ps[0].after(ps[0]))
	require.Equal(t, 600*time.Millisecond, pl.PartHoldBack)
	require.Equal(t, 200*time.Millisecond, pl.PartTarget)
	require.True(t, pl.CanBlockReload)
	require.Equal(t, "init.mp4", pl.MapURI)
	require.Len(t, pl.Segments, 1)
	require.Equal(t, mediaSegment{URI: "s7.mp4", Duration: 400 * time.Millisecond, Parts: ps[:2]}, pl.Segments[0])
}

func TestWithQueryAndResolve(t *testing.T) {
	require.Equal(t, "http://h/a/v.m3u8?_HLS_msn=3&_HLS_part=1&x=y",
		withQuery("http://h/a/v.m3u8?x=y", "_HLS_msn", "3", "_HLS_part", "1"))
	u, err := resolve("http://h/a/master.m3u8?sig=1", "v/stream.m3u8")
	require.NoError(t, err)
	require.Equal(t, "http://h/a/v/stream.m3u8", u)
}

// TestVideoDecodeTimes builds a video init segment and a two-sample fragment
// with mp4ff and reads the decode times back.
func TestVideoDecodeTimes(t *testing.T) {
	init := mp4.CreateEmptyInit()
	init.AddEmptyTrack(90000, "video", "und")
	audio := mp4.CreateEmptyInit()
	audio.AddEmptyTrack(44100, "audio", "und")
	var ib bytes.Buffer
	require.NoError(t, init.Encode(&ib))
	track, err := videoTrack(ib.Bytes())
	require.NoError(t, err)
	require.Equal(t, uint32(90000), track.timescale)

	var ab bytes.Buffer
	require.NoError(t, audio.Encode(&ab))
	_, err = videoTrack(ab.Bytes())
	require.ErrorContains(t, err, "no video track")

	frag, err := mp4.CreateFragment(1, init.Moov.Trak.Tkhd.TrackID)
	require.NoError(t, err)
	for i, data := range [][]byte{{1, 2, 3}, {4, 5}} {
		frag.AddFullSample(mp4.FullSample{
			Sample:     mp4.Sample{Dur: 3000, Size: uint32(len(data))},
			DecodeTime: 90000*10 + uint64(i)*3000,
			Data:       data,
		})
	}
	var fb bytes.Buffer
	require.NoError(t, frag.Encode(&fb))
	d, err := track.videoDecodeTimes(fb.Bytes())
	require.NoError(t, err)
	require.InDeltaSlice(t, []float64{10000, 10000 + 1000.0/30}, d, 0.001)

	_, err = track.videoDecodeTimes([]byte("not mp4 at all"))
	require.Error(t, err)
}

func TestSpreadOf(t *testing.T) {
	require.Nil(t, spreadOf(nil))
	s := spreadOf([]float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	require.Equal(t, &spread{P50: 10, P95: 19, Min: 1, Max: 20, Samples: 20}, s)
}
