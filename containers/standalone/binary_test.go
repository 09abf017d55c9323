package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
)

// TestBinaryDemoPublishProbeAndSIGTERM is `make run` in miniature: the built
// binary prints the demo channel, ffmpeg publishes to the printed push URL,
// ffprobe reads the printed FLV URL, and SIGTERM ends everything in time with a
// clean end of stream for the viewer.
func TestBinaryDemoPublishProbeAndSIGTERM(t *testing.T) {
	needFFmpeg(t)
	bin := filepath.Join(t.TempDir(), "standalone")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)

	cmd := exec.Command(bin, "--demo", "--rtmp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--public-host", "127.0.0.1", "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	urls := map[string]string{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && (f[0] == "push" || f[0] == "HTTP-FLV" || f[0] == "HLS" || f[0] == "LL-HLS") {
			urls[f[0]] = f[1]
		}
		if strings.HasPrefix(sc.Text(), "Play:") {
			break
		}
	}
	require.Contains(t, urls, "push")
	require.Contains(t, urls, "HTTP-FLV")
	require.Contains(t, urls, "HLS")
	require.Contains(t, urls, "LL-HLS")
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	push := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "60", "-c:a", "aac",
		"-t", "30", "-f", "flv", urls["push"])
	require.NoError(t, push.Start())
	t.Cleanup(func() { _ = push.Process.Kill(); _ = push.Wait() })

	var probe []byte
	require.Eventually(t, func() bool {
		probe, err = exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rw_timeout", "5000000",
			"-show_entries", "stream=codec_name,width,height", "-of", "compact=p=0", urls["HTTP-FLV"]).CombinedOutput()
		return err == nil
	}, 20*time.Second, 200*time.Millisecond, "ffprobe never read the stream: %s", probe)
	require.Contains(t, string(probe), "codec_name=h264|width=1280|height=720")
	require.Contains(t, string(probe), "codec_name=aac")

	// The printed HLS (MPEG-TS) and LL-HLS (CMAF) URLs play too.
	for _, name := range []string{"HLS", "LL-HLS"} {
		require.Eventually(t, func() bool {
			probe, err = exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rw_timeout", "5000000",
				"-show_entries", "stream=codec_name,width,height", "-of", "compact=p=0", urls[name]).CombinedOutput()
			return err == nil && strings.Contains(string(probe), "codec_name=h264|width=1280|height=720")
		}, 20*time.Second, 300*time.Millisecond, "ffprobe never read the %s stream %s: %s", name, urls[name], probe)
		require.Contains(t, string(probe), "codec_name=aac", "%s: %s", name, probe)
	}

	resp, err := http.Get(urls["HTTP-FLV"])
	require.NoError(t, err)
	defer resp.Body.Close()
	r := flv.NewReader(resp.Body, 0)
	_, err = r.Next()
	require.NoError(t, err)

	start := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	for {
		if _, err = r.Next(); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, io.EOF, "the viewer's stream ends cleanly (terminating chunk), not by a reset")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "exit status 0 after SIGTERM")
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10 s of SIGTERM")
	}
	t.Logf("stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
}
