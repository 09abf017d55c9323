package hlstest

import "testing"

func FuzzParseMedia(f *testing.F) {
	f.Add([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n#EXTINF:2.000,\ns1-3.ts\n"))
	f.Add([]byte("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600\n#EXT-X-PART-INF:PART-TARGET=0.200\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-PART:DURATION=0.200,URI=\"a.0.m4s\",INDEPENDENT=YES\n#EXTINF:0.200,\na.m4s\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"b.0.m4s\"\n"))
	f.Add([]byte("#EXTM3U\n#EXT-X-PART:DURATION=\"x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMedia(b)
		if err != nil {
			return
		}
		_ = m.Validate()
		_ = CheckProgress(m, m)
		_ = m.Duration()
		if _, err := ParseMultivariant(b); err == nil {
			return
		}
	})
}

func TestValidateCatchesBrokenPlaylists(t *testing.T) {
	for name, tc := range map[string]string{
		"target below rounded duration": "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.600,\na.ts\n",
		"no target":                     "#EXTM3U\n#EXTINF:2.000,\na.ts\n",
		"parts do not add up":           "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6\n#EXT-X-PART-INF:PART-TARGET=0.2\n#EXT-X-PART:DURATION=0.2,URI=\"a\",INDEPENDENT=YES\n#EXTINF:1.000,\nb\n#EXT-X-ENDLIST\n",
		"part over target":              "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.9\n#EXT-X-PART-INF:PART-TARGET=0.2\n#EXT-X-PART:DURATION=0.3,URI=\"a\",INDEPENDENT=YES\n#EXTINF:0.300,\nb\n#EXT-X-ENDLIST\n",
		"hold back too small":           "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.3\n#EXT-X-PART-INF:PART-TARGET=0.2\n#EXTINF:1.000,\nb\n#EXT-X-ENDLIST\n",
		"no preload hint while live":    "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6\n#EXT-X-PART-INF:PART-TARGET=0.2\n#EXTINF:1.000,\nb\n",
		"part under 85 % of target":     "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6\n#EXT-X-PART-INF:PART-TARGET=0.2\n#EXT-X-PART:DURATION=0.2,URI=\"a\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.1,URI=\"b\"\n#EXT-X-PART:DURATION=0.2,URI=\"c\"\n#EXTINF:0.500,\nd\n#EXT-X-ENDLIST\n",
		"pdt gap":                       "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n#EXTINF:2.000,\na.ts\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:03.000Z\n#EXTINF:2.000,\nb.ts\n",
	} {
		m, err := ParseMedia([]byte(tc))
		if err != nil {
			t.Fatalf("%s: parse: %v", name, err)
		}
		if m.Validate() == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
	// the exceptions: an INDEPENDENT part, and the last part of a segment
	ok := "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6\n#EXT-X-PART-INF:PART-TARGET=0.2\n#EXT-X-PART:DURATION=0.1,URI=\"a\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.2,URI=\"b\"\n#EXT-X-PART:DURATION=0.05,URI=\"c\"\n#EXTINF:0.350,\nd\n#EXT-X-ENDLIST\n"
	if m, err := ParseMedia([]byte(ok)); err != nil {
		t.Errorf("parse: %v", err)
	} else if err := m.Validate(); err != nil {
		t.Errorf("short INDEPENDENT and last parts refused: %v", err)
	}
	prev, _ := ParseMedia([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5\n#EXTINF:2.000,\na.ts\n"))
	next, _ := ParseMedia([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:4\n#EXTINF:2.000,\nz.ts\n"))
	if CheckProgress(prev, next) == nil {
		t.Error("CheckProgress accepted a sequence going back")
	}
}
