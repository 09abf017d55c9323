package recording

import (
	"fmt"
	"os"
	"sync"
)

// groupSync makes spool writes durable for many recordings at once: a caller
// that wrote a fragment or a segment calls Sync, which returns once a flush
// that started after the call has completed. Callers that arrive while a
// flush runs share the next one, so with hundreds of streams each writing
// about once a second the spool costs a few flushes a second, not one fsync
// per stream (and no blocked OS thread per stream). On Linux a flush is one
// syncfs(2) of the spool's file system; elsewhere each caller fsyncs its own
// file.
type groupSync struct {
	dir       *os.File // an open handle on the spool directory, for syncfs
	closeOnce sync.Once

	mu      sync.Mutex
	cond    *sync.Cond
	running bool
	started uint64 // flushes started
	done    uint64 // the id of the last flush completed
	err     error  // its result
	// Flushes counts flushes run, for tests and metrics.
	Flushes uint64
}

func newGroupSync(spoolDir string) (*groupSync, error) {
	d, err := os.Open(spoolDir)
	if err != nil {
		return nil, fmt.Errorf("open spool dir: %w", err)
	}
	g := &groupSync{dir: d}
	g.cond = sync.NewCond(&g.mu)
	return g, nil
}

// Sync makes f's data written so far durable. A nil groupSync fsyncs f.
func (g *groupSync) Sync(f *os.File) error {
	if g == nil || !groupFlushSupported {
		return f.Sync()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	need := g.started + 1 // a flush already running may have missed the write
	for g.done < need {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		id := g.started
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
	g.closeOnce.Do(func() { err = g.dir.Close() })
	return err
}
