//go:build !unix

package recording

import "os"

// writeVec writes the buffers to f in order, one write each.
func writeVec(f *os.File, bufs [][]byte) (int64, error) {
	var total int64
	for _, b := range bufs {
		n, err := f.Write(b)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
