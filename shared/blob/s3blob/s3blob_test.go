package s3blob_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/blob/blobtest"
	"github.com/livestack/livestack/shared/blob/s3blob"
)

const bucket = "livestack-test"

// recorder sits in front of gofakes3: it records every request and can fail
// the first N of them with a 503, as S3 does under load.
type recorder struct {
	next     http.Handler
	mu       sync.Mutex
	reqs     []*http.Request
	failLeft atomic.Int64
	failed   atomic.Int64
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Clone(context.Background()))
	r.mu.Unlock()
	if r.failLeft.Add(-1) >= 0 {
		r.failed.Add(1)
		_, _ = io.Copy(io.Discard, req.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
		return
	}
	r.next.ServeHTTP(w, req)
}

func (r *recorder) requests() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*http.Request(nil), r.reqs...)
}

// server starts gofakes3 (in memory) on 127.0.0.1:0 behind a recorder.
func server(t *testing.T) (*httptest.Server, *recorder) {
	t.Helper()
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket(bucket))
	rec := &recorder{next: gofakes3.New(backend, gofakes3.WithTimeSkewLimit(0)).Server()}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return srv, rec
}

func newStore(t *testing.T, endpoint string, tweak func(*s3blob.Config)) *s3blob.Store {
	t.Helper()
	cfg := s3blob.Config{
		Bucket:       bucket,
		Region:       "us-east-1",
		Endpoint:     endpoint,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		PartSize:     s3blob.MinPartSize,
		MaxBackoff:   50 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := s3blob.New(context.Background(), cfg)
	require.NoError(t, err)
	return s
}

// The S3 store passes the same contract as the filesystem one, through the
// SDK calls production makes (upload manager, multipart above the part size).
func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		srv, _ := server(t)
		return newStore(t, srv.URL, nil)
	}, blobtest.Options{LargeSize: 2*s3blob.MinPartSize + 1})
}

// A key prefix isolates deployments sharing a bucket.
func TestContractWithKeyPrefix(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		srv, _ := server(t)
		return newStore(t, srv.URL, func(c *s3blob.Config) { c.KeyPrefix = "deploy-a/" })
	}, blobtest.Options{LargeSize: 1 << 20})
}

func TestHeadersStorageClassNoACLMultipart(t *testing.T) {
	srv, rec := server(t)
	s := newStore(t, srv.URL, func(c *s3blob.Config) { c.StorageClass = "STANDARD_IA" })
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "recordings/ch/1/000001.mp4", strings.NewReader("small"), 5, ""))
	big := bytes.Repeat([]byte("v"), int(2*s3blob.MinPartSize+100))
	require.NoError(t, s.Put(ctx, "recordings/ch/1/000002.mp4", bytes.NewReader(big), int64(len(big)), ""))

	var puts, creates, parts, completes int
	for _, r := range rec.requests() {
		assert.Empty(t, r.Header.Get("X-Amz-Acl"), "no ACL is ever sent: %s %s", r.Method, r.URL)
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodPut && q.Has("partNumber"):
			parts++
		case r.Method == http.MethodPut:
			puts++
			assert.Equal(t, "STANDARD_IA", r.Header.Get("X-Amz-Storage-Class"))
			assert.Equal(t, "video/mp4", r.Header.Get("Content-Type"))
		case r.Method == http.MethodPost && q.Has("uploads"):
			creates++
			assert.Equal(t, "STANDARD_IA", r.Header.Get("X-Amz-Storage-Class"))
			assert.Equal(t, "video/mp4", r.Header.Get("Content-Type"))
		case r.Method == http.MethodPost && q.Has("uploadId"):
			completes++
		}
	}
	assert.Equal(t, 1, puts, "the small file is one PutObject")
	assert.Equal(t, 1, creates, "the large file is a multipart upload")
	assert.Equal(t, 3, parts)
	assert.Equal(t, 1, completes)
	rc, info, err := s.Get(ctx, "recordings/ch/1/000002.mp4")
	require.NoError(t, err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	assert.Equal(t, big, b)
	assert.Equal(t, "video/mp4", info.ContentType)
}

// Requests failing with 503 are retried with backoff until they succeed,
// for single uploads and for every step of a multipart upload.
func TestRetriesFailingUploads(t *testing.T) {
	srv, rec := server(t)
	s := newStore(t, srv.URL, func(c *s3blob.Config) { c.MaxAttempts = 4 })
	ctx := context.Background()

	rec.failLeft.Store(3)
	require.NoError(t, s.Put(ctx, "vod/ch/1/000001.ts", strings.NewReader("segment"), 7, ""))
	assert.Equal(t, int64(3), rec.failed.Load())
	rc, _, err := s.Get(ctx, "vod/ch/1/000001.ts")
	require.NoError(t, err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	assert.Equal(t, "segment", string(b))

	big := bytes.Repeat([]byte("m"), int(s3blob.MinPartSize+10))
	rec.failed.Store(0)
	rec.failLeft.Store(2)
	require.NoError(t, s.Put(ctx, "recordings/ch/1/000001.mp4", bytes.NewReader(big), int64(len(big)), ""))
	assert.Equal(t, int64(2), rec.failed.Load())
	info, err := s.Stat(ctx, "recordings/ch/1/000001.mp4")
	require.NoError(t, err)
	assert.Equal(t, int64(len(big)), info.Size)

	// More failures than attempts: the error comes back and nothing is stored.
	rec.failed.Store(0)
	rec.failLeft.Store(4)
	err = s.Put(ctx, "vod/ch/1/000002.ts", strings.NewReader("lost?"), 5, "")
	require.Error(t, err)
	assert.Equal(t, int64(4), rec.failed.Load(), "MaxAttempts attempts")
	_, err = s.Stat(ctx, "vod/ch/1/000002.ts")
	assert.ErrorIs(t, err, blob.ErrNotFound)
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []s3blob.Config{
		{},
		{Bucket: "b", StorageClass: "CHEAP"},
		{Bucket: "b", SSE: "rot13"},
		{Bucket: "b", KMSKeyID: "k"},
		{Bucket: "b", PartSize: 1024},
		{Bucket: "b", KeyPrefix: "../x/"},
	} {
		_, err := s3blob.New(context.Background(), c)
		assert.Error(t, err, "%+v", c)
	}
}
