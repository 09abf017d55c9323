// Package blobtest is the contract suite every blob.Store implementation must
// pass: put/get/stat round trips, overwrite, content types, not-found errors,
// idempotent delete, listing by prefix with pagination, atomic puts (size
// mismatch, failing bodies, canceled contexts leave nothing behind), large
// objects and key validation including path traversal.
//
// Call Run from the implementation's tests with a constructor returning a
// fresh, empty store for each subtest.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/blob"
)

// Options tune the suite for an implementation.
type Options struct {
	// LargeSize is the size of the "large object" cases; S3 tests set it above
	// the store's part size so that they exercise multipart uploads. Default 3 MiB.
	LargeSize int64
	// ModTimeSlack is how far ModTime may be from the wall clock (S3 keeps
	// seconds). Default 2 s.
	ModTimeSlack time.Duration
}

// Run runs the contract suite; newStore returns an empty store.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store, o Options) {
	if o.LargeSize <= 0 {
		o.LargeSize = 3 << 20
	}
	if o.ModTimeSlack <= 0 {
		o.ModTimeSlack = 2 * time.Second
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store, o Options)
	}{
		{"PutGetStat", testPutGetStat},
		{"ContentTypes", testContentTypes},
		{"Overwrite", testOverwrite},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"ListPrefixPagination", testList},
		{"SizeMismatch", testSizeMismatch},
		{"FailingBody", testFailingBody},
		{"CanceledContext", testCanceled},
		{"EmptyObject", testEmpty},
		{"LargeObject", testLarge},
		{"InvalidKeys", testInvalidKeys},
		{"Range", testRange},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t), o)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func put(t *testing.T, s blob.Store, key string, data []byte, ct string) {
	t.Helper()
	require.NoError(t, s.Put(ctx(t), key, bytes.NewReader(data), int64(len(data)), ct), "put %s", key)
}

func get(t *testing.T, s blob.Store, key string) ([]byte, blob.Info) {
	t.Helper()
	rc, info, err := s.Get(ctx(t), key)
	require.NoError(t, err, "get %s", key)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err, "read %s", key)
	return b, info
}

func testPutGetStat(t *testing.T, s blob.Store, o Options) {
	data := []byte("#EXTM3U\n#EXT-X-VERSION:3\n")
	before := time.Now()
	put(t, s, "vod/ch1/rec1/index.m3u8", data, "")
	b, info := get(t, s, "vod/ch1/rec1/index.m3u8")
	assert.Equal(t, data, b)
	assert.Equal(t, "vod/ch1/rec1/index.m3u8", info.Key)
	assert.Equal(t, int64(len(data)), info.Size)
	assert.Equal(t, "application/vnd.apple.mpegurl", info.ContentType)
	assert.WithinDuration(t, before, info.ModTime, o.ModTimeSlack)

	st, err := s.Stat(ctx(t), "vod/ch1/rec1/index.m3u8")
	require.NoError(t, err)
	assert.Equal(t, info.Key, st.Key)
	assert.Equal(t, info.Size, st.Size)
	assert.Equal(t, info.ContentType, st.ContentType)
	assert.WithinDuration(t, before, st.ModTime, o.ModTimeSlack)

	// Unicode and spaces are fine in keys.
	put(t, s, "recordings/频道 1/a b.mp4", []byte("x"), "")
	b, info = get(t, s, "recordings/频道 1/a b.mp4")
	assert.Equal(t, "x", string(b))
	assert.Equal(t, "video/mp4", info.ContentType)
}

func testContentTypes(t *testing.T, s blob.Store, _ Options) {
	cases := []struct{ key, given, want string }{
		{"a/seg.ts", "", "video/mp2t"},
		{"a/file.mp4", "", "video/mp4"},
		{"a/part.m4s", "", "video/iso.segment"},
		{"a/index.m3u8", "", "application/vnd.apple.mpegurl"},
		{"a/snap.jpg", "", "image/jpeg"},
		{"a/snap.JPEG", "", "image/jpeg"},
		{"a/manifest.mpd", "", "application/dash+xml"},
		{"a/noext", "", blob.DefaultContentType},
		{"a/other.bin", "video/mp4", "video/mp4"},
		{"a/explicit.ts", "video/MP2T", "video/MP2T"},
		{"a/init.mp4", "video/iso.segment", "video/iso.segment"},
	}
	for _, c := range cases {
		put(t, s, c.key, []byte(c.key), c.given)
	}
	for _, c := range cases {
		_, info := get(t, s, c.key)
		assert.Equal(t, c.want, info.ContentType, "Get %s", c.key)
		st, err := s.Stat(ctx(t), c.key)
		require.NoError(t, err)
		assert.Equal(t, c.want, st.ContentType, "Stat %s", c.key)
	}
}

