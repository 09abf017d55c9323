package recording

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// groupSyncInterval is how often what Written marked is flushed.
const groupSyncInterval = time.Second

// groupSync makes spool writes durable for every recording at once. On Linux
// a flush is one syncfs(2) of the spool's file system:
//
//   - Written(f) marks f's new data for the next flush and returns at once;
//     a flush follows within groupSyncInterval. Journal fragments use it: the
//     recorder never waits for the disk, and a power cut loses at most the
//     last second or two of a recording (a killed process loses nothing
//     written: the data is in the page cache).
//   - Sync(f) waits until a flush that started after the call has finished
//     (callers arriving while one runs share the next): state changes and
//     finished files use it, so what files.log says is on disk.
//
// A thousand recorded streams thus cost one flush a second instead of one
// fsync per stream per second, and no OS thread blocked per stream. Elsewhere
// (no syncfs) both fsync f itself.
type groupSync struct {
	dir       *os.File // an open handle on the spool directory, for syncfs
	interval  time.Duration
	stop      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	cond    *sync.Cond
	running bool
	started uint64 // flushes started
	done    uint64 // the id of the last flush completed
	err     error  // its result
	dirty   bool   // Written since the last flush started
	// Flushes counts flushes run, for tests.
	Flushes uint64
}

func newGroupSync(spoolDir string) (*groupSync, error) {
	return newGroupSyncEvery(spoolDir, groupSyncInterval)
}

// newGroupSyncEvery is newGroupSync with another background flush interval.
func newGroupSyncEvery(spoolDir string, interval time.Duration) (*groupSync, error) {
	d, err := os.Open(spoolDir)
	if err != nil {
		return nil, fmt.Errorf("open spool dir: %w", err)
	}
	g := &groupSync{dir: d, interval: interval, stop: make(chan struct{}), loopDone: make(chan struct{})}
	g.cond = sync.NewCond(&g.mu)
	go g.loop()
	return g, nil
}

// durableAfter returns the flush that makes data written now durable: once
// Durable(id) holds for it. 0 means the data is already durable (a nil
// groupSync, or one without syncfs: Written fsyncs).
func (g *groupSync) durableAfter() uint64 {
	if g == nil || !groupFlushSupported {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.started + 1
}

// durable reports whether flush id (from durableAfter) has completed.
func (g *groupSync) durable(id uint64) bool {
	if id == 0 {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.done >= id && g.err == nil
}

// Written notes that f has new data: it is flushed within about an interval.
func (g *groupSync) Written(f *os.File) error {
	if g == nil || !groupFlushSupported {
		return f.Sync()
	}
	g.markDirty()
	return nil
}

func (g *groupSync) markDirty() {
	g.mu.Lock()
	g.dirty = true
	g.mu.Unlock()
}

// Sync makes f's data written so far durable. A nil groupSync fsyncs f.
func (g *groupSync) Sync(f *os.File) error {
	if g == nil || !groupFlushSupported {
		return f.Sync()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.dirty = true
	return g.flushLocked(g.started + 1) // a flush already running may have missed the write
}

// flushLocked returns once flush number need has completed, running the
// flush itself when nobody else is. Called with g.mu held.
func (g *groupSync) flushLocked(need uint64) error {
	for g.done < need {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		id := g.started
		g.dirty = false
		g.mu.Unlock()
		err := flushFS(g.dir)
		g.mu.Lock()
		g.running, g.done, g.err = false, id, err
		g.Flushes++
		g.cond.Broadcast()
	}
	if g.err != nil {
		return fmt.Errorf("sync spool: %w", g.err)
	}
	return nil
}

// loop flushes what Written marked, once per interval.
func (g *groupSync) loop() {
	defer close(g.loopDone)
	t := time.NewTicker(g.interval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		g.mu.Lock()
		if g.dirty && !g.running && groupFlushSupported {
			_ = g.flushLocked(g.started + 1) // an error reaches the next Sync
		}
		g.mu.Unlock()
	}
}

// DirWritten notes new entries in dir (creations, renames) for the next
// flush; without syncfs it fsyncs dir.
func (g *groupSync) DirWritten(dir string) error {
	if g == nil || !groupFlushSupported {
		return syncDir(dir)
	}
	g.markDirty()
	return nil
}

// SyncDir makes the entries of dir (creations, renames) durable.
func (g *groupSync) SyncDir(dir string) error {
	if g == nil || !groupFlushSupported {
		return syncDir(dir)
	}
	return g.Sync(nil)
}

func (g *groupSync) close() error {
	if g == nil {
		return nil
	}
	var err error
	g.closeOnce.Do(func() {
		close(g.stop)
		<-g.loopDone
		g.mu.Lock()
		if g.dirty && groupFlushSupported {
			err = g.flushLocked(g.started + 1)
		}
		g.mu.Unlock()
		if cerr := g.dir.Close(); err == nil {
			err = cerr
		}
	})
	return err
}
