// Package fsblob implements the blob port with files under one directory, for
// the standalone build (its data dir).
//
// Layout under the root directory:
//
//	objects/<key>  the object's bytes, a plain file (playable with any tool)
//	types/<key>    the content type, only when Put was given one that differs
//	               from blob.ContentType(key); otherwise it is derived from the
//	               extension. A sidecar tree rather than xattrs, which not every
//	               filesystem (tmpfs on older kernels, some container overlays)
//	               keeps.
//	tmp/           bodies being written; renamed into objects/ when complete.
//
// A Put writes a temporary file, fsyncs it, renames it over the key and fsyncs
// the directory, so a crash leaves the old object or the new one, never a part.
// Every path is opened through an os.Root, so no key, symlink or race can reach
// outside the root, on top of blob.ValidateKey refusing "..", absolute paths
// and backslashes. The data and its content-type sidecar are each replaced
// atomically but not together: a Stat racing a Put that changes a key's
// content type may pair the new type with the old bytes for a moment.
//
// Keys map to paths, so an object "a" and an object "a/b" cannot both exist
// (S3 allows it); Put of the second fails. One Store should own a root
// directory: New removes temporary files left by a crash.
package fsblob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/livestack/livestack/shared/blob"
)

const (
	objectsDir = "objects"
	typesDir   = "types"
	tmpDir     = "tmp"

	// staleTemp is how long a temporary file must have been left untouched
	// before New deletes it as the remains of a crashed Put.
	staleTemp = time.Hour
	copyBuf   = 256 << 10
)

// Store is a blob.Store on the local filesystem. Create it with New and
// release it with Close.
type Store struct {
	root *os.Root
}

var (
	_ blob.Store       = (*Store)(nil)
	_ blob.RangeGetter = (*Store)(nil)
)

// New opens (creating it if needed) the store rooted at dir.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("fsblob: empty root directory")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fsblob: create root: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("fsblob: open root: %w", err)
	}
	for _, d := range []string{objectsDir, typesDir, tmpDir} {
		if err := root.MkdirAll(d, 0o755); err != nil {
			_ = root.Close()
			return nil, fmt.Errorf("fsblob: create %s: %w", d, err)
		}
	}
	s := &Store{root: root}
	if err := s.removeStaleTemps(time.Now().Add(-staleTemp)); err != nil {
		_ = root.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the root directory. The Store must not be used afterwards.
func (s *Store) Close() error {
	if err := s.root.Close(); err != nil {
		return fmt.Errorf("fsblob: close: %w", err)
	}
	return nil
}

func (s *Store) removeStaleTemps(before time.Time) error {
	entries, err := fs.ReadDir(s.root.FS(), tmpDir)
	if err != nil {
		return fmt.Errorf("fsblob: read %s: %w", tmpDir, err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.ModTime().After(before) {
			continue
		}
		if err := s.root.Remove(path.Join(tmpDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("fsblob: remove stale temporary file: %w", err)
		}
	}
	return nil
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) error {
	if err := validKey(key); err != nil {
		return fmt.Errorf("fsblob: put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fsblob: put %q: %w", key, err)
	}
	if contentType == "" {
		contentType = blob.ContentType(key)
	}
	var tmp string
	var err error
	if fh, ok := body.(blob.File); ok {
		tmp, err = s.linkTemp(fh.File, size) // "" when it cannot: copied below
		body = fh.File
	}
	if tmp == "" && err == nil {
		if fh, ok := body.(*os.File); ok && size >= 0 {
			tmp, err = s.writeTempFromFile(fh, size)
		} else {
			tmp, err = s.writeTemp(ctx, blob.SizedReader(body, size))
		}
	}
	if err != nil {
		return fmt.Errorf("fsblob: put %q: %w", key, err)
	}
	defer func() { _ = s.root.Remove(tmp) }() // a no-op once renamed
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fsblob: put %q: %w", key, err)
	}
	if err := s.putType(ctx, key, contentType); err != nil {
		return fmt.Errorf("fsblob: put %q: %w", key, err)
	}
	if err := s.commit(tmp, path.Join(objectsDir, key)); err != nil {
		return fmt.Errorf("fsblob: put %q: %w", key, err)
	}
	return nil
}

// putType records contentType for key, or removes the sidecar when the
// extension already implies it.
func (s *Store) putType(ctx context.Context, key, contentType string) error {
	sidecar := path.Join(typesDir, key)
	if contentType == blob.ContentType(key) {
		if err := s.root.Remove(sidecar); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove content type: %w", err)
		}
		return nil
	}
	tmp, err := s.writeTemp(ctx, strings.NewReader(contentType))
	if err != nil {
		return fmt.Errorf("write content type: %w", err)
	}
	defer func() { _ = s.root.Remove(tmp) }()
	if err := s.commit(tmp, sidecar); err != nil {
		return fmt.Errorf("write content type: %w", err)
	}
	return nil
}

// writeTemp copies r into a new, fsynced file under tmp/ and returns its name.
func (s *Store) writeTemp(ctx context.Context, r io.Reader) (string, error) {
	return s.writeTempWith(func(f *os.File) error {
		_, err := io.CopyBuffer(f, ctxReader{ctx: ctx, r: r}, make([]byte, copyBuf))
		return err
	})
}

// writeTempFromFile is writeTemp for a body that is a file (the recorder's
// spool): the kernel copies it (copy_file_range), the bytes never pass
// through user space. It checks the size as blob.SizedReader does.
func (s *Store) writeTempFromFile(src *os.File, size int64) (string, error) {
	return s.writeTempWith(func(f *os.File) error {
		n, err := f.ReadFrom(&io.LimitedReader{R: src, N: size})
		if err != nil {
			return err
		}
		if n < size {
			return fmt.Errorf("%w: body ended after %d of %d bytes", blob.ErrSizeMismatch, n, size)
		}
		var one [1]byte
		if k, _ := src.Read(one[:]); k > 0 {
			return fmt.Errorf("%w: body longer than %d bytes", blob.ErrSizeMismatch, size)
		}
		return nil
	})
}

// linkTemp makes a finished file (blob.File) a temporary file under tmp/ by
// a hard link: storing a recording in the standalone's data dir then writes
// none of its bytes again. It returns "" and no error when a link cannot be
// made (another file system, a size not given, a file not read from its
// start): the caller copies. A file of another size than announced is
// ErrSizeMismatch, as for a copied body.
func (s *Store) linkTemp(src *os.File, size int64) (string, error) {
	if size < 0 {
		return "", nil
	}
	if pos, err := src.Seek(0, io.SeekCurrent); err != nil || pos != 0 {
		return "", nil
	}
	fi, err := src.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return "", nil
	}
	if fi.Size() != size {
		return "", fmt.Errorf("%w: file holds %d bytes, not %d", blob.ErrSizeMismatch, fi.Size(), size)
	}
	name := tempName()
	// os.Root has no link from outside the root: the target is a name this
	// store just made up under its own tmp/, so nothing can be redirected.
	if err := os.Link(src.Name(), filepath.Join(s.root.Name(), filepath.FromSlash(name))); err != nil {
		return "", nil
	}
	if fi2, err := s.root.Stat(name); err != nil || !os.SameFile(fi, fi2) {
		_ = s.root.Remove(name) // the path now names another file
		return "", nil
	}
	return name, nil
}

