package frame

import (
	"errors"
	"testing"

	"github.com/livestack/livestack/shared/media/flv"
)

func TestHandleTag(t *testing.T) {
	var tr Tracks
	// HEVC (legacy codec id 12) and MP3 are not packaged
	if _, _, err := tr.HandleTag(flv.TagVideo, 0, []byte{0x1C, 0, 0, 0, 0}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("hevc: %v", err)
	}
	if _, _, err := tr.HandleTag(flv.TagAudio, 0, []byte{0x2F, 1, 2}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("mp3: %v", err)
	}
	// AAC frames before the AAC config are dropped silently
	f, changed, err := tr.HandleTag(flv.TagAudio, 0, []byte{0xAF, 1, 0x21})
	if err != nil || changed || f.Kind != None {
		t.Fatalf("frame before config: %v %v %v", f.Kind, changed, err)
	}
	asc := []byte{0xAF, 0, 0x12, 0x10} // AAC-LC 44.1 kHz stereo
	if _, changed, err := tr.HandleTag(flv.TagAudio, 0, asc); err != nil || !changed {
		t.Fatalf("config: %v %v", changed, err)
	}
	if _, changed, _ := tr.HandleTag(flv.TagAudio, 0, asc); changed {
		t.Fatal("the same config again is not a change")
	}
	f, _, err = tr.HandleTag(flv.TagAudio, 23, []byte{0xAF, 1, 0x21, 0x22})
	if err != nil || f.Kind != Audio || f.DTS != 23 || len(f.Data) != 2 {
		t.Fatalf("audio frame: %+v %v", f, err)
	}
	if tr.Codecs() != "mp4a.40.2" || tr.AACFrameTicks() != 1024 {
		t.Fatalf("codecs %q ticks %d", tr.Codecs(), tr.AACFrameTicks())
	}
}

func TestForEachNALU(t *testing.T) {
	var got [][]byte
	err := ForEachNALU([]byte{0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x41}, 4, func(n []byte) { got = append(got, n) })
	if err != nil || len(got) != 2 || got[0][0] != 0x65 || got[1][0] != 0x41 {
		t.Fatalf("%v %v", got, err)
	}
	if err := ForEachNALU([]byte{0, 0, 0, 9, 1}, 4, func([]byte) {}); err == nil {
		t.Fatal("a length past the end is an error")
	}
	if err := ForEachNALU([]byte{0, 0}, 4, func([]byte) {}); err == nil {
		t.Fatal("a truncated length is an error")
	}
}

func FuzzHandleTag(f *testing.F) {
	f.Add(uint8(flv.TagVideo), []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 1, 0x68})
	f.Add(uint8(flv.TagVideo), []byte{0x17, 1, 0, 0, 0x28, 0, 0, 0, 1, 0x65})
	f.Add(uint8(flv.TagAudio), []byte{0xAF, 0, 0x12, 0x10})
	f.Add(uint8(flv.TagVideo), []byte{0x90, 'h', 'v', 'c', '1'})
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		var tr Tracks
		fr, _, err := tr.HandleTag(flv.TagType(typ), 40, data)
		if err != nil {
			return
		}
		if fr.Kind == Video && tr.AVC == nil || fr.Kind == Audio && tr.AAC == nil {
			t.Fatal("a frame without a configuration")
		}
		if fr.Kind == Video {
			_ = ForEachNALU(fr.Data, tr.AVC.NALULengthSize, func([]byte) {})
		}
		_ = tr.Codecs()
	})
}
