package recording

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Spool layout, one directory per recording under Config.SpoolDir:
//
//	<id>/recording.json   what the recording is (rewritten atomically when it ends)
//	<id>/files.log        one JSON line per file state change, appended and fsynced
//	<id>/000001.mp4.journal   an MP4 file being recorded (see journal.go)
//	<id>/000001.mp4           a finished file waiting for its upload
//	<id>/000001.ts            an HLS VOD segment waiting for its upload
//
// The log is append-only so that a long recording costs the same per file at
// its first minute and at its tenth hour; replaying it gives every file's last
// state. A torn last line (the process died mid-append) is ignored: the file
// it described is found again from the spool directory on recovery.
const (
	headerName = "recording.json"
	logName    = "files.log"
	journalExt = ".journal"
)

// File states in files.log.
const (
	stateWriting  = "writing"  // MP4 journal being appended
	stateClosed   = "closed"   // MP4 journal complete, to finish
	stateReady    = "ready"    // final file in the spool, to upload
	stateUploaded = "uploaded" // in the blob store; the spool copy is gone
	stateDropped  = "dropped"  // held nothing worth keeping (an empty journal)
)

// header is recording.json.
type header struct {
	Version     int       `json:"version"`
	ID          string    `json:"id"`
	BroadcastID string    `json:"broadcastId"`
	ChannelID   string    `json:"channelId"`
	StreamKey   string    `json:"streamKey"`
	Kind        string    `json:"kind"`
	Prefix      string    `json:"prefix"`
	Region      string    `json:"region,omitempty"`
	StartedAt   time.Time `json:"startedAt"`
	// TargetSeconds is the HLS target duration hint (the channel's segment length).
	TargetSeconds int `json:"targetSeconds,omitempty"`
	// Ended is set when the broadcast ended (or the process shut down) with
	// every file closed; EndedAt is then when.
	Ended bool `json:"ended,omitempty"`
	// Crashed is set when the recording was recovered after the process died.
	Crashed bool       `json:"crashed,omitempty"`
	EndedAt *time.Time `json:"endedAt,omitempty"`
}

// fileEntry is one line of files.log, and the in-memory state of one file.
type fileEntry struct {
	Seq            int       `json:"seq"`
	Name           string    `json:"name"`
	State          string    `json:"state"`
	DurationMillis int64     `json:"durationMillis,omitempty"`
	Bytes          int64     `json:"bytes,omitempty"`
	Discontinuity  bool      `json:"discontinuity,omitempty"`
	ProgramDate    time.Time `json:"programDateTime,omitzero"`
	// Truncated marks a file recovered from a journal torn by a crash.
	Truncated bool      `json:"truncated,omitempty"`
	At        time.Time `json:"at"`
	// idx is a closed journal's index, kept in memory until the file is
	// finished (journalIndex); nil otherwise, and never in files.log.
	idx *journalIndex
}

// writeJSON writes v to path atomically (a temporary file, then a rename) and
// returns once the file and the entries of its directory and the one above
// are durable: with syncfs, by one flush shared with every stream waiting
// meanwhile; otherwise each is fsynced (Written, DirWritten and SyncDir do
// either).
func (g *groupSync) writeJSON(path string, v any) error { return g.writeJSONWait(path, v, true) }

// writeJSONSoon is writeJSON leaving the file to the spool's next flush, like
// a journal's fragments (groupSync.Written). A new recording's header uses it:
// the flush that makes its first fragment durable started after the header
// was written, so it covers the header too, and a crash before that flush
// loses a recording with nothing in it. Waiting would hold the publish answer
// for a flush, which under a thousand recorded streams takes seconds.
func (g *groupSync) writeJSONSoon(path string, v any) error { return g.writeJSONWait(path, v, false) }

func (g *groupSync) writeJSONWait(path string, v any, wait bool) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, b, g.Written); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", filepath.Base(path), err)
	}
	dir := filepath.Dir(path)
	if err := g.DirWritten(filepath.Dir(dir)); err != nil {
		return err
	}
	if !wait {
		return g.DirWritten(dir)
	}
	return g.SyncDir(dir)
}

// writeFileSync writes b to path and hands the file to sync before closing
// it: groupSync.Sync, or Written to let the spool's next flush cover it.
func writeFileSync(path string, b []byte, sync func(*os.File) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Base(path), err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = sync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// fileLog appends entries to files.log.
type fileLog struct {
	f  *os.File
	gs *groupSync
}

func openFileLog(dir string, gs *groupSync) (*fileLog, error) {
	f, err := os.OpenFile(filepath.Join(dir, logName), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", logName, err)
	}
	return &fileLog{f: f, gs: gs}, nil
}

// append adds e; with wait it returns once e is on disk, otherwise the
// spool's next flush (within about a second) writes it.
func (l *fileLog) append(e fileEntry, wait bool) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode log entry: %w", err)
	}
	// A leading newline closes a torn line a crash may have left, so this
	// entry always starts a line of its own.
	b = append(append([]byte{'\n'}, b...), '\n')
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("append %s: %w", logName, err)
	}
	sync := l.gs.Sync
	if !wait {
		sync = l.gs.Written
	}
	if err := sync(l.f); err != nil {
		return fmt.Errorf("sync %s: %w", logName, err)
	}
	return nil
}

func (l *fileLog) close() error { return l.f.Close() }

// readSpool loads a recording's header and the last state of every file.
func readSpool(dir string) (header, []*fileEntry, error) {
	var h header
	b, err := os.ReadFile(filepath.Join(dir, headerName))
	if err != nil {
		return h, nil, fmt.Errorf("read %s: %w", headerName, err)
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, nil, fmt.Errorf("parse %s: %w", headerName, err)
	}
	if h.ID == "" || h.Prefix == "" || h.Kind == "" {
		return h, nil, fmt.Errorf("%s: missing id, prefix or kind", headerName)
	}
	lb, err := os.ReadFile(filepath.Join(dir, logName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return h, nil, fmt.Errorf("read %s: %w", logName, err)
	}
	bySeq := map[int]*fileEntry{}
	var order []int
	sc := bufio.NewScanner(bytes.NewReader(lb))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e fileEntry
		if json.Unmarshal(line, &e) != nil || e.Seq <= 0 || !validFileName(e.Name) {
			continue // a torn line
		}
		if _, ok := bySeq[e.Seq]; !ok {
			order = append(order, e.Seq)
		}
		bySeq[e.Seq] = &e
	}
	// A journal whose "writing" line never reached the disk (the recorder
	// does not wait for it; a power cut) is still a file of the recording.
	if des, err := os.ReadDir(dir); err == nil {
		for _, de := range des {
			name, ok := strings.CutSuffix(de.Name(), journalExt)
			if !ok || !validFileName(name) {
				continue
			}
			num, _, _ := strings.Cut(name, ".")
			seq, err := strconv.Atoi(num)
			if err != nil || seq <= 0 {
				continue
			}
			if _, ok := bySeq[seq]; !ok {
				bySeq[seq] = &fileEntry{Seq: seq, Name: name, State: stateWriting}
				order = append(order, seq)
			}
		}
	}
	slices.Sort(order)
	files := make([]*fileEntry, 0, len(order))
	for _, seq := range order {
		files = append(files, bySeq[seq])
	}
	return h, files, nil
}

// validFileName accepts the names the recorder gives files: "000001.mp4",
// "000001.ts", "index.m3u8" (letters, digits, '.', '-', '_', no leading dot).
func validFileName(name string) bool {
	if name == "" || len(name) > 64 || name[0] == '.' {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}
