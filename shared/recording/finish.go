package recording

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
)

// finishStats describes a finished file.
type finishStats struct {
	Duration time.Duration
	Bytes    int64
	Samples  int
	// Truncated: the journal had a torn tail (the process died mid-write).
	Truncated bool
}

// Errors of finishJournal that no retry can cure.
var (
	// errEmptyJournal: the journal holds no complete fragment.
	errEmptyJournal = errors.New("journal holds no complete fragment")
	// errCorruptJournal: the journal's header cannot be read.
	errCorruptJournal = errors.New("journal is corrupt")
)

// trackTable collects one track's progressive sample tables while the
// journal's fragments are read, run-length coded as they grow.
type trackTable struct {
	timeScale uint32
	video     bool

	samples  uint32
	baseTime uint64 // decode time of the first sample
	firstCTO int32  // composition offset of the first sample
	total    uint64 // sum of durations, ticks

	sttsCount, sttsDelta []uint32
	sizes                []uint32
	sync                 []uint32 // 1-based numbers of sync samples
	cttsCount            []uint32
	cttsOffset           []int32
	chunks               []uint64 // absolute file offsets
	chunkSamples         []uint32
	chunkEnd             int64 // where the last chunk's payload ends
}

func (t *trackTable) add(base uint64, s fragSample, at int64) {
	if t.samples == 0 {
		t.baseTime, t.firstCTO = base, s.PTSOffset
	}
	t.samples++
	if n := len(t.sttsDelta); n > 0 && t.sttsDelta[n-1] == s.Duration {
		t.sttsCount[n-1]++
	} else {
		t.sttsCount, t.sttsDelta = append(t.sttsCount, 1), append(t.sttsDelta, s.Duration)
	}
	t.total += uint64(s.Duration)
	t.sizes = append(t.sizes, s.Size)
	if !s.IsNonSyncSample {
		t.sync = append(t.sync, t.samples)
	}
	if n := len(t.cttsOffset); n > 0 && t.cttsOffset[n-1] == s.PTSOffset {
		t.cttsCount[n-1]++
	} else {
		t.cttsCount, t.cttsOffset = append(t.cttsCount, 1), append(t.cttsOffset, s.PTSOffset)
	}
	if len(t.chunks) > 0 && at == t.chunkEnd {
		t.chunkSamples[len(t.chunkSamples)-1]++
	} else {
		t.chunks, t.chunkSamples = append(t.chunks, uint64(at)), append(t.chunkSamples, 1)
	}
	t.chunkEnd = at + int64(s.Size)
}

// journalLayout is where a journal's parts are.
type journalLayout struct {
	moov    *mp4.MoovBox // the init block's
	mdatAt  int64        // the 16-byte mdat header
	dataEnd int64        // where the fragment area ends (the file's end while recording)
}

// readJournalHeader reads ftyp, free { moov } and the mdat header.
func readJournalHeader(f io.ReaderAt, size int64) (journalLayout, error) {
	var l journalLayout
	typ, n, ok := boxHeader(f, 0, size)
	if !ok {
		return l, errEmptyJournal
	}
	if typ != "ftyp" {
		return l, fmt.Errorf("%w: starts with %q", errCorruptJournal, typ)
	}
	off := n
	typ, n, ok = boxHeader(f, off, size)
	if !ok {
		return l, errEmptyJournal
	}
	if typ != "free" || n < 16 || n > 1<<20 {
		return l, fmt.Errorf("%w: no init block", errCorruptJournal)
	}
	b := make([]byte, n-8)
	if _, err := f.ReadAt(b, off+8); err != nil {
		return l, fmt.Errorf("read init block: %w", err)
	}
	if string(b[4:8]) != "moov" || int64(binary.BigEndian.Uint32(b)) != n-8 {
		return l, fmt.Errorf("%w: no moov in the init block", errCorruptJournal)
	}
	moov, err := decodeInitMoov(b)
	if err != nil {
		return l, err
	}
	l.moov = moov
	off += n
	var h [16]byte
	if off+16 > size {
		return l, errEmptyJournal
	}
	if _, err := f.ReadAt(h[:], off); err != nil {
		return l, fmt.Errorf("read mdat header: %w", err)
	}
	l.mdatAt, l.dataEnd = off, size
	switch {
	case bytes.Equal(h[:], openMdat):
	case string(h[:8]) == "\x00\x00\x00\x01mdat":
		if end := off + int64(binary.BigEndian.Uint64(h[8:])); end >= off+16 && end < size {
			l.dataEnd = end // finished before: what follows is its moov
		}
	default:
		return l, fmt.Errorf("%w: no mdat after the init block", errCorruptJournal)
	}
	return l, nil
}

