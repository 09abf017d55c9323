package hls

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSignatureQuery(t *testing.T) {
	require.Equal(t, "", signatureQuery("a=b"))
	require.Equal(t, "", signatureQuery("_HLS_msn=3"))
	require.Equal(t, "Expires=10&Key-Pair-Id=K&Signature=s~1", signatureQuery("_HLS_msn=3&Expires=10&Signature=s~1&Key-Pair-Id=K&x=y"))
	require.Equal(t, "Key-Pair-Id=K&Policy=p_&Signature=s", signatureQuery("Policy=p_&Signature=s&Key-Pair-Id=K"))
}

func TestAddQuery(t *testing.T) {
	ll := "#EXTM3U\n#EXT-X-MAP:URI=\"init-0.mp4\"\n#EXT-X-PART:DURATION=0.200,URI=\"c-1.0.m4s\",INDEPENDENT=YES\n#EXTINF:1.000,\nc-1.m4s\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"c-2.0.m4s\"\n"
	want := "#EXTM3U\n#EXT-X-MAP:URI=\"init-0.mp4?S=1\"\n#EXT-X-PART:DURATION=0.200,URI=\"c-1.0.m4s?S=1\",INDEPENDENT=YES\n#EXTINF:1.000,\nc-1.m4s?S=1\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"c-2.0.m4s?S=1\"\n"
	require.Equal(t, want, string(addQuery([]byte(ll), "S=1", false)))
	mpd := `<SegmentTemplate timescale="1000" initialization="init-0.mp4" media="c-$Number$.m4s" startNumber="3">`
	require.Equal(t, `<SegmentTemplate timescale="1000" initialization="init-0.mp4?S=1" media="c-$Number$.m4s?S=1" startNumber="3">`, string(addQuery([]byte(mpd), "S=1", true)))
}
