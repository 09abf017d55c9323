package recording

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

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
