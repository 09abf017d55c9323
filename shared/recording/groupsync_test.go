package recording

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/stretchr/testify/assert"
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

// A journal drops from the page cache what a completed flush made durable,
// and nothing that is not yet durable.
func TestJournalDropsDurablePages(t *testing.T) {
	dir := t.TempDir()
	gs, err := newGroupSyncEvery(dir, time.Hour) // flushes only when the test asks
	require.NoError(t, err)
	defer gs.close()
	init := &fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: 90000, Codec: &codecs.H264{SPS: testSPS, PPS: []byte{0x08}}}}}
	part := func() []*fmp4.PartTrack {
		return []*fmp4.PartTrack{{ID: 1, Samples: []*fmp4.Sample{{Duration: 3000, Payload: make([]byte, 700<<10)}}}}
	}
	j, err := createJournal(filepath.Join(dir, "j.mp4.journal"), init, gs)
	require.NoError(t, err)
	defer j.close()

	require.NoError(t, j.writePart(part()))
	require.NoError(t, j.writePart(part()))
	assert.Zero(t, j.dropped, "nothing is durable before a flush")
	first := j.bytes
	require.NoError(t, gs.Sync(nil))
	require.NoError(t, j.writePart(part()))
	if groupFlushSupported {
		assert.Equal(t, first&^4095, j.dropped, "what the flush covered is dropped, in whole pages")
	}
	second := j.bytes
	require.NoError(t, gs.Sync(nil))
	require.NoError(t, j.writePart(part()))
	if groupFlushSupported {
		assert.Equal(t, first&^4095, j.dropped, "less than a step more is durable: kept for now")
	}
	require.NoError(t, gs.Sync(nil))
	require.NoError(t, j.writePart(part()))
	if groupFlushSupported {
		before := j.bytes - int64(len(j.frag)) - 700<<10 // where the last write began
		assert.Equal(t, before&^4095, j.dropped, "a step more is durable: dropped up to the last write, which is not durable yet")
		assert.Greater(t, j.dropped, second)
	}

	// Without a groupSync every write is fsynced: durable at once.
	j2, err := createJournal(filepath.Join(dir, "j2.mp4.journal"), init, nil)
	require.NoError(t, err)
	defer j2.close()
	require.NoError(t, j2.writePart(part()))
	require.NoError(t, j2.writePart(part()))
	assert.Equal(t, j2.bytes&^4095, j2.dropped)
}

// writeJSON leaves the whole file and no temporary one, and with syncfs it
// costs one shared flush instead of fsyncs of its own; writeJSONSoon waits
// for none and leaves the file to the next one.
func TestGroupSyncWriteJSON(t *testing.T) {
	dir := t.TempDir()
	gs, err := newGroupSyncEvery(dir, time.Hour)
	require.NoError(t, err)
	defer gs.close()
	for _, wait := range []bool{true, false} {
		for _, g := range []*groupSync{gs, nil} {
			sub := filepath.Join(dir, fmt.Sprintf("rec-%v-%v", g != nil, wait))
			require.NoError(t, os.MkdirAll(sub, 0o755))
			before := gs.Flushes
			v := header{Version: 1, ID: "a-mp4", Kind: "mp4"}
			require.NoError(t, g.writeJSONWait(filepath.Join(sub, headerName), v, wait))
			b, err := os.ReadFile(filepath.Join(sub, headerName))
			require.NoError(t, err)
			var got header
			require.NoError(t, json.Unmarshal(b, &got))
			assert.Equal(t, v, got)
			_, err = os.Stat(filepath.Join(sub, headerName+".tmp"))
			assert.True(t, os.IsNotExist(err), "no temporary file left")
			if g == nil || !groupFlushSupported {
				continue
			}
			if wait {
				assert.Equal(t, before+1, gs.Flushes, "one shared flush")
				continue
			}
			assert.Equal(t, before, gs.Flushes, "no flush waited for")
			gs.mu.Lock()
			dirty := gs.dirty
			gs.mu.Unlock()
			assert.True(t, dirty, "left to the next flush")
		}
	}
}
