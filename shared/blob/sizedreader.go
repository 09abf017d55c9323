package blob

import (
	"fmt"
	"io"
)

// SizedReader returns a reader that yields what r yields and fails with
// ErrSizeMismatch as soon as r proves not to hold exactly size bytes: when it
// ends early or has more. A negative size returns r unchanged. Store
// implementations wrap a Put body in it so that a short body never becomes a
// short object.
func SizedReader(r io.Reader, size int64) io.Reader {
	if size < 0 {
		return r
	}
	return &sizedReader{r: r, left: size, size: size}
}

type sizedReader struct {
	r    io.Reader
	left int64
	size int64
}

func (s *sizedReader) Read(p []byte) (int, error) {
	if s.left == 0 {
		// Probe for excess bytes: a body longer than announced is an error too.
		var one [1]byte
		n, err := io.ReadFull(s.r, one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: body longer than %d bytes", ErrSizeMismatch, s.size)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return 0, io.EOF
		}
		return 0, err
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.left -= int64(n)
	if err == io.EOF && s.left > 0 {
		return n, fmt.Errorf("%w: body ended after %d of %d bytes", ErrSizeMismatch, s.size-s.left, s.size)
	}
	if err == io.EOF {
		err = nil // the next Read probes for excess bytes and reports io.EOF
	}
	return n, err
}