// decodeInitMoov decodes an init block's moov box and checks that it has
// what finishing needs.
func decodeInitMoov(b []byte) (*mp4.MoovBox, error) {
	box, err := mp4.DecodeBox(0, bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: init block: %w", errCorruptJournal, err)
	}
	moov, ok := box.(*mp4.MoovBox)
	if !ok || moov.Mvhd == nil || len(moov.Traks) == 0 {
		return nil, fmt.Errorf("%w: init block has no tracks", errCorruptJournal)
	}
	for _, t := range moov.Traks {
		if t.Tkhd == nil || t.Mdia == nil || t.Mdia.Mdhd == nil || t.Mdia.Mdhd.Timescale == 0 || t.Mdia.Hdlr == nil ||
			t.Mdia.Minf == nil || t.Mdia.Minf.Stbl == nil || t.Mdia.Minf.Stbl.Stsd == nil || len(t.Mdia.Minf.Stbl.Stsd.Children) == 0 {
			return nil, fmt.Errorf("%w: init block track without time scale or sample entry", errCorruptJournal)
		}
	}
	return moov, nil
}

// newTrackTables returns an empty table per track of the init block.
func newTrackTables(moov *mp4.MoovBox) map[uint32]*trackTable {
	tables := make(map[uint32]*trackTable, len(moov.Traks))
	for _, t := range moov.Traks {
		tables[t.Tkhd.TrackID] = &trackTable{timeScale: t.Mdia.Mdhd.Timescale, video: t.Mdia.Hdlr.HandlerType == "vide"}
	}
	return tables
}

// finishJournal finishes the journal src in place (see journal.go) and
// links it as dst. It keeps every complete fragment and drops a torn tail.
// dst appears only once the finished file is on disk (gs.Sync), so it exists
// whole or not at all; src stays until the caller removes it. dst's directory
// entry is left to the spool's next flush (gs.DirWritten). idx is the index
// kept while the journal was written (journal.idx), or nil: the journal is
// then read to build it (a journal found in the spool after a crash).
func finishJournal(src, dst string, gs *groupSync, idx *journalIndex) (finishStats, error) {
	var st finishStats
	f, err := os.OpenFile(src, os.O_RDWR, 0)
	if err != nil {
		return st, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return st, fmt.Errorf("stat journal: %w", err)
	}
	size := fi.Size()
	var l journalLayout
	var tables map[uint32]*trackTable
	var dataEnd int64
	if idx != nil && idx.end <= size {
		l, tables, dataEnd = idx.layout, idx.tables, idx.end
		st.Samples, st.Truncated = idx.samples, idx.torn
	} else {
		if l, err = readJournalHeader(f, size); err != nil {
			return st, err
		}
		tables = newTrackTables(l.moov)
		if dataEnd, err = scanFragments(f, l, tables, &st); err != nil {
			return st, err
		}
	}
	if st.Samples == 0 {
		return st, errEmptyJournal
	}

	moov, dur := progressiveMoov(l.moov, tables)
	st.Duration = dur
	var mb bytes.Buffer
	mb.Grow(int(moov.Size()))
	if err := moov.Encode(&mb); err != nil {
		return st, fmt.Errorf("%w: encode moov: %w", errCorruptJournal, err)
	}

	var h [16]byte
	copy(h[:], "\x00\x00\x00\x01mdat")
	binary.BigEndian.PutUint64(h[8:], uint64(dataEnd-l.mdatAt))
	if size != dataEnd {
		if err := f.Truncate(dataEnd); err != nil {
			return st, fmt.Errorf("truncate journal: %w", err)
		}
	}
	if _, err := f.WriteAt(h[:], l.mdatAt); err != nil {
		return st, fmt.Errorf("write mdat header: %w", err)
	}
	if _, err := f.WriteAt(mb.Bytes(), dataEnd); err != nil {
		return st, fmt.Errorf("write moov: %w", err)
	}
	if err := gs.Sync(f); err != nil {
		return st, fmt.Errorf("sync mp4: %w", err)
	}
	dropCache(f, 0, 0) // durable, and not read again here (journal.dropDurable)
	if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("replace mp4: %w", err)
	}
	if err := os.Link(src, dst); err != nil {
		return st, fmt.Errorf("link mp4: %w", err)
	}
	// The link is durable with the caller's files.log entry ("ready"), whose
	// flush comes after it: one shared flush at a cut, not two.
	if err := gs.DirWritten(filepath.Dir(dst)); err != nil {
		return st, err
	}
	st.Bytes = dataEnd + int64(mb.Len())
	return st, nil
}

