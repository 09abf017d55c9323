package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/boltstore"
)

// startBinary runs the standalone binary on dataDir and returns it with its
// RTMP and HTTP base URLs read from the start banner.
func startBinary(t *testing.T, bin, dataDir, pushKey string) (*exec.Cmd, string, string) {
	t.Helper()
	cmd := exec.Command(bin, "--rtmp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--data-dir", dataDir, "--public-host", "127.0.0.1", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "LIVESTACK_PUSH_KEY="+pushKey, "LIVESTACK_ADMIN_TOKEN=test-admin-token-0123456789")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var rtmpBase, httpBase string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && (rtmpBase == "" || httpBase == "") {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "RTMP" {
			rtmpBase = f[1]
		}
		if len(f) == 2 && f[0] == "HTTP" {
			httpBase = f[1]
		}
	}
	require.NotEmpty(t, rtmpBase, "RTMP address in the banner")
	require.NotEmpty(t, httpBase, "HTTP address in the banner")
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return cmd, rtmpBase, httpBase
}

// The crash test: kill -9 the standalone mid-recording, start it again on the
// same data dir, and the recording is finished from the spool: every file
// that reached the spool is uploaded (the MP4 file being written up to its
// last journal fragment) and the recordings are indexed as incomplete.
func TestRecordingCrashKill9AndRecover(t *testing.T) {
	t.Parallel() // real-time publishing: the recording tests overlap their waits
	needFFmpeg(t)
	bin := filepath.Join(t.TempDir(), "standalone")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)

	dataDir := t.TempDir()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	signer, err := signing.New(key)
	require.NoError(t, err)
	st, err := boltstore.Open(filepath.Join(dataDir, "livestack.db"))
	require.NoError(t, err)
	ch := &channel.Channel{ID: "crash", Name: "crash", Enabled: true,
		Recording: channel.Recording{MP4: true, MP4SegmentSeconds: 4, HLSVOD: true}}
	ch.Normalize()
	require.NoError(t, st.CreateChannel(context.Background(), ch))
	require.NoError(t, st.Close())

	cmd, rtmpBase, _ := startBinary(t, bin, dataDir, hex.EncodeToString(key))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	push := recPush(ctx, rtmpBase+"/stream/crash?sign="+signer.Sign("crash", time.Now().Add(time.Hour)), 40)
	require.NoError(t, push.Start())
	t.Cleanup(func() { _ = push.Process.Kill(); _ = push.Wait() })

	// Kill once file 1 is uploaded and file 2 is being written.
	spool := filepath.Join(dataDir, "spool")
	var journal string
	require.Eventually(t, func() bool {
		m, _ := filepath.Glob(filepath.Join(spool, "*", "000002.mp4.journal"))
		if len(m) != 1 {
			return false
		}
		fi, err := os.Stat(m[0])
		journal = m[0]
		return err == nil && fi.Size() > 150_000
	}, 30*time.Second, 50*time.Millisecond, "the second MP4 file is being recorded")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	_ = push.Process.Kill()
	mp4ID := filepath.Base(filepath.Dir(journal))
	dirs, err := os.ReadDir(spool)
	require.NoError(t, err)
	var hlsID string
	for _, d := range dirs {
		if strings.HasSuffix(d.Name(), "-hls") {
			hlsID = d.Name()
		}
	}
	require.NotEmpty(t, hlsID, "the HLS VOD recording is in the spool too")
	t.Logf("killed with %s and %s in the spool", mp4ID, hlsID)

	cmd, _, httpBase := startBinary(t, bin, dataDir, hex.EncodeToString(key))
	require.Eventually(t, func() bool {
		entries, err := os.ReadDir(spool)
		return err == nil && len(entries) == 0
	}, 30*time.Second, 100*time.Millisecond, "the restarted standalone empties the spool")

	var total float64
	for _, f := range []string{"000001.mp4", "000002.mp4"} {
		d, codecs := recProbe(t, httpBase+"/vod/"+mp4ID+"/"+f)
		assert.ElementsMatch(t, []string{"h264", "aac"}, codecs)
		recDecode(t, httpBase+"/vod/"+mp4ID+"/"+f)
		total += d
	}
	resp, err := http.Get(httpBase + "/vod/" + mp4ID + "/000003.mp4")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no third file was started before the kill")

	pl := httpBase + "/vod/" + hlsID + "/index.m3u8"
	resp, err = http.Get(pl)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.HasSuffix(string(body), "#EXT-X-ENDLIST\n"), "the recovered playlist is closed: %s", body)
	hlsDur, _ := recProbe(t, pl)
	recDecode(t, pl)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
	st, err = boltstore.Open(filepath.Join(dataDir, "livestack.db"))
	require.NoError(t, err)
	defer st.Close()
	mp4, err := st.GetRecording(context.Background(), mp4ID)
	require.NoError(t, err)
	assert.Equal(t, store.StatusIncomplete, mp4.Status)
	assert.Len(t, mp4.Keys, 2)
	assert.InDelta(t, total*1000, float64(mp4.DurationMillis), 150)
	assert.Greater(t, total, 4.5, "file 1 whole and part of file 2")
	hls, err := st.GetRecording(context.Background(), hlsID)
	require.NoError(t, err)
	assert.Equal(t, store.StatusIncomplete, hls.Status)
	assert.InDelta(t, hlsDur*1000, float64(hls.DurationMillis), 300)
	assert.Greater(t, hlsDur, 2.0)
	t.Logf("recovered: MP4 %.2f s in %d files, HLS VOD %.2f s", total, len(mp4.Keys), hlsDur)
}