func testOverwrite(t *testing.T, s blob.Store, _ Options) {
	put(t, s, "o/x.bin", []byte("first, longer body"), "application/x-first")
	put(t, s, "o/x.bin", []byte("second"), "")
	b, info := get(t, s, "o/x.bin")
	assert.Equal(t, "second", string(b))
	assert.Equal(t, int64(6), info.Size)
	assert.Equal(t, blob.DefaultContentType, info.ContentType, "the old content type does not stick")
	put(t, s, "o/x.bin", []byte("third"), "image/jpeg")
	_, info = get(t, s, "o/x.bin")
	assert.Equal(t, "image/jpeg", info.ContentType)
}

func testNotFound(t *testing.T, s blob.Store, _ Options) {
	put(t, s, "nf/a/b.ts", []byte("x"), "")
	for _, key := range []string{"missing", "nf/a/c.ts", "nf/a", "nf/a/b.ts/c", "nf/a/b"} {
		_, _, err := s.Get(ctx(t), key)
		assert.ErrorIs(t, err, blob.ErrNotFound, "Get %s", key)
		_, err = s.Stat(ctx(t), key)
		assert.ErrorIs(t, err, blob.ErrNotFound, "Stat %s", key)
		if rg, ok := s.(blob.RangeGetter); ok {
			_, _, err = rg.GetRange(ctx(t), key, 0, 1)
			assert.ErrorIs(t, err, blob.ErrNotFound, "GetRange %s", key)
		}
	}
}

func testDelete(t *testing.T, s blob.Store, _ Options) {
	put(t, s, "d/1/a.ts", []byte("a"), "")
	put(t, s, "d/1/b.ts", []byte("b"), "video/x-custom")
	require.NoError(t, s.Delete(ctx(t), "d/1/a.ts"))
	_, _, err := s.Get(ctx(t), "d/1/a.ts")
	assert.ErrorIs(t, err, blob.ErrNotFound)
	require.NoError(t, s.Delete(ctx(t), "d/1/a.ts"), "deleting again succeeds")
	require.NoError(t, s.Delete(ctx(t), "never/was/there"), "deleting a missing key succeeds")
	b, _ := get(t, s, "d/1/b.ts")
	assert.Equal(t, "b", string(b))
	require.NoError(t, s.Delete(ctx(t), "d/1/b.ts"))
	page, err := s.List(ctx(t), blob.ListOptions{Prefix: "d/"})
	require.NoError(t, err)
	assert.Empty(t, page.Items)
	// A key deleted and written again gets the new type, not a leftover.
	put(t, s, "d/1/b.ts", []byte("b2"), "")
	_, info := get(t, s, "d/1/b.ts")
	assert.Equal(t, "video/mp2t", info.ContentType)
}

func listAll(t *testing.T, s blob.Store, prefix string, limit int) ([]blob.Info, int) {
	t.Helper()
	var all []blob.Info
	pages := 0
	token := ""
	for {
		page, err := s.List(ctx(t), blob.ListOptions{Prefix: prefix, Limit: limit, Token: token})
		require.NoError(t, err)
		pages++
		if limit > 0 {
			require.LessOrEqual(t, len(page.Items), limit)
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			return all, pages
		}
		require.Less(t, pages, 1000, "listing does not end")
		token = page.Next
	}
}

func keys(items []blob.Info) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Key
	}
	return out
}

func testList(t *testing.T, s blob.Store, _ Options) {
	var want []string
	for i := range 23 {
		k := fmt.Sprintf("rec/a/%06d.mp4", i)
		want = append(want, k)
	}
	others := []string{"rec/ab/x.mp4", "rec/b/1.ts", "rec/a.json", "top.txt", "rec/a/sub/deep.ts"}
	// write in a shuffled order: listings sort
	all := append(slices.Clone(want), others...)
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for _, k := range all {
		put(t, s, k, []byte(k), "")
	}
	want = append(want, "rec/a/sub/deep.ts")
	slices.Sort(want)

	items, pages := listAll(t, s, "rec/a/", 5)
	assert.Equal(t, want, keys(items))
	assert.Equal(t, 5, pages, "24 keys in pages of 5")
	for _, it := range items {
		assert.Equal(t, int64(len(it.Key)), it.Size, it.Key)
		assert.False(t, it.ModTime.IsZero(), it.Key)
	}

	items, _ = listAll(t, s, "rec/a/", 0)
	assert.Equal(t, want, keys(items), "default limit")

	items, _ = listAll(t, s, "rec/a", 7)
	partial := append(slices.Clone(want), "rec/a.json", "rec/ab/x.mp4")
	slices.Sort(partial)
	assert.Equal(t, partial, keys(items), "a prefix may end in a partial segment")

	items, _ = listAll(t, s, "", 10)
	everything := append(slices.Clone(want), others...)
	everything = slices.Compact(slices.Sorted(slices.Values(everything)))
	assert.Equal(t, everything, keys(items))

	items, pages = listAll(t, s, "nothing/here/", 3)
	assert.Empty(t, items)
	assert.Equal(t, 1, pages)

	items, _ = listAll(t, s, "rec/a/000003.mp4", 0)
	assert.Equal(t, []string{"rec/a/000003.mp4"}, keys(items), "a whole key is a prefix too")

	page, err := s.List(ctx(t), blob.ListOptions{Prefix: "rec/b/", Limit: blob.MaxListLimit + 10})
	require.NoError(t, err)
	assert.Equal(t, []string{"rec/b/1.ts"}, keys(page.Items))
	assert.Empty(t, page.Next)
}

