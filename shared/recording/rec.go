package recording

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/store"
)

// rec is one recording: its spool directory, the state of its files and the
// goroutine that finishes, uploads and indexes them in order.
type rec struct {
	r   *Recorder
	dir string
	lg  *slog.Logger

	mu      sync.Mutex
	h       header
	files   []*fileEntry
	flog    *fileLog
	nextSeq int
	// crashed: recovered from the spool without having seen the end.
	crashed      bool
	lastProgress time.Time
	dirty        bool
	wake         chan struct{}
}

// runRec registers a recording and starts its uploader.
func (r *Recorder) runRec(dir string, h header, files []*fileEntry, crashed bool) (*rec, error) {
	fl, err := openFileLog(dir, r.gs)
	if err != nil {
		return nil, err
	}
	c := &rec{
		r: r, dir: dir, h: h, files: files, flog: fl, crashed: crashed, dirty: true,
		lg: r.log.With("recording", h.ID, "channel", h.ChannelID), wake: make(chan struct{}, 1),
	}
	for _, f := range files {
		c.nextSeq = max(c.nextSeq, f.Seq)
	}
	r.mu.Lock()
	r.recs[h.ID] = c
	r.mu.Unlock()
	r.uploaders.Add(1)
	go c.run()
	return c, nil
}

func (c *rec) allocSeq() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextSeq++
	return c.nextSeq
}

func (c *rec) fileCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.files {
		if f.State != stateDropped {
			n++
		}
	}
	return n
}

func (c *rec) file(name string) *fileEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.files {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// log appends e to files.log and applies it.
func (c *rec) log(e fileEntry) error { return c.logEntry(e, true) }

// logSoon records e like log, without waiting for the disk: for the entries
// the recording goroutine writes when it opens and closes an MP4 file. After
// a crash the spool's scan finds a journal whether or not they reached the
// disk, so a recorder never stalls behind the spool's flush at a file cut.
func (c *rec) logSoon(e fileEntry) error { return c.logEntry(e, false) }

func (c *rec) logEntry(e fileEntry, wait bool) error {
	e.At = time.Now().UTC()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.flog.append(e, wait); err != nil {
		return err
	}
	for i, f := range c.files {
		if f.Seq == e.Seq {
			c.files[i] = &e
			c.dirty = true
			return nil
		}
	}
	c.files = append(c.files, &e)
	slices.SortFunc(c.files, func(a, b *fileEntry) int { return a.Seq - b.Seq })
	c.dirty = true
	return nil
}

func (c *rec) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// end marks the recording ended: no file will be added.
func (c *rec) end(at time.Time) {
	c.mu.Lock()
	if c.h.Ended {
		c.mu.Unlock()
		return
	}
	at = at.UTC()
	c.h.Ended, c.h.EndedAt = true, &at
	h := c.h
	c.mu.Unlock()
	if err := c.r.gs.writeJSON(filepath.Join(c.dir, headerName), h); err != nil {
		// The end is known in memory; after a crash the recording would be
		// recovered as incomplete, which is still right about its files.
		c.lg.Error("recording end not saved", "error", err)
	}
	c.kick()
}

// nextJob returns the first file needing work, in file order.
func (c *rec) nextJob() (fileEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.files {
		if f.State == stateClosed || f.State == stateReady {
			return *f, true
		}
	}
	return fileEntry{}, false
}

// finishedWriting reports whether the recording ended and every file is done.
func (c *rec) finishedWriting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.h.Ended {
		return false
	}
	for _, f := range c.files {
		if f.State == stateWriting || f.State == stateClosed || f.State == stateReady {
			return false
		}
	}
	return true
}

// run finishes, uploads and indexes the recording's files until it ended and
// everything is stored, or the recorder closes.
func (c *rec) run() {
	r := c.r
	defer r.uploaders.Done()
	defer func() { _ = c.flog.close() }()
	c.progress(true)
	for {
		f, ok := c.nextJob()
		if !ok {
			if c.finishedWriting() {
				if c.finalize() {
					r.mu.Lock()
					delete(r.recs, c.h.ID)
					r.mu.Unlock()
				}
				return
			}
			select {
			case <-c.wake:
			case <-r.ctx.Done():
				return
			}
			continue
		}
		var err error
		switch f.State {
		case stateClosed:
			err = c.finish(f)
		case stateReady:
			err = c.upload(f)
		}
		if err != nil {
			return // the recorder is closing; the spool keeps the rest
		}
		c.progress(false)
	}
}

