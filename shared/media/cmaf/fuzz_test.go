package cmaf

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
)

func FuzzParseBlockingQuery(f *testing.F) {
	for _, s := range []string{"", "_HLS_msn=3", "_HLS_msn=3&_HLS_part=2", "_HLS_part=1", "_HLS_msn=-1", "_HLS_msn=99999999999999999999", "a=b&_HLS_msn=1&&", "_HLS_skip=YES"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := ParseBlockingQuery(raw)
		if err != nil {
			return
		}
		if q.HasPart && !q.HasMSN {
			t.Fatalf("%q: part without msn accepted", raw)
		}
		if q.Part < 0 {
			t.Fatalf("%q: negative part", raw)
		}
	})
}

func FuzzParseMediaName(f *testing.F) {
	for _, s := range []string{"ctk-0.m4s", "ctk-12.3.m4s", "ctk-01.m4s", "ctk-1.02.m4s", "ctk-.m4s", "ctk-1..m4s", "cxx-1.m4s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		msn, part, ok := ParseMediaName(name, "tk")
		if !ok {
			return
		}
		want := "ctk-" + strconv.FormatUint(msn, 10)
		if part >= 0 {
			want += "." + strconv.Itoa(part)
		}
		if want+".m4s" != name {
			t.Fatalf("%q parsed as %d/%d", name, msn, part)
		}
	})
}

// FuzzPackagerTags feeds an arbitrary tag mid-stream: no panic, and what is served
// stays servable.
func FuzzPackagerTags(f *testing.F) {
	tags := clip(f)
	for i, tag := range tags[:12] {
		f.Add(uint8(tag.Type), tags[i].Timestamp, tag.Data)
	}
	f.Add(uint8(flv.TagVideo), uint32(900), []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 9, 0x65})
	f.Fuzz(func(t *testing.T, typ uint8, ts uint32, data []byte) {
		p := New("k", "tk", Config{SegmentDuration: 500 * time.Millisecond, BlockTimeout: time.Millisecond})
		feed(p, tags[:40], 0)
		p.WriteTag(flv.TagType(typ), ts, data)
		feed(p, tags[40:80], 0)
		p.End()
		if w := get(t, p, MediaFile); w.Code != http.StatusOK && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("playlist status %d", w.Code)
		}
	})
}