func testSizeMismatch(t *testing.T, s blob.Store, _ Options) {
	put(t, s, "sm/keep.ts", []byte("old"), "")
	err := s.Put(ctx(t), "sm/keep.ts", strings.NewReader("short"), 10, "")
	require.ErrorIs(t, err, blob.ErrSizeMismatch)
	err = s.Put(ctx(t), "sm/keep.ts", strings.NewReader("much longer than said"), 4, "")
	require.ErrorIs(t, err, blob.ErrSizeMismatch)
	b, _ := get(t, s, "sm/keep.ts")
	assert.Equal(t, "old", string(b), "a failed Put leaves the previous object")

	err = s.Put(ctx(t), "sm/new.ts", strings.NewReader("abc"), 5, "")
	require.ErrorIs(t, err, blob.ErrSizeMismatch)
	_, err = s.Stat(ctx(t), "sm/new.ts")
	assert.ErrorIs(t, err, blob.ErrNotFound, "a failed Put stores nothing")
}

type failingReader struct {
	left int
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left == 0 {
		return 0, f.err
	}
	n := min(len(p), f.left)
	for i := range n {
		p[i] = 'x'
	}
	f.left -= n
	return n, nil
}

var errBody = errors.New("body broke")

func testFailingBody(t *testing.T, s blob.Store, o Options) {
	put(t, s, "fb/keep.mp4", []byte("old"), "")
	for _, n := range []int{0, 100, int(o.LargeSize)} {
		err := s.Put(ctx(t), "fb/keep.mp4", &failingReader{left: n, err: errBody}, blob.UnknownSize, "")
		require.Error(t, err, "failing after %d bytes", n)
		assert.ErrorIs(t, err, errBody, "the body's error is wrapped")
		b, _ := get(t, s, "fb/keep.mp4")
		assert.Equal(t, "old", string(b))
		err = s.Put(ctx(t), "fb/new.mp4", &failingReader{left: n, err: errBody}, int64(n)+10, "")
		require.Error(t, err)
		_, err = s.Stat(ctx(t), "fb/new.mp4")
		assert.ErrorIs(t, err, blob.ErrNotFound)
	}
}

func testCanceled(t *testing.T, s blob.Store, _ Options) {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Put(c, "cc/x.ts", strings.NewReader("x"), 1, "")
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.Stat(ctx(t), "cc/x.ts")
	assert.ErrorIs(t, err, blob.ErrNotFound)

	// A context canceled while the body is being read.
	c, cancel = context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(make([]byte, 1000))
		cancel()
		_ = pw.CloseWithError(context.Canceled)
	}()
	err = s.Put(c, "cc/y.ts", pr, blob.UnknownSize, "")
	require.Error(t, err)
	_, err = s.Stat(ctx(t), "cc/y.ts")
	assert.ErrorIs(t, err, blob.ErrNotFound)
}

func testEmpty(t *testing.T, s blob.Store, _ Options) {
	put(t, s, "e/empty.ts", nil, "")
	b, info := get(t, s, "e/empty.ts")
	assert.Empty(t, b)
	assert.Equal(t, int64(0), info.Size)
	require.NoError(t, s.Put(ctx(t), "e/unknown.ts", strings.NewReader(""), blob.UnknownSize, ""))
	_, info = get(t, s, "e/unknown.ts")
	assert.Equal(t, int64(0), info.Size)
}

func testLarge(t *testing.T, s blob.Store, o Options) {
	data := make([]byte, o.LargeSize+12345)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	sum := sha256.Sum256(data)
	bodies := []struct {
		name string
		body func() io.Reader
		size int64
	}{
		// a plain io.Reader (not a ReadSeeker), as a recording being streamed out
		{"reader", func() io.Reader { return struct{ io.Reader }{bytes.NewReader(data)} }, int64(len(data))},
		{"reader-unknown-size", func() io.Reader { return struct{ io.Reader }{bytes.NewReader(data)} }, blob.UnknownSize},
		// an io.ReaderAt + io.Seeker, as a spooled file
		{"file", func() io.Reader { return bytes.NewReader(data) }, int64(len(data))},
	}
	for _, bd := range bodies {
		key := "large/" + bd.name + ".mp4"
		size := bd.size
		require.NoError(t, s.Put(ctx(t), key, bd.body(), size, ""), bd.name)
		b, info := get(t, s, key)
		assert.Equal(t, int64(len(data)), info.Size)
		assert.Equal(t, "video/mp4", info.ContentType)
		assert.Equal(t, sum, sha256.Sum256(b), "content of %s", key)
	}
}

