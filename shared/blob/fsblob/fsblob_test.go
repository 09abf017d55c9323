package fsblob_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/blob/blobtest"
	"github.com/livestack/livestack/shared/blob/fsblob"
)

func newStore(t *testing.T) blob.Store {
	s, err := fsblob.New(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestContract(t *testing.T) {
	blobtest.Run(t, newStore, blobtest.Options{})
}

// Objects are plain files under objects/, so tools can play them in place.
func TestLayoutAndSymlinks(t *testing.T) {
	dir := t.TempDir()
	s, err := fsblob.New(dir)
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "recordings/ch/1.mp4", strings.NewReader("mp4"), 3, ""))
	b, err := os.ReadFile(filepath.Join(dir, "objects", "recordings", "ch", "1.mp4"))
	require.NoError(t, err)
	assert.Equal(t, "mp4", string(b))

	// A symlink planted inside the root that points outside is not followed.
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "objects", "link")))
	_, _, err = s.Get(ctx, "link/secret")
	assert.Error(t, err)
	err = s.Put(ctx, "link/planted", strings.NewReader("x"), 1, "")
	assert.Error(t, err)
	_, err = os.Stat(filepath.Join(outside, "planted"))
	assert.True(t, os.IsNotExist(err), "nothing written outside the root")

	// Deleting the last object prunes its empty directories.
	require.NoError(t, s.Delete(ctx, "recordings/ch/1.mp4"))
	_, err = os.Stat(filepath.Join(dir, "objects", "recordings"))
	assert.True(t, os.IsNotExist(err))
}

// New removes temporary files a crashed Put left behind, but only old ones.
func TestStaleTemps(t *testing.T) {
	dir := t.TempDir()
	s, err := fsblob.New(dir)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	old := filepath.Join(dir, "tmp", "old")
	fresh := filepath.Join(dir, "tmp", "fresh")
	require.NoError(t, os.WriteFile(old, []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(fresh, []byte("x"), 0o644))
	past := time.Now().Add(-2 * time.Hour)
	require.NoError(t, os.Chtimes(old, past, past))
	s, err = fsblob.New(dir)
	require.NoError(t, err)
	defer s.Close()
	_, err = os.Stat(old)
	assert.True(t, os.IsNotExist(err))
	_, err = os.Stat(fresh)
	assert.NoError(t, err)
}

// A file body is copied by the kernel, with the same size checks as any body.
func TestPutFromFile(t *testing.T) {
	s := newStore(t)
	data := []byte(strings.Repeat("0123456789", 50_000))
	src := filepath.Join(t.TempDir(), "000001.mp4")
	require.NoError(t, os.WriteFile(src, data, 0o644))
	for _, tc := range []struct {
		name string
		size int64
		ok   bool
	}{
		{"exact size", int64(len(data)), true},
		{"announced longer", int64(len(data)) + 1, false},
		{"announced shorter", int64(len(data)) - 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fh, err := os.Open(src)
			require.NoError(t, err)
			defer fh.Close()
			key := "rec/" + strings.ReplaceAll(tc.name, " ", "-") + ".mp4"
			err = s.Put(context.Background(), key, fh, tc.size, "")
			if !tc.ok {
				require.ErrorIs(t, err, blob.ErrSizeMismatch)
				_, _, err := s.Get(context.Background(), key)
				require.ErrorIs(t, err, blob.ErrNotFound, "a failed Put leaves no object")
				return
			}
			require.NoError(t, err)
			rc, info, err := s.Get(context.Background(), key)
			require.NoError(t, err)
			defer rc.Close()
			got, err := io.ReadAll(rc)
			require.NoError(t, err)
			require.Equal(t, data, got)
			require.Equal(t, int64(len(data)), info.Size)
		})
	}
}

// A finished file (blob.File) on the same file system is stored by a hard
// link: the stored object is the same inode and no byte is copied. A plain
// *os.File is copied; a finished file not read from its start is copied from
// where it stands; a wrong size is refused either way.
func TestPutFinishedFileLinks(t *testing.T) {
	root := t.TempDir()
	s, err := fsblob.New(filepath.Join(root, "blobs"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	data := []byte(strings.Repeat("0123456789", 10_000))
	src := filepath.Join(root, "spool", "000001.mp4")
	require.NoError(t, os.MkdirAll(filepath.Dir(src), 0o755))
	require.NoError(t, os.WriteFile(src, data, 0o644))
	srcInfo, err := os.Stat(src)
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		body   func(*os.File) io.Reader
		skip   int64
		size   int64
		linked bool
		err    error
	}{
		{"finished file", func(f *os.File) io.Reader { return blob.File{File: f} }, 0, int64(len(data)), true, nil},
		{"plain file", func(f *os.File) io.Reader { return f }, 0, int64(len(data)), false, nil},
		{"finished file read from 100", func(f *os.File) io.Reader { return blob.File{File: f} }, 100, int64(len(data)) - 100, false, nil},
		{"finished file announced shorter", func(f *os.File) io.Reader { return blob.File{File: f} }, 0, int64(len(data)) - 1, false, blob.ErrSizeMismatch},
		{"finished file announced longer", func(f *os.File) io.Reader { return blob.File{File: f} }, 0, int64(len(data)) + 1, false, blob.ErrSizeMismatch},
		{"finished file of unknown size", func(f *os.File) io.Reader { return blob.File{File: f} }, 0, blob.UnknownSize, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fh, err := os.Open(src)
			require.NoError(t, err)
			defer fh.Close()
			_, err = fh.Seek(tc.skip, io.SeekStart)
			require.NoError(t, err)
			key := "rec/" + strings.ReplaceAll(tc.name, " ", "-") + ".mp4"
			err = s.Put(context.Background(), key, tc.body(fh), tc.size, "")
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				_, err := s.Stat(context.Background(), key)
				require.ErrorIs(t, err, blob.ErrNotFound, "a failed Put leaves no object")
				return
			}
			require.NoError(t, err)
			stored := filepath.Join(root, "blobs", "objects", filepath.FromSlash(key))
			fi, err := os.Stat(stored)
			require.NoError(t, err)
			assert.Equal(t, tc.linked, os.SameFile(srcInfo, fi), "stored by a link")
			got, err := os.ReadFile(stored)
			require.NoError(t, err)
			assert.Equal(t, data[tc.skip:], got)
		})
	}
	tmp, err := os.ReadDir(filepath.Join(root, "blobs", "tmp"))
	require.NoError(t, err)
	assert.Empty(t, tmp, "no temporary file is left behind")
}
