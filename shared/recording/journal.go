package recording

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"
)

// An MP4 file is recorded in two steps.
//
// While it is being recorded it is a journal: a fragmented MP4 (an init block,
// then one moof+mdat fragment about every Config.FragmentDuration) appended to
// "NNNNNN.mp4.journal" and flushed to disk with the spool's next flush, within
// about a second (groupSync). A process killed at any
// moment leaves a journal whose complete fragments are intact; the torn tail is
// ignored. When the file is cut (or, after a crash, when the spool is scanned)
// the journal is converted into a progressive MP4 ("NNNNNN.mp4": ftyp, moov with
// the full sample tables and duration, mdat) that every player and ffprobe read
// with its real duration; only then is it uploaded.
//
// Both formats are written by mediacommon (fmp4 and pmp4); the converter reads
// the journal back with mediacommon's fmp4 parser, one fragment at a time, and
// hands pmp4 payload readers that read the journal by offset, so memory stays
// bounded by one fragment whatever the file's length.

// journal appends fragments to a journal file.
type journal struct {
	f     *os.File
	path  string
	bytes int64
	seq   uint32
	buf   seekablebuffer.Buffer // the init block
	frag  []byte                // a fragment (appendPart), reused
	gs    *groupSync
}

func createJournal(path string, init *fmp4.Init, gs *groupSync) (*journal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	j := &journal{f: f, path: path, gs: gs}
	if err := init.Marshal(&j.buf); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("marshal init: %w", err)
	}
	if err := j.flushBuf(); err != nil {
		_ = f.Close()
		return nil, err
	}
	if err := gs.DirWritten(filepath.Dir(path)); err != nil {
		_ = f.Close()
		return nil, err
	}
	return j, nil
}

func (j *journal) flushBuf() error {
	err := j.write(j.buf.Bytes())
	j.buf.Reset()
	return err
}

// write appends b; the spool's next flush makes it durable (groupSync.Written).
func (j *journal) write(b []byte) error {
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	j.bytes += int64(len(b))
	if err := j.gs.Written(j.f); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	return nil
}

// writePart appends one fragment.
func (j *journal) writePart(tracks []*fmp4.PartTrack) error {
	j.seq++
	j.frag = appendPart(j.frag[:0], fmp4.Part{SequenceNumber: j.seq, Tracks: tracks})
	return j.write(j.frag)
}

func (j *journal) close() error {
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("close journal: %w", err)
	}
	return nil
}

// boxHeader reads the top-level box header at off: its type and total size.
// ok is false at EOF or when the box runs past size (a torn tail).
// Hand-written (8 or 16 bytes): go-mp4's box walker fails on a torn file
// without saying where the last complete box ended, and the converter must
// keep everything before it.
func boxHeader(r io.ReaderAt, off, size int64) (typ string, boxSize int64, ok bool) {
	var h [16]byte
	if off+8 > size {
		return "", 0, false
	}
	if _, err := r.ReadAt(h[:8], off); err != nil {
		return "", 0, false
	}
	boxSize = int64(binary.BigEndian.Uint32(h[:4]))
	typ = string(h[4:8])
	switch boxSize {
	case 1:
		if off+16 > size {
			return "", 0, false
		}
		if _, err := r.ReadAt(h[8:16], off+8); err != nil {
			return "", 0, false
		}
		boxSize = int64(binary.BigEndian.Uint64(h[8:16]))
	case 0:
		boxSize = size - off
	}
	if boxSize < 8 || off+boxSize > size {
		return "", 0, false
	}
	return typ, boxSize, true
}

// journalSample is one sample of a parsed journal: where its payload is.
type journalSample struct {
	offset int64
	size   uint32
}

// convertStats describes a converted file.
type convertStats struct {
	Duration time.Duration
	Bytes    int64
	Samples  int
	// Truncated: the journal had a torn tail (the process died mid-write).
	Truncated bool
}

// Errors of convertJournal that no retry can cure.
var (
	// errEmptyJournal: the journal holds no complete fragment.
	errEmptyJournal = errors.New("journal holds no complete fragment")
	// errCorruptJournal: the journal's init block cannot be read.
	errCorruptJournal = errors.New("journal is corrupt")
)

