package transcode

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"time"
)

// Progress is one block of ffmpeg's -progress output.
type Progress struct {
	Frame      int64         `json:"frame"`
	FPS        float64       `json:"fps"`
	Bitrate    float64       `json:"bitrate"` // bit/s of the whole output; 0 when ffmpeg reports N/A
	TotalSize  int64         `json:"totalSize"`
	OutTime    time.Duration `json:"outTime"`
	DupFrames  int64         `json:"dupFrames"`
	DropFrames int64         `json:"dropFrames"`
	Speed      float64       `json:"speed"` // realtime factor; 0 when N/A
	// End is true on the last block (progress=end).
	End bool `json:"end"`
}

// maxProgressLine bounds one line of -progress output; longer lines are skipped.
const maxProgressLine = 4096

// ReadProgress parses ffmpeg's -progress key=value stream from r, calling fn
// once per block (each block ends with a progress= line). Unknown keys, N/A
// values and malformed lines are ignored. It returns when r ends, with nil on
// io.EOF. Written by hand: the format is line-based key=value with a handful
// of value spellings ("1234.5kbits/s", "1.02x", "N/A") no library parses.
func ReadProgress(r io.Reader, fn func(Progress)) error {
	br := bufio.NewReaderSize(r, maxProgressLine)
	var p Progress
	skipping := false // inside an overlong line, which is dropped whole
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			skipping = true
			continue
		}
		if skipping {
			skipping = false
			if err == nil {
				continue
			}
			line = nil
		}
		if err != nil && err != io.EOF {
			return err
		}
		eof := err == io.EOF
		key, val, ok := strings.Cut(strings.TrimSpace(string(line)), "=")
		if !ok {
			if eof {
				return nil
			}
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "frame":
			p.Frame = parseInt(val)
		case "fps":
			p.FPS = parseFloat(val)
		case "bitrate":
			p.Bitrate = parseBitrate(val)
		case "total_size":
			p.TotalSize = parseInt(val)
		case "out_time_us":
			p.OutTime = time.Duration(parseInt(val)) * time.Microsecond
		case "out_time_ms": // microseconds too, despite the name (ffmpeg's historical quirk)
			if p.OutTime == 0 {
				p.OutTime = time.Duration(parseInt(val)) * time.Microsecond
			}
		case "dup_frames":
			p.DupFrames = parseInt(val)
		case "drop_frames":
			p.DropFrames = parseInt(val)
		case "speed":
			p.Speed = parseFloat(strings.TrimSuffix(val, "x"))
		case "progress":
			p.End = val == "end"
			fn(p)
			p = Progress{}
		}
		if eof {
			return nil
		}
	}
}

func parseInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func parseFloat(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f != f || f > 1e15 {
		return 0
	}
	return f
}

// parseBitrate reads "1234.5kbits/s" as bit/s.
func parseBitrate(s string) float64 {
	if v, ok := strings.CutSuffix(s, "kbits/s"); ok {
		return parseFloat(v) * 1000
	}
	return 0
}