func testInvalidKeys(t *testing.T, s blob.Store, _ Options) {
	put(t, s, "safe/x.ts", []byte("x"), "")
	bad := []string{
		"", "/abs/key", "../escape", "../../etc/passwd", "a/../../b", "a/./b", ".", "..",
		"a//b", "a\\b", "..\\..\\win", "trailing/", "nul\x00byte", "tab\tkey", "del\x7f",
		"bad-utf8-\xff", strings.Repeat("k", blob.MaxKeyLen+1), "safe/..", "safe/../safe/x.ts",
	}
	for _, key := range bad {
		err := s.Put(ctx(t), key, strings.NewReader("x"), 1, "")
		assert.ErrorIs(t, err, blob.ErrInvalidKey, "Put %q", key)
		_, _, err = s.Get(ctx(t), key)
		assert.ErrorIs(t, err, blob.ErrInvalidKey, "Get %q", key)
		_, err = s.Stat(ctx(t), key)
		assert.ErrorIs(t, err, blob.ErrInvalidKey, "Stat %q", key)
		err = s.Delete(ctx(t), key)
		assert.ErrorIs(t, err, blob.ErrInvalidKey, "Delete %q", key)
		if rg, ok := s.(blob.RangeGetter); ok {
			_, _, err = rg.GetRange(ctx(t), key, 0, -1)
			assert.ErrorIs(t, err, blob.ErrInvalidKey, "GetRange %q", key)
		}
	}
	for _, prefix := range []string{"../", "/", "a//", "..", "a/../", "x\\y"} {
		_, err := s.List(ctx(t), blob.ListOptions{Prefix: prefix})
		assert.ErrorIs(t, err, blob.ErrInvalidKey, "List %q", prefix)
	}
	b, _ := get(t, s, "safe/x.ts")
	assert.Equal(t, "x", string(b), "nothing was overwritten through a traversal")
	items, _ := listAll(t, s, "", 0)
	assert.Equal(t, []string{"safe/x.ts"}, keys(items), "no stray objects")
}

func testRange(t *testing.T, s blob.Store, _ Options) {
	rg, ok := s.(blob.RangeGetter)
	if !ok {
		t.Skip("store does not implement blob.RangeGetter")
	}
	data := []byte("0123456789abcdefghij")
	put(t, s, "r/file.mp4", data, "")
	cases := []struct {
		off, n int64
		want   string
	}{
		{0, -1, string(data)}, {0, 5, "01234"}, {5, 5, "56789"}, {15, -1, "fghij"},
		{15, 100, "fghij"}, {19, 1, "j"}, {20, -1, ""}, {25, 3, ""}, {3, 0, ""},
	}
	for _, c := range cases {
		rc, info, err := rg.GetRange(ctx(t), "r/file.mp4", c.off, c.n)
		require.NoError(t, err, "range %d+%d", c.off, c.n)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		assert.Equal(t, c.want, string(b), "range %d+%d", c.off, c.n)
		assert.Equal(t, int64(len(data)), info.Size, "Info.Size is the whole object")
		assert.Equal(t, "video/mp4", info.ContentType)
	}
	_, _, err := rg.GetRange(ctx(t), "r/file.mp4", -1, 2)
	assert.ErrorIs(t, err, blob.ErrInvalidRange)
}

func testConcurrent(t *testing.T, s blob.Store, _ Options) {
	const n = 8
	errs := make(chan error, n*2)
	for i := range n {
		go func() {
			body := bytes.Repeat([]byte{byte('a' + i)}, 4096)
			errs <- s.Put(context.Background(), "c/same.ts", bytes.NewReader(body), int64(len(body)), "")
		}()
		go func() {
			errs <- s.Put(context.Background(), fmt.Sprintf("c/own/%d.ts", i), strings.NewReader("x"), 1, "")
		}()
	}
	for range n * 2 {
		require.NoError(t, <-errs)
	}
	b, _ := get(t, s, "c/same.ts")
	require.Len(t, b, 4096)
	assert.Equal(t, bytes.Repeat(b[:1], 4096), b, "one writer's body, whole")
	items, _ := listAll(t, s, "c/own/", 0)
	assert.Len(t, items, n)
}