// finish turns a closed MP4 journal into the file to upload.
func (c *rec) finish(f fileEntry) error {
	journal := filepath.Join(c.dir, f.Name+journalExt)
	final := filepath.Join(c.dir, f.Name)
	var st finishStats
	var permanent error
	idx := f.idx
	f.idx = nil // the entries logged from here on are of a finished file
	// I/O errors (a full disk) are retried until they clear: the journal is
	// a finished file's only copy. A journal that cannot be read is not.
	err := c.r.retry(c.r.ctx, c.lg, "finish "+f.Name, func() error {
		select {
		case c.r.finishSem <- struct{}{}:
		case <-c.r.ctx.Done():
			return c.r.ctx.Err()
		}
		var err error
		st, err = finishJournal(journal, final, c.r.gs, idx)
		<-c.r.finishSem
		if errors.Is(err, errEmptyJournal) || errors.Is(err, errCorruptJournal) {
			permanent = err
			return nil
		}
		return err
	}, nil)
	if err != nil {
		return err
	}
	if permanent != nil {
		// Nothing complete in it (a stream that ended within its first
		// fragment) or unreadable (damaged on disk): nothing to keep.
		c.lg.Warn("MP4 file dropped", "file", f.Name, "reason", permanent)
		f.State = stateDropped
		if err := c.log(f); err != nil {
			c.lg.Error("file log", "error", err)
		}
		_ = os.Remove(journal)
		return nil
	}
	f.State, f.DurationMillis, f.Bytes, f.Truncated = stateReady, st.Duration.Milliseconds(), st.Bytes, st.Truncated
	if err := c.log(f); err != nil {
		// The MP4 exists; without the log entry a restart finishes it again.
		c.lg.Error("file log", "error", err)
	}
	_ = os.Remove(journal)
	return nil
}

// upload stores a spooled file, retrying until it succeeds.
func (c *rec) upload(f fileEntry) error {
	r := c.r
	p := filepath.Join(c.dir, f.Name)
	key := c.h.Prefix + f.Name
	first := true
	err := r.retry(r.ctx, c.lg, "upload "+key, func() error {
		if !first {
			r.Counters.UploadRetries.Add(1)
		}
		first = false
		select {
		case r.sem <- struct{}{}:
		case <-r.ctx.Done():
			return r.ctx.Err()
		}
		defer func() { <-r.sem }()
		fh, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			// Uploaded before a crash that came before its log entry? Only if
			// the store has it; otherwise the file is lost and logged so.
			if _, serr := r.cfg.Blob.Stat(r.ctx, key); serr == nil {
				return nil
			}
			c.lg.Error("spooled file is missing; it cannot be uploaded", "file", f.Name)
			f.State = stateDropped
			return nil
		}
		if err != nil {
			return err
		}
		defer fh.Close()
		fi, err := fh.Stat()
		if err != nil {
			return err
		}
		if err := r.cfg.Blob.Put(r.ctx, key, blob.File{File: fh}, fi.Size(), blob.ContentType(f.Name)); err != nil {
			return err
		}
		f.Bytes = fi.Size()
		return nil
	}, func() { r.Counters.UploadsFailed.Add(1) })
	if err != nil {
		return err
	}
	if f.State != stateDropped {
		f.State = stateUploaded
		r.Counters.UploadsOK.Add(1)
	}
	if err := c.log(f); err != nil {
		c.lg.Error("file log", "error", err)
	}
	_ = os.Remove(p)
	return nil
}

// record builds the store entry from the files stored so far.
func (c *rec) record(final bool) *store.Recording {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now().UTC()
	sr := &store.Recording{
		ID: c.h.ID, ChannelID: c.h.ChannelID, Kind: c.h.Kind, Status: store.StatusRecording,
		BroadcastID: c.h.BroadcastID, StartedAt: c.h.StartedAt, Prefix: c.h.Prefix, Keys: []string{},
		Region: c.h.Region, UpdatedAt: now,
	}
	last := c.h.StartedAt
	for _, f := range c.files {
		if f.State != stateUploaded {
			continue
		}
		sr.DurationMillis += f.DurationMillis
		sr.Bytes += f.Bytes
		if c.h.Kind == store.KindMP4 {
			sr.Keys = append(sr.Keys, c.h.Prefix+f.Name)
		}
		if f.At.After(last) {
			last = f.At
		}
	}
	if c.h.Kind == store.KindHLS {
		sr.Playlist = c.h.Prefix + PlaylistName
	}
	if final {
		sr.Status = store.StatusComplete
		end := last
		if c.h.EndedAt != nil {
			end = *c.h.EndedAt
		}
		if c.crashed {
			sr.Status = store.StatusIncomplete
		}
		if end.Before(sr.StartedAt) {
			end = sr.StartedAt
		}
		sr.EndedAt = &end
	}
	return sr
}

func (c *rec) uploadedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.files {
		if f.State == stateUploaded {
			n++
		}
	}
	return n
}