// tempName is a new random name under tmp/.
func tempName() string {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	return path.Join(tmpDir, hex.EncodeToString(rnd[:]))
}

// writeTempWith creates a new file under tmp/, fills it with fill, fsyncs it
// and returns its name; on any error the file is removed.
func (s *Store) writeTempWith(fill func(*os.File) error) (string, error) {
	name := tempName()
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("create temporary file: %w", err)
	}
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = s.root.Remove(name)
		return "", fmt.Errorf("write temporary file: %w", err)
	}
	return name, nil
}

// commit renames tmp to dst, creating dst's directories, and fsyncs the
// directory so the rename survives a crash.
func (s *Store) commit(tmp, dst string) error {
	dir := path.Dir(dst)
	var err error
	// A concurrent Delete may prune the directory between MkdirAll and Rename.
	for range 3 {
		if err = s.root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create directory: %w", err)
		}
		if err = s.root.Rename(tmp, dst); !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	return s.syncDir(dir)
}

func (s *Store) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// Get implements blob.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	if err := validKey(key); err != nil {
		return nil, blob.Info{}, fmt.Errorf("fsblob: get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, blob.Info{}, fmt.Errorf("fsblob: get %q: %w", key, err)
	}
	f, err := s.root.Open(path.Join(objectsDir, key))
	if err != nil {
		return nil, blob.Info{}, fmt.Errorf("fsblob: get %q: %w", key, notFound(err))
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	if err != nil {
		_ = f.Close()
		return nil, blob.Info{}, fmt.Errorf("fsblob: get %q: %w", key, notFound(err))
	}
	info, err := s.info(key, fi)
	if err != nil {
		_ = f.Close()
		return nil, blob.Info{}, fmt.Errorf("fsblob: get %q: %w", key, err)
	}
	return f, info, nil
}

