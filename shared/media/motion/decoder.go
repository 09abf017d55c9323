package motion

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/snapshot"
)

// grayProc is one ffmpeg turning FLV video on stdin into raw grayscale
// frames of w*h bytes on stdout.
type grayProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	tail *tailBuffer
}

// grayArgs decode cheaply (no loop filter, fast flags, non-reference frames
// skipped: detection needs only a few coarse pictures a second) and scale to
// a fixed w x h grayscale picture. Only integers reach the filter string.
func grayArgs(fps, w, h int) []string {
	return []string{"-hide_banner", "-loglevel", "error",
		"-probesize", "32", "-analyzeduration", "0", "-threads", "1",
		"-skip_loop_filter", "all", "-skip_frame", "noref", "-flags2", "fast",
		"-f", "flv", "-i", "pipe:0",
		"-an", "-sn", "-dn",
		"-vf", "fps=" + strconv.Itoa(fps) + ",scale=" + strconv.Itoa(w) + ":" + strconv.Itoa(h) + ":flags=fast_bilinear,format=gray",
		"-threads", "1", "-f", "rawvideo", "pipe:1"}
}

// startGray starts ffmpeg reading stdin (the read end of a pipe the caller
// writes with deadlines); frames are passed to onFrame (one reused buffer)
// from a goroutine until the process ends, then done is closed.
func startGray(ffmpeg string, fps, w, h int, stdin *os.File, onFrame func(n int, frame []byte)) (*grayProc, error) {
	cmd := exec.Command(ffmpeg, grayArgs(fps, w, h)...)
	cmd.Stdin = stdin
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	g := &grayProc{cmd: cmd, done: make(chan struct{}), tail: &tailBuffer{max: 4096}}
	cmd.Stderr = g.tail
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ffmpeg: %w", err)
	}
	go func() {
		br := bufio.NewReaderSize(stdout, w*h)
		buf := make([]byte, w*h)
		for n := 0; ; n++ {
			if _, err := io.ReadFull(br, buf); err != nil {
				if !errors.Is(err, io.EOF) {
					g.err = fmt.Errorf("read frame: %w", err)
				}
				break
			}
			onFrame(n, buf)
		}
		_, _ = io.Copy(io.Discard, stdout)
		if werr := cmd.Wait(); werr != nil {
			g.err = fmt.Errorf("ffmpeg exited: %w: %s", werr, g.tail.last())
		}
		close(g.done)
	}()
	return g, nil
}

// stop ends the process (the caller closes its stdin first).
func (g *grayProc) stop() {
	if g.cmd.Process != nil {
		_ = g.cmd.Process.Kill()
	}
	<-g.done
}

// tailBuffer keeps the last bytes of a process's stderr.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	t.mu.Unlock()
	return len(p), nil
}

func (t *tailBuffer) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(t.b)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			return s[i+1:]
		}
	}
	return s
}

// flvTag serializes one packet as an FLV tag at time ts.
func flvTag(dst []byte, p snapshot.Packet, ts uint32) ([]byte, error) {
	return flv.AppendTag(dst, p.Type, ts, p.Data)
}