// progress refreshes the store entry and the HLS playlist, at most every
// ProgressInterval unless forced. Failures are logged and retried next time.
func (c *rec) progress(force bool) {
	c.mu.Lock()
	due := c.dirty && (force || time.Since(c.lastProgress) >= c.r.cfg.ProgressInterval)
	if due {
		c.dirty, c.lastProgress = false, time.Now()
	}
	c.mu.Unlock()
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(c.r.ctx, 30*time.Second)
	defer cancel()
	if c.h.Kind == store.KindHLS && c.uploadedCount() > 0 {
		if err := c.putPlaylist(ctx, false); err != nil {
			c.lg.Warn("HLS VOD playlist not updated", "error", err)
			c.markDirty()
		}
	}
	if err := c.r.cfg.Store.PutRecording(ctx, c.record(false)); err != nil {
		c.r.Counters.IndexFailures.Add(1)
		c.lg.Warn("recording index not updated", "error", err)
		c.markDirty()
	}
}

func (c *rec) markDirty() {
	c.mu.Lock()
	c.dirty = true
	c.mu.Unlock()
}

func (c *rec) putPlaylist(ctx context.Context, final bool) error {
	c.mu.Lock()
	pl := renderPlaylist(c.h, c.files, final)
	c.mu.Unlock()
	return c.r.cfg.Blob.Put(ctx, c.h.Prefix+PlaylistName, strings.NewReader(pl), int64(len(pl)), blob.ContentType(PlaylistName))
}

// finalize writes the final playlist and index entry, calls OnReady and
// removes the spool directory. It reports false when the recorder closed first.
func (c *rec) finalize() bool {
	r := c.r
	if c.uploadedCount() == 0 {
		// Nothing was recorded (the stream ended before its first keyframe).
		err := r.retry(r.ctx, c.lg, "remove empty recording", func() error {
			err := r.cfg.Store.DeleteRecording(r.ctx, c.h.ID)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}, func() { r.Counters.IndexFailures.Add(1) })
		if err != nil {
			return false
		}
		c.lg.Info("recording holds no media; removed")
		c.removeSpool()
		return true
	}
	if c.h.Kind == store.KindHLS {
		if err := r.retry(r.ctx, c.lg, "final HLS VOD playlist", func() error { return c.putPlaylist(r.ctx, true) },
			func() { r.Counters.UploadsFailed.Add(1) }); err != nil {
			return false
		}
	}
	final := c.record(true)
	if err := r.retry(r.ctx, c.lg, "recording index", func() error {
		err := r.cfg.Store.PutRecording(r.ctx, final)
		if errors.Is(err, store.ErrInvalid) {
			// No retry makes it valid; the files are stored all the same.
			c.lg.Error("recording index refused the recording", "error", err)
			return nil
		}
		return err
	}, func() { r.Counters.IndexFailures.Add(1) }); err != nil {
		return false
	}
	c.lg.Info("recording ready", "kind", final.Kind, "status", final.Status, "files", c.uploadedCount(),
		"duration", time.Duration(final.DurationMillis)*time.Millisecond, "bytes", final.Bytes)
	if r.cfg.OnReady != nil {
		r.cfg.OnReady(r.ctx, *final)
	}
	c.removeSpool()
	return true
}

func (c *rec) removeSpool() {
	_ = c.flog.close()
	if err := os.RemoveAll(c.dir); err != nil {
		c.lg.Warn("spool directory not removed", "error", err)
	}
}

// recover picks up the recordings a previous run left in the spool.
func (r *Recorder) recover() error {
	entries, err := os.ReadDir(r.cfg.SpoolDir)
	if err != nil {
		return fmt.Errorf("recording: read spool: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(r.cfg.SpoolDir, e.Name())
		h, files, err := readSpool(dir)
		if err != nil {
			r.log.Error("spool entry skipped", "dir", dir, "error", err)
			continue
		}
		crashed := !h.Ended || h.Crashed
		if !h.Ended {
			// The process died while recording: the end is when the spool
			// last heard of the recording.
			last := h.StartedAt
			for _, f := range files {
				if f.At.After(last) {
					last = f.At
				}
			}
			h.Ended, h.Crashed, h.EndedAt = true, true, &last
			if err := r.gs.writeJSON(filepath.Join(dir, headerName), h); err != nil {
				r.log.Error("spool entry skipped", "dir", dir, "error", err)
				continue
			}
		}
		pending := 0
		for _, f := range files {
			switch f.State {
			case stateWriting:
				f.State = stateClosed // finishJournal keeps its complete fragments
				pending++
			case stateClosed:
				pending++
			case stateReady:
				_ = os.Remove(filepath.Join(dir, f.Name+journalExt))
				pending++
			}
		}
		r.Counters.FilesRecovered.Add(int64(pending))
		c, err := r.runRec(dir, h, files, crashed)
		if err != nil {
			r.log.Error("spool entry skipped", "dir", dir, "error", err)
			continue
		}
		c.lg.Info("recording recovered from the spool", "kind", h.Kind, "files_pending", pending, "crashed", crashed)
	}
	return nil
}