// GetRange implements blob.RangeGetter.
func (s *Store) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, blob.Info, error) {
	if offset < 0 {
		return nil, blob.Info{}, fmt.Errorf("fsblob: get %q: %w: offset %d", key, blob.ErrInvalidRange, offset)
	}
	rc, info, err := s.Get(ctx, key)
	if err != nil {
		return nil, blob.Info{}, err
	}
	f := rc.(*os.File)
	if offset > info.Size {
		offset = info.Size
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, blob.Info{}, fmt.Errorf("fsblob: get %q: seek: %w", key, err)
	}
	if length < 0 || offset+length > info.Size {
		length = info.Size - offset
	}
	return limitedFile{Reader: io.LimitReader(f, length), Closer: f}, info, nil
}

type limitedFile struct {
	io.Reader
	io.Closer
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := validKey(key); err != nil {
		return blob.Info{}, fmt.Errorf("fsblob: stat: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return blob.Info{}, fmt.Errorf("fsblob: stat %q: %w", key, err)
	}
	fi, err := s.root.Lstat(path.Join(objectsDir, key))
	if err == nil && !fi.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("fsblob: stat %q: %w", key, notFound(err))
	}
	info, err := s.info(key, fi)
	if err != nil {
		return blob.Info{}, fmt.Errorf("fsblob: stat %q: %w", key, err)
	}
	return info, nil
}

func (s *Store) info(key string, fi fs.FileInfo) (blob.Info, error) {
	ct, err := s.root.ReadFile(path.Join(typesDir, key))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ct = []byte(blob.ContentType(key))
	case err != nil:
		return blob.Info{}, fmt.Errorf("read content type: %w", err)
	}
	return blob.Info{Key: key, Size: fi.Size(), ContentType: string(ct), ModTime: fi.ModTime()}, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := validKey(key); err != nil {
		return fmt.Errorf("fsblob: delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fsblob: delete %q: %w", key, err)
	}
	name := path.Join(objectsDir, key)
	fi, err := s.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR), err == nil && fi.IsDir():
		return nil // no object; directories are not objects
	case err != nil:
		return fmt.Errorf("fsblob: delete %q: %w", key, err)
	}
	if err := s.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fsblob: delete %q: %w", key, err)
	}
	if err := s.root.Remove(path.Join(typesDir, key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fsblob: delete %q content type: %w", key, err)
	}
	s.prune(objectsDir, key)
	s.prune(typesDir, key)
	return nil
}

// prune removes the directories of key under top that have become empty.
func (s *Store) prune(top, key string) {
	for dir := path.Dir(key); dir != "."; dir = path.Dir(dir) {
		if s.root.Remove(path.Join(top, dir)) != nil {
			return // not empty (or gone): stop
		}
	}
}

// List implements blob.Store. It walks the directory holding the prefix and
// sorts the matching keys on every call: fine for a data dir, linear in the
// number of objects under that directory.
func (s *Store) List(ctx context.Context, opts blob.ListOptions) (blob.Page, error) {
	if err := blob.ValidatePrefix(opts.Prefix); err != nil {
		return blob.Page{}, fmt.Errorf("fsblob: list: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return blob.Page{}, fmt.Errorf("fsblob: list %q: %w", opts.Prefix, err)
	}
	limit := blob.ListLimit(opts.Limit)
	base := objectsDir
	if i := strings.LastIndexByte(opts.Prefix, '/'); i >= 0 {
		base = path.Join(objectsDir, opts.Prefix[:i])
	}
	var items []blob.Info
	err := fs.WalkDir(s.root.FS(), base, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			if name == base && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		key := strings.TrimPrefix(name, objectsDir+"/")
		if !strings.HasPrefix(key, opts.Prefix) || key <= opts.Token {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		items = append(items, blob.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return blob.Page{}, fmt.Errorf("fsblob: list %q: %w", opts.Prefix, err)
	}
	slices.SortFunc(items, func(a, b blob.Info) int { return strings.Compare(a.Key, b.Key) })
	var page blob.Page
	if len(items) > limit {
		items = items[:limit]
		page.Next = items[limit-1].Key
	}
	page.Items = items
	return page, nil
}

// notFound maps the filesystem's "no such object" errors onto blob.ErrNotFound;
// a lookup through a file ("a/b" when "a" is an object) fails with ENOTDIR.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: %w", blob.ErrNotFound, err)
	}
	return err
}

// validKey applies blob.ValidateKey and, as a second line behind it and the
// os.Root, checks that the key is a local path on this operating system.
func validKey(key string) error {
	if err := blob.ValidateKey(key); err != nil {
		return err
	}
	if !filepath.IsLocal(filepath.FromSlash(key)) {
		return fmt.Errorf("%w: %q is not a local path here", blob.ErrInvalidKey, key)
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
