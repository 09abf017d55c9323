package recording

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

// An MP4 file is recorded in place, and finished without copying it.
//
// While it is being recorded the file is a journal, "NNNNNN.mp4.journal":
//
//	ftyp                 isom (a progressive MP4's brands)
//	free { moov }        the codec configuration: mediacommon's fragmented-MP4
//	                     init block, kept out of sight of players in a free box
//	free (8 bytes)  ┐    an mdat running to the end of the file, while recording
//	mdat (size 0)   ┘
//	  moof mdat          one fragment (appendPart) about every
//	  moof mdat          Config.FragmentDuration, inside the outer mdat
//	  …
//
// Fragments are appended and flushed to disk with the spool's next flush,
// within about a second (groupSync). A process killed at any moment leaves a
// journal whose complete fragments are intact; the torn tail is ignored.
//
// When the file is cut (or, after a crash, when the spool is scanned) it is
// finished in place: the journal is cut back to its last complete fragment,
// the free + mdat pair becomes one mdat header with a 64-bit size spanning the
// fragments, and a progressive moov (full sample tables, one chunk per track
// per fragment, pointing at the payloads where they already are) is appended.
// The moofs stay inside the mdat as bytes no sample table points at. The
// result is an ordinary MP4 (ftyp, free, mdat, moov), like OBS and ffmpeg
// write without +faststart, that every player and ffprobe read with its real
// duration; only the moofs (about 1 % of the file) are read to finish it.
//
// Finishing is idempotent: a finished journal still has its fragments inside
// the mdat's declared size, so a crash between finishing and the rename is
// cured by finishing again.
//
// The journal's fragments are written by appendPart (byte for byte
// mediacommon's fmp4 Part.Marshal) and its init block by mediacommon; the
// progressive moov is built from mp4ff's boxes, around the sample entries
// (stsd) mediacommon wrote into the init block. mediacommon's pmp4 writer
// cannot be used for it: it lays out its own mdat after the moov and
// needs every payload handed to it again, which is the copy this avoids.

// journalFtyp is the journal's ftyp: isom, minor version 512, compatible
// with isom, iso2, avc1 and mp41 (what ffmpeg writes for H.264 + AAC MP4).
var journalFtyp = []byte{
	0, 0, 0, 32, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0,
	'i', 's', 'o', 'm', 'i', 's', 'o', '2', 'a', 'v', 'c', '1', 'm', 'p', '4', '1',
}

// openMdat is the mdat header of a journal being recorded: an empty free box,
// then an mdat that runs to the end of the file. Finishing overwrites these
// 16 bytes with a 64-bit mdat header (size 1, then the size).
var openMdat = []byte{0, 0, 0, 8, 'f', 'r', 'e', 'e', 0, 0, 0, 0, 'm', 'd', 'a', 't'}

// journal appends fragments to a journal file.
type journal struct {
	f     *os.File
	bytes int64
	seq   uint32
	frag  []byte   // a fragment's header (appendPartHeader), reused
	iov   [][]byte // the header and the payloads of a fragment, reused
	gs    *groupSync
	// Page cache: what a completed flush made durable is dropped from it,
	// in steps of dropStep (dropCache).
	dropped int64       // bytes before this are dropped
	marks   []flushMark // writes waiting for their flush
	// idx is what finishing the file needs, kept as it is written; nil when
	// the init block could not be read back (finishing then reads the file).
	idx *journalIndex
}

// journalIndex is a journal's layout and sample tables, built while the
// journal is written, so that finishing a file this process recorded reads
// nothing back from it. Reading it back means a few hundred small random
// reads per file (the moofs, long dropped from the page cache), and a
// thousand streams cut their files within the same few seconds: a profile of
// 1,123 recorded streams cutting 20 s files put 5 % of the server's CPU in
// those reads. A journal found in the spool after a crash is read (finishJournal).
type journalIndex struct {
	layout  journalLayout
	tables  map[uint32]*trackTable
	end     int64 // where the last fragment written whole ends
	samples int
	// torn: a fragment was written only in part (a write error); finishing
	// cuts it off.
	torn bool
}

// newJournalIndex indexes a journal whose init block's moov is moov and whose
// mdat header is at mdatAt.
func newJournalIndex(moov []byte, mdatAt int64) (*journalIndex, error) {
	m, err := decodeInitMoov(moov)
	if err != nil {
		return nil, err
	}
	return &journalIndex{
		layout: journalLayout{moov: m, mdatAt: mdatAt},
		tables: newTrackTables(m),
		end:    mdatAt + int64(len(openMdat)),
	}, nil
}