// scanFragments reads the journal's fragments into tables: only each moof and
// the mdat header after it. It returns where the last complete fragment ends.
func scanFragments(f *os.File, l journalLayout, tables map[uint32]*trackTable, st *finishStats) (int64, error) {
	readRandom(f)
	off, end := l.mdatAt+16, l.dataEnd
	var hb []byte
	for off < end {
		typ, n, ok := boxHeader(f, off, end)
		if !ok || typ != "moof" || n > 16<<20 {
			st.Truncated = true
			break
		}
		mtyp, mn, ok := boxHeader(f, off+n, end)
		if !ok || mtyp != "mdat" {
			st.Truncated = true
			break
		}
		if int64(cap(hb)) < n+8 {
			hb = make([]byte, n+8)
		}
		hb = hb[:n+8]
		if _, err := f.ReadAt(hb, off); err != nil {
			return 0, fmt.Errorf("read fragment: %w", err)
		}
		_, fts, ok := parseMoof(hb, int(n+mn))
		if !ok {
			st.Truncated = true
			break
		}
		for _, ft := range fts {
			t := tables[uint32(ft.ID)]
			if t == nil {
				continue // not in the init block: its bytes stay unreferenced
			}
			for _, s := range ft.Samples {
				t.add(ft.BaseTime, s, off+s.Offset)
				st.Samples++
			}
		}
		off += n + mn
	}
	return off, nil
}

