// Package blob is livestack's storage port for recordings, snapshots and VOD
// files: a flat namespace of keys ("rec/ch1/2026-11-25T10-00-00Z/000001.mp4")
// holding opaque bytes with a content type, behind one interface with two
// implementations (files in the standalone's data dir, S3 on AWS).
//
// Implementations are safe for concurrent use, validate every key with
// ValidateKey before touching storage, take a context on every call and return
// errors that wrap the sentinels below (test them with errors.Is). A Put is
// atomic: readers see the old object or the new one, never a part, and a
// failed or canceled Put leaves no object behind. Every implementation must
// pass the contract suite in package blobtest.
package blob

import (
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// Errors returned (wrapped) by every Store implementation.
var (
	// ErrNotFound: no object is stored under the key.
	ErrNotFound = errors.New("blob not found")
	// ErrInvalidKey: the key (or a List prefix) breaks the rules of ValidateKey.
	ErrInvalidKey = errors.New("invalid blob key")
	// ErrSizeMismatch: Put was given a size and the reader yielded a different
	// number of bytes. Nothing is stored.
	ErrSizeMismatch = errors.New("blob size mismatch")
	// ErrInvalidRange: GetRange was given a negative offset.
	ErrInvalidRange = errors.New("invalid blob range")
)

// File is a Put body that is a finished local file its owner never writes
// again (the recorder's spooled MP4 and HLS files), read from its start. A
// store on the same file system may take it by a hard link instead of
// copying its bytes; any other store reads it as the *os.File it is.
type File struct{ *os.File }

// UnknownSize tells Put that the length of the body is not known in advance
// (a live recording being streamed out, a pipe). Any negative size means the same.
const UnknownSize int64 = -1

// Default and maximum page sizes of List.
const (
	DefaultListLimit = 1000
	MaxListLimit     = 1000
)

// Info describes a stored object.
type Info struct {
	// Key is the object's key, as given to Put.
	Key string
	// Size is the length of the object in bytes.
	Size int64
	// ContentType is the media type given to Put (or derived from the key by
	// ContentType when Put was given none). List leaves it empty: call Stat
	// when it matters.
	ContentType string
	// ModTime is when the object was last written. S3 keeps it to the second.
	ModTime time.Time
}

// ListOptions selects one page of List.
type ListOptions struct {
	// Prefix keeps the keys that start with it (plain string prefix, not a
	// directory: "rec/ch1/" and "rec/ch" are both fine). Empty lists everything.
	Prefix string
	// Limit is the most keys in the page. Zero means DefaultListLimit; larger
	// than MaxListLimit means MaxListLimit.
	Limit int
	// Token continues a listing: pass the previous page's Next. Tokens are
	// opaque and belong to one Store implementation.
	Token string
}

// Page is one page of a listing, in ascending byte order of the keys.
type Page struct {
	// Items are the objects of the page, without ContentType.
	Items []Info
	// Next is the token of the following page; empty when this is the last.
	Next string
}

// Store is the storage port.
type Store interface {
	// Put stores the bytes of body under key, replacing any previous object.
	// size is the body's length, or UnknownSize; when it is known and the body
	// yields another length, Put fails with ErrSizeMismatch. contentType is
	// stored with the object; empty means ContentType(key). Put returns once
	// the object is durable; on any error (including a canceled context or a
	// failing body) nothing is stored and the previous object, if any, stays.
	Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) error
	// Get opens the object under key. The caller must close the reader. The
	// reader may stop with the context's error when ctx ends before the body
	// has been read.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// Stat describes the object under key.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object under key. Deleting a key that holds no object
	// succeeds (Delete is idempotent, as it is in S3).
	Delete(ctx context.Context, key string) error
	// List returns one page of the objects whose keys start with opts.Prefix.
	List(ctx context.Context, opts ListOptions) (Page, error)
}

// RangeGetter is implemented by stores that can read part of an object (both
// of livestack's do); HTTP handlers use it to answer Range requests without
// reading the whole object.
type RangeGetter interface {
	// GetRange opens length bytes of the object under key from offset on
	// (length < 0: to the end). The Info describes the whole object (Size is
	// its full length). An offset at or past the end yields an empty body.
	// Negative offsets fail with ErrInvalidRange.
	GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, Info, error)
}

// ListLimit returns the page size that List uses for a requested limit.
func ListLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultListLimit
	case limit > MaxListLimit:
		return MaxListLimit
	}
	return limit
}