// addPart indexes a fragment written whole at off, header being its moof and
// mdat header (appendPartHeader) and the payloads following it in order.
func (x *journalIndex) addPart(off int64, header int, tracks []*fmp4.PartTrack) {
	at := off + int64(header)
	for _, pt := range tracks {
		t := x.tables[uint32(pt.ID)]
		for _, s := range pt.Samples {
			if t != nil {
				t.add(pt.BaseTime, fragSample{Sample: fmp4.Sample{Duration: s.Duration, PTSOffset: s.PTSOffset,
					IsNonSyncSample: s.IsNonSyncSample}, Size: uint32(len(s.Payload))}, at)
				x.samples++
			}
			at += int64(len(s.Payload))
		}
	}
	x.end = at
}

// flushMark: the journal's first end bytes are durable once flush is.
type flushMark struct {
	flush uint64
	end   int64
}

// dropStep is how much durable journal is dropped from the page cache at a
// time: about 8 s of a 1 Mbit/s stream.
const dropStep = 1 << 20

func createJournal(path string, init *fmp4.Init, gs *groupSync) (*journal, error) {
	var ib seekablebuffer.Buffer
	if err := init.Marshal(&ib); err != nil {
		return nil, fmt.Errorf("marshal init: %w", err)
	}
	moov, err := initMoov(ib.Bytes())
	if err != nil {
		return nil, err
	}
	hdr := make([]byte, 0, len(journalFtyp)+8+len(moov)+len(openMdat))
	hdr = append(hdr, journalFtyp...)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(8+len(moov)))
	hdr = append(hdr, "free"...)
	hdr = append(hdr, moov...)
	hdr = append(hdr, openMdat...)

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	j := &journal{f: f, gs: gs}
	if idx, err := newJournalIndex(moov, int64(len(hdr)-len(openMdat))); err == nil {
		j.idx = idx
	}
	if err := j.write(hdr); err != nil {
		_ = f.Close()
		return nil, err
	}
	if err := gs.DirWritten(filepath.Dir(path)); err != nil {
		_ = f.Close()
		return nil, err
	}
	return j, nil
}

// initMoov returns the moov box of a marshalled init block (ftyp + moov).
func initMoov(b []byte) ([]byte, error) {
	r := bytes.NewReader(b)
	for off := int64(0); off < int64(len(b)); {
		typ, n, ok := boxHeader(r, off, int64(len(b)))
		if !ok {
			break
		}
		if typ == "moov" {
			return b[off : off+n], nil
		}
		off += n
	}
	return nil, errors.New("marshal init: no moov box")
}

// write appends bufs in one writev; the spool's next flush makes them
// durable (groupSync.Written), and what earlier flushes made durable leaves
// the page cache (dropDurable).
func (j *journal) write(bufs ...[]byte) error {
	n, err := writeVec(j.f, bufs)
	j.bytes += n
	if err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if err := j.gs.Written(j.f); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	j.dropDurable()
	return nil
}

// writePart appends one fragment: its header from appendPartHeader, then the
// payloads where they are (slices of the hub's packets).
func (j *journal) writePart(tracks []*fmp4.PartTrack) error {
	j.seq++
	j.frag = appendPartHeader(j.frag[:0], fmp4.Part{SequenceNumber: j.seq, Tracks: tracks})
	j.iov = append(j.iov[:0], j.frag)
	size := int64(len(j.frag))
	for _, t := range tracks {
		for _, s := range t.Samples {
			j.iov = append(j.iov, s.Payload)
			size += int64(len(s.Payload))
		}
	}
	off := j.bytes
	err := j.write(j.iov...)
	clear(j.iov) // the payloads belong to the hub
	if x := j.idx; x != nil {
		if x.torn || j.bytes-off != size {
			x.torn = true // written in part: the index ends before it
		} else {
			x.addPart(off, len(j.frag), tracks)
		}
	}
	return err
}

// dropDurable drops from the page cache what completed flushes made durable,
// a dropStep at a time, and notes what this write waits for.
func (j *journal) dropDurable() {
	durable := int64(-1)
	k := 0
	for ; k < len(j.marks) && j.gs.durable(j.marks[k].flush); k++ {
		durable = j.marks[k].end
	}
	j.marks = append(j.marks[:0], j.marks[k:]...)
	if id := j.gs.durableAfter(); id == 0 {
		durable = j.bytes
	} else if n := len(j.marks); n > 0 && j.marks[n-1].flush == id {
		j.marks[n-1].end = j.bytes
	} else {
		j.marks = append(j.marks, flushMark{flush: id, end: j.bytes})
	}
	if durable-j.dropped >= dropStep {
		end := durable &^ 4095 // whole pages
		dropCache(j.f, j.dropped, end-j.dropped)
		j.dropped = end
	}
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
// without saying where the last complete box ended, and finishing must
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