// progressiveMoov builds the finished file's moov from the init block's
// (its mvhd, tkhd, mdia headers and sample entries) and the sample tables.
// Tracks without samples are left out. It returns the longest track's
// duration.
//
// Timeline: presentation time 0 is the first sample of the leading track
// (video when there is one) at its presentation time; an edit list delays a
// track that starts later (an empty edit) or skips what of it comes earlier.
func progressiveMoov(init *mp4.MoovBox, tables map[uint32]*trackTable) (*mp4.MoovBox, time.Duration) {
	var lead *trackTable
	for _, it := range init.Traks {
		t := tables[it.Tkhd.TrackID]
		if t.samples == 0 {
			continue
		}
		if lead == nil || (t.video && !lead.video) {
			lead = t
		}
	}
	start := func(t *trackTable) float64 { // seconds
		return (float64(t.baseTime) + float64(t.videoCTO())) / float64(t.timeScale)
	}
	origin := start(lead)

	mvhd := *init.Mvhd
	if mvhd.Timescale == 0 {
		mvhd.Timescale = 1000
	}
	mvhd.Duration = 0
	movie := func(ticks uint64, scale uint32) uint64 { // track ticks to movie ticks
		return uint64(float64(ticks) * float64(mvhd.Timescale) / float64(scale))
	}
	moov := mp4.NewMoovBox()
	moov.AddChild(&mvhd)
	var longest time.Duration
	for _, it := range init.Traks {
		t := tables[it.Tkhd.TrackID]
		if t.samples == 0 {
			continue
		}
		if d := time.Duration(float64(t.total) / float64(t.timeScale) * float64(time.Second)); d > longest {
			longest = d
		}

		// edit list: the media edit starts at the first sample's presentation
		// (never before media time 0), after what of the track comes before
		// the origin, or after an empty edit for a track that starts later.
		cto := int64(t.videoCTO())
		elst := &mp4.ElstBox{}
		var presented uint64 // movie ticks, empty edit included
		var early int64      // track ticks before the origin, left out
		if d := start(t) - origin; d > 0 {
			empty := uint64(d * float64(mvhd.Timescale))
			elst.Entries = append(elst.Entries, mp4.ElstEntry{SegmentDuration: empty, MediaTime: -1, MediaRateInteger: 1})
			presented += empty
		} else {
			early = min(int64(-d*float64(t.timeScale)), int64(t.total))
		}
		mediaTime := max(cto, 0) + early
		skipped := min(uint64(early+max(-cto, 0)), t.total) // ticks the edit leaves out
		seg := movie(t.total-skipped, t.timeScale)
		elst.Entries = append(elst.Entries, mp4.ElstEntry{SegmentDuration: seg, MediaTime: mediaTime, MediaRateInteger: 1})
		presented += seg
		for _, e := range elst.Entries {
			if e.SegmentDuration > math.MaxUint32 || e.MediaTime > math.MaxInt32 {
				elst.Version = 1
			}
		}
		edts := &mp4.EdtsBox{}
		edts.AddChild(elst)

		tkhd := *it.Tkhd
		tkhd.Flags |= 3 // enabled, in movie
		tkhd.Duration = presented
		tkhd.Version = version(presented)
		mvhd.Duration = max(mvhd.Duration, presented)

		mdhd := *it.Mdia.Mdhd
		mdhd.Duration = t.total
		mdhd.Version = version(t.total)

		stbl := mp4.NewStblBox()
		stbl.AddChild(it.Mdia.Minf.Stbl.Stsd)
		stbl.AddChild(&mp4.SttsBox{SampleCount: t.sttsCount, SampleTimeDelta: t.sttsDelta})
		if int(t.samples) != len(t.sync) {
			stbl.AddChild(&mp4.StssBox{SampleNumber: t.sync})
		}
		if len(t.cttsOffset) > 1 || t.cttsOffset[0] != 0 {
			ctts := &mp4.CttsBox{}
			for _, o := range t.cttsOffset {
				if o < 0 {
					ctts.Version = 1
				}
			}
			_ = ctts.AddSampleCountsAndOffset(t.cttsCount, t.cttsOffset) // same lengths by construction
			stbl.AddChild(ctts)
		}
		stsc := &mp4.StscBox{}
		for i, n := range t.chunkSamples {
			if i == 0 || n != t.chunkSamples[i-1] {
				_ = stsc.AddEntry(uint32(i+1), n, 1) // chunk numbers are increasing by construction
			}
		}
		stbl.AddChild(stsc)
		stbl.AddChild(&mp4.StszBox{SampleNumber: t.samples, SampleSize: t.sizes})
		if t.chunks[len(t.chunks)-1] > math.MaxUint32 {
			stbl.AddChild(&mp4.Co64Box{ChunkOffset: t.chunks})
		} else {
			co := make([]uint32, len(t.chunks))
			for i, c := range t.chunks {
				co[i] = uint32(c)
			}
			stbl.AddChild(&mp4.StcoBox{ChunkOffset: co})
		}

		minf := *it.Mdia.Minf
		minf.Children = replaceBox(minf.Children, minf.Stbl, stbl)
		minf.Stbl = stbl
		mdia := *it.Mdia
		mdia.Children = replaceBox(replaceBox(mdia.Children, mdia.Minf, &minf), mdia.Mdhd, &mdhd)
		mdia.Minf, mdia.Mdhd = &minf, &mdhd

		trak := mp4.NewTrakBox()
		trak.AddChild(&tkhd)
		trak.AddChild(edts)
		trak.AddChild(&mdia)
		moov.AddChild(trak)
	}
	mvhd.Version = version(mvhd.Duration)
	return moov, longest
}

// videoCTO is the composition offset the video edit starts at (0 for audio).
func (t *trackTable) videoCTO() int32 {
	if t.video {
		return t.firstCTO
	}
	return 0
}

// version is the box version a duration needs: 1 past 32 bits.
func version(d uint64) byte {
	if d > math.MaxUint32 {
		return 1
	}
	return 0
}

// replaceBox returns children with old replaced by new.
func replaceBox(children []mp4.Box, old, new mp4.Box) []mp4.Box {
	out := make([]mp4.Box, len(children))
	for i, c := range children {
		if c == old {
			c = new
		}
		out[i] = c
	}
	return out
}
