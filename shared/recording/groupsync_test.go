package recording

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Many writers syncing at once share flushes: every Sync returns only after a
// flush that started after it was called, and there are far fewer flushes
// than callers.
func TestGroupSyncSharesFlushes(t *testing.T) {
	dir := t.TempDir()
	gs, err := newGroupSync(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = gs.close() })
	const writers, rounds = 50, 10
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		f, err := os.Create(filepath.Join(dir, "f"+string(rune('a'+w%26))+string(rune('a'+w/26))))
		require.NoError(t, err)
		t.Cleanup(func() { _ = f.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				if _, err := f.Write([]byte("fragment\n")); err != nil {
					t.Error(err)
					return
				}
				if err := gs.Sync(f); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	gs.mu.Lock()
	flushes := gs.Flushes
	gs.mu.Unlock()
	t.Logf("%d syncs took %d flushes", writers*rounds, flushes)
	if groupFlushSupported {
		require.Less(t, flushes, uint64(writers*rounds/2), "callers share flushes")
		require.GreaterOrEqual(t, flushes, uint64(rounds), "each writer's rounds need their own flushes")
	}
	var nilSync *groupSync
	f, err := os.Create(filepath.Join(dir, "plain"))
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, nilSync.Sync(f), "a nil groupSync fsyncs the file")
	require.NoError(t, nilSync.SyncDir(dir))
}

// Written returns at once and the background loop flushes within about an
// interval; close flushes what is still marked.
func TestGroupSyncWrittenFlushesInBackground(t *testing.T) {
	if !groupFlushSupported {
		t.Skip("no syncfs here: Written fsyncs the file itself")
	}
	dir := t.TempDir()
	gs, err := newGroupSync(dir)
	require.NoError(t, err)
	f, err := os.Create(filepath.Join(dir, "journal"))
	require.NoError(t, err)
	defer f.Close()
	flushes := func() uint64 {
		gs.mu.Lock()
		defer gs.mu.Unlock()
		return gs.Flushes
	}
	_, _ = f.Write([]byte("fragment"))
	require.NoError(t, gs.Written(f))
	require.Zero(t, flushes(), "Written does not wait for the disk")
	require.Eventually(t, func() bool { return flushes() == 1 }, 3*groupSyncInterval, 10*time.Millisecond)
	time.Sleep(2 * groupSyncInterval)
	require.Equal(t, uint64(1), flushes(), "nothing marked: no flush")
	require.NoError(t, gs.DirWritten(dir))
	require.NoError(t, gs.close())
	require.Equal(t, uint64(2), flushes(), "close flushes what is marked")
	require.NoError(t, gs.close(), "twice is harmless")
}