// convertJournal writes the progressive MP4 dst from the journal src. It reads
// every complete fragment and ignores a torn tail. dst is written to a
// temporary file, fsynced and renamed, so it either exists whole or not at all.
func convertJournal(src, dst string) (convertStats, error) {
	var st convertStats
	f, err := os.Open(src)
	if err != nil {
		return st, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return st, fmt.Errorf("stat journal: %w", err)
	}
	size := fi.Size()

	// ftyp + moov: the init block.
	var off int64
	var init fmp4.Init
	for off < size {
		typ, n, ok := boxHeader(f, off, size)
		if !ok {
			return st, errEmptyJournal
		}
		off += n
		if typ == "moov" {
			b := make([]byte, off)
			if _, err := f.ReadAt(b, 0); err != nil {
				return st, fmt.Errorf("read init: %w", err)
			}
			if err := init.Unmarshal(bytes.NewReader(b)); err != nil {
				return st, fmt.Errorf("%w: init block: %w", errCorruptJournal, err)
			}
			break
		}
	}
	if len(init.Tracks) == 0 {
		return st, errEmptyJournal
	}
	for _, it := range init.Tracks {
		if it.TimeScale == 0 || it.Codec == nil {
			return st, fmt.Errorf("%w: track %d has no time scale or codec", errCorruptJournal, it.ID)
		}
	}

	type trackState struct {
		track    *pmp4.Track
		first    bool
		baseTime uint64
	}
	tracks := map[int]*trackState{}
	var pres pmp4.Presentation
	for _, it := range init.Tracks {
		ts := &trackState{track: &pmp4.Track{ID: it.ID, TimeScale: it.TimeScale, Codec: it.Codec}, first: true}
		tracks[it.ID] = ts
		pres.Tracks = append(pres.Tracks, ts.track)
	}

	// moof + mdat pairs.
	win := &windowReader{r: f}
	for off < size {
		typ, n, ok := boxHeader(f, off, size)
		if !ok {
			st.Truncated = true
			break
		}
		if typ != "moof" {
			off += n // skip anything else (free, styp…)
			continue
		}
		mtyp, mn, ok := boxHeader(f, off+n, size)
		if !ok || mtyp != "mdat" {
			st.Truncated = true
			break
		}
		add := func(id int, base uint64, s fmp4.Sample, js journalSample) {
			ts := tracks[id]
			if ts == nil {
				return
			}
			if ts.first {
				ts.first, ts.baseTime = false, base
			}
			ts.track.Samples = append(ts.track.Samples, &pmp4.Sample{
				Duration:        s.Duration,
				PTSOffset:       s.PTSOffset,
				IsNonSyncSample: s.IsNonSyncSample,
				PayloadSize:     js.size,
				GetPayload:      func() ([]byte, error) { return win.payload(js.offset, js.size) },
			})
			st.Samples++
		}
		// The moof and the mdat header are enough: payloads are read once,
		// when the MP4 is written.
		hb := make([]byte, n+8)
		if _, err := f.ReadAt(hb, off); err != nil {
			return st, fmt.Errorf("read fragment: %w", err)
		}
		if _, fts, ok := parseMoof(hb, int(n+mn)); ok {
			for _, ft := range fts {
				for _, fs := range ft.Samples {
					add(ft.ID, ft.BaseTime, fs.Sample, journalSample{offset: off + fs.Offset, size: fs.Size})
				}
			}
			off += n + mn
			continue
		}
		b := make([]byte, n+mn)
		if _, err := f.ReadAt(b, off); err != nil {
			return st, fmt.Errorf("read fragment: %w", err)
		}
		var parts fmp4.Parts
		if err := parts.Unmarshal(b); err != nil {
			st.Truncated = true // a fragment we cannot read ends the usable journal
			break
		}
		for _, p := range parts {
			for _, pt := range p.Tracks {
				for _, s := range pt.Samples {
					add(pt.ID, pt.BaseTime, *s, journalSample{offset: off + int64(cap(b)-cap(s.Payload)), size: uint32(len(s.Payload))})
				}
			}
		}
		off += n + mn
	}
	if st.Samples == 0 {
		return st, errEmptyJournal
	}

	// Place the tracks on one timeline: presentation time 0 is the first
	// sample of the leading track (video when there is one) at its PTS.
	var lead *trackState
	for _, it := range init.Tracks {
		ts := tracks[it.ID]
		if len(ts.track.Samples) == 0 {
			continue
		}
		if lead == nil || (it.Codec.IsVideo() && !lead.track.Codec.IsVideo()) {
			lead = ts
		}
	}
	origin := float64(lead.baseTime) / float64(lead.track.TimeScale)
	if lead.track.Codec.IsVideo() {
		origin += float64(lead.track.Samples[0].PTSOffset) / float64(lead.track.TimeScale)
	}
	kept := pres.Tracks[:0]
	for _, it := range init.Tracks {
		ts := tracks[it.ID]
		if len(ts.track.Samples) == 0 {
			continue
		}
		start := float64(ts.baseTime) / float64(ts.track.TimeScale)
		if ts.track.Codec.IsVideo() {
			start += float64(ts.track.Samples[0].PTSOffset) / float64(ts.track.TimeScale)
			ts.track.TimeOffset = -ts.track.Samples[0].PTSOffset
		}
		if d := int32((start - origin) * float64(ts.track.TimeScale)); d != 0 && !ts.track.Codec.IsVideo() {
			ts.track.TimeOffset = d
		}
		var total uint64
		for _, s := range ts.track.Samples {
			total += uint64(s.Duration)
		}
		if d := time.Duration(float64(total) / float64(ts.track.TimeScale) * float64(time.Second)); d > st.Duration {
			st.Duration = d
		}
		kept = append(kept, ts.track)
	}
	pres.Tracks = kept

	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return st, fmt.Errorf("create mp4: %w", err)
	}
	cw := &countWriter{w: bufio.NewWriterSize(out, 256<<10)}
	err = pres.Marshal(cw)
	if err == nil {
		err = cw.w.(*bufio.Writer).Flush()
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return st, fmt.Errorf("write mp4: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return st, fmt.Errorf("rename mp4: %w", err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return st, err
	}
	st.Bytes = cw.n
	return st, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// syncDir fsyncs a directory so renames and creations in it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
