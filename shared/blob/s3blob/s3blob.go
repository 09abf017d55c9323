// Package s3blob implements the blob port on Amazon S3 (or any S3-compatible
// server) with aws-sdk-go-v2.
//
// Every object is written with its content type, the configured storage
// class and, when configured, server-side encryption; no ACL is ever sent
// (livestack buckets use the bucket-owner-enforced object ownership, where
// ACLs are refused). Bodies go through the SDK's upload manager: a body
// smaller than the part size is one PutObject, anything larger or of unknown
// size a multipart upload. A file is read by offset, part by part; any other
// reader has each part buffered so that it can be retried. Every
// request is retried with the SDK's standard retryer (exponential backoff with
// jitter) up to Config.MaxAttempts attempts.
//
// A multipart upload that fails is aborted; when it failed because the
// context ended, the abort runs on a short context of its own. The bucket
// should still carry a lifecycle rule aborting incomplete multipart uploads
// after a day, for a process killed mid-upload.
package s3blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/livestack/livestack/shared/blob"
)

// Defaults of Config.
const (
	DefaultPartSize    int64 = 8 << 20
	DefaultConcurrency       = 4
	DefaultMaxAttempts       = 5
	DefaultMaxBackoff        = 20 * time.Second

	// MinPartSize is S3's smallest part of a multipart upload (but the last).
	MinPartSize = manager.MinUploadPartSize
	// abortTimeout bounds the abort of a multipart upload whose context ended.
	abortTimeout = 30 * time.Second
)

// Server-side encryption modes of Config.SSE.
const (
	SSENone = ""
	SSES3   = "AES256"  // S3-managed keys (SSE-S3)
	SSEKMS  = "aws:kms" // AWS KMS keys (SSE-KMS), with Config.KMSKeyID
)

// Config configures a Store. Zero values take the documented defaults.
type Config struct {
	// Bucket is the bucket's name. Required.
	Bucket string
	// KeyPrefix is put in front of every key ("livestack/" stores "a.mp4"
	// as "livestack/a.mp4"), so that several deployments can share a bucket.
	// Empty means none. It follows the rules of blob.ValidatePrefix.
	KeyPrefix string
	// Region is the bucket's region. Empty takes it from the environment or
	// the shared config (AWS_REGION…).
	Region string
	// StorageClass of every object written ("STANDARD_IA", "INTELLIGENT_TIERING"…).
	// Empty sends none: the bucket's default, STANDARD.
	StorageClass string
	// SSE selects server-side encryption: SSENone (the bucket's default
	// encryption applies), SSES3 or SSEKMS.
	SSE string
	// KMSKeyID is the KMS key (id, ARN or alias) for SSEKMS. Empty uses the
	// AWS-managed key aws/s3. Only allowed with SSEKMS.
	KMSKeyID string
	// PartSize is the size of each part of a multipart upload, and the body
	// size from which one is used. Default DefaultPartSize, at least MinPartSize.
	// Each upload buffers up to Concurrency+1 parts in memory.
	PartSize int64
	// Concurrency is how many parts of one upload are sent at once. Default
	// DefaultConcurrency.
	Concurrency int
	// MaxAttempts is how many times a request is tried before its error is
	// returned (1 disables retries). Default DefaultMaxAttempts.
	MaxAttempts int
	// MaxBackoff caps the pause between attempts. Default DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Endpoint overrides the S3 endpoint ("http://127.0.0.1:9000"), for
	// S3-compatible servers. Empty uses AWS's.
	Endpoint string
	// UsePathStyle addresses buckets as endpoint/bucket/key instead of
	// bucket.endpoint/key, as most S3-compatible servers need.
	UsePathStyle bool
	// Credentials overrides the SDK's default credential chain (environment,
	// shared config, ECS task role…). Nil uses the chain.
	Credentials aws.CredentialsProvider
	// HTTPClient overrides the SDK's HTTP client. Nil uses the SDK's.
	HTTPClient *http.Client
}

// Store is a blob.Store on one S3 bucket. Create it with New.
type Store struct {
	client *s3.Client
	//lint:ignore SA1019 feature/s3/manager is deprecated for feature/s3/transfermanager, which is not in go.mod; the upload path (by offset, retries) is tested on manager and moves in a change of its own
	uploader *manager.Uploader
	cfg      Config
}

var (
	_ blob.Store       = (*Store)(nil)
	_ blob.RangeGetter = (*Store)(nil)
)

func (c *Config) setDefaults() error {
	if c.Bucket == "" {
		return errors.New("no bucket")
	}
	if err := blob.ValidatePrefix(c.KeyPrefix); err != nil {
		return fmt.Errorf("key prefix: %w", err)
	}
	if c.StorageClass != "" && !slices.Contains(types.StorageClass("").Values(), types.StorageClass(c.StorageClass)) {
		return fmt.Errorf("unknown storage class %q", c.StorageClass)
	}
	switch c.SSE {
	case SSENone, SSES3:
		if c.KMSKeyID != "" {
			return fmt.Errorf("KMS key id given without SSE %q", SSEKMS)
		}
	case SSEKMS:
	default:
		return fmt.Errorf("unknown server-side encryption %q (want %q or %q)", c.SSE, SSES3, SSEKMS)
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.PartSize < MinPartSize {
		return fmt.Errorf("part size %d below S3's minimum %d", c.PartSize, MinPartSize)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	return nil
}

// New checks cfg, loads the AWS configuration (region and credentials from
// cfg, else the environment) and returns a Store. It makes no request.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("s3blob: config: %w", err)
	}
	opts := []func(*config.LoadOptions) error{
		// The SDK logs checksum notices at its own level on stderr; errors
		// come back wrapped instead.
		config.WithLogger(logging.Nop{}),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				o.MaxBackoff = cfg.MaxBackoff
			})
		}),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(cfg.HTTPClient))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3blob: load AWS config: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.UsePathStyle
	})
	//lint:ignore SA1019 feature/s3/manager is deprecated for feature/s3/transfermanager, which is not in go.mod; the upload path (by offset, retries) is tested on manager and moves in a change of its own
	uploader := manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = cfg.PartSize
		u.Concurrency = cfg.Concurrency
	})
	return &Store{client: client, uploader: uploader, cfg: cfg}, nil
}

// objectKey validates key and returns the S3 object key.
func (s *Store) objectKey(key string) (string, error) {
	if err := blob.ValidateKey(key); err != nil {
		return "", err
	}
	if n := len(s.cfg.KeyPrefix) + len(key); n > blob.MaxKeyLen {
		return "", fmt.Errorf("%w: %d bytes with the key prefix, more than %d", blob.ErrInvalidKey, n, blob.MaxKeyLen)
	}
	return s.cfg.KeyPrefix + key, nil
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) error {
	objKey, err := s.objectKey(key)
	if err != nil {
		return fmt.Errorf("s3blob: put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3blob: put %q: %w", key, err)
	}
	if contentType == "" {
		contentType = blob.ContentType(key)
	}
	reader, err := uploadBody(body, size)
	if err != nil {
		return fmt.Errorf("s3blob: put %q: %w", key, err)
	}
	in := &s3.PutObjectInput{
		Bucket:      aws.String(s.cfg.Bucket),
		Key:         aws.String(objKey),
		Body:        reader,
		ContentType: aws.String(contentType),
	}
	if s.cfg.StorageClass != "" {
		in.StorageClass = types.StorageClass(s.cfg.StorageClass)
	}
	if s.cfg.SSE != SSENone {
		in.ServerSideEncryption = types.ServerSideEncryption(s.cfg.SSE)
	}
	if s.cfg.KMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(s.cfg.KMSKeyID)
	}
	//lint:ignore SA1019 feature/s3/manager is deprecated for feature/s3/transfermanager, which is not in go.mod; the upload path (by offset, retries) is tested on manager and moves in a change of its own
	if _, err := s.uploader.Upload(ctx, in); err != nil {
		s.abortAfterCancel(ctx, objKey, err)
		return fmt.Errorf("s3blob: put %q: %w", key, err)
	}
	return nil
}

// uploadBody returns the body to hand the upload manager. A file (or any
// io.ReaderAt + io.Seeker at offset 0) of the announced size goes as it is:
// the manager then reads each part by offset and retries it from the source,
// without buffering parts in memory. Anything else is wrapped in
// blob.SizedReader, and the manager buffers each part.
func uploadBody(body io.Reader, size int64) (io.Reader, error) {
	ras, ok := body.(interface {
		io.ReaderAt
		io.Seeker
	})
	if !ok || size < 0 {
		return blob.SizedReader(body, size), nil
	}
	cur, err := ras.Seek(0, io.SeekCurrent)
	if err != nil || cur != 0 {
		return blob.SizedReader(body, size), nil
	}
	end, err := ras.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("measure body: %w", err)
	}
	if _, err := ras.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind body: %w", err)
	}
	if end != size {
		return nil, fmt.Errorf("%w: body holds %d bytes, not %d", blob.ErrSizeMismatch, end, size)
	}
	return body, nil
}

// abortAfterCancel aborts a multipart upload that failed because ctx ended:
// the upload manager's own abort ran on the ended context and failed.
func (s *Store) abortAfterCancel(ctx context.Context, objKey string, err error) {
	var mf manager.MultiUploadFailure
	if ctx.Err() == nil || !errors.As(err, &mf) || mf.UploadID() == "" {
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
		Bucket:   aws.String(s.cfg.Bucket),
		Key:      aws.String(objKey),
		UploadId: aws.String(mf.UploadID()),
	}) // best effort: the bucket's lifecycle rule is the backstop
}

// Get implements blob.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	objKey, err := s.objectKey(key)
	if err != nil {
		return nil, blob.Info{}, fmt.Errorf("s3blob: get: %w", err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(objKey),
	})
	if err != nil {
		return nil, blob.Info{}, fmt.Errorf("s3blob: get %q: %w", key, notFound(err))
	}
	return out.Body, info(key, out.ContentLength, out.ContentType, out.LastModified), nil
}

// GetRange implements blob.RangeGetter with a ranged GetObject.
func (s *Store) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, blob.Info, error) {
	objKey, err := s.objectKey(key)
	if err != nil {
		return nil, blob.Info{}, fmt.Errorf("s3blob: get: %w", err)
	}
	if offset < 0 {
		return nil, blob.Info{}, fmt.Errorf("s3blob: get %q: %w: offset %d", key, blob.ErrInvalidRange, offset)
	}
	if length == 0 {
		info, err := s.Stat(ctx, key)
		if err != nil {
			return nil, blob.Info{}, err
		}
		return io.NopCloser(strings.NewReader("")), info, nil
	}
	rng := fmt.Sprintf("bytes=%d-", offset)
	if length > 0 {
		rng = fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(objKey),
		Range:  aws.String(rng),
	}, func(o *s3.Options) {
		// A ranged body cannot match the whole object's checksum, which some
		// S3-compatible servers send anyway.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	if err != nil {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode() == "InvalidRange" {
			// The offset is at or past the end: an empty body, as documented.
			info, serr := s.Stat(ctx, key)
			if serr != nil {
				return nil, blob.Info{}, serr
			}
			return io.NopCloser(strings.NewReader("")), info, nil
		}
		return nil, blob.Info{}, fmt.Errorf("s3blob: get %q: %w", key, notFound(err))
	}
	size := aws.ToInt64(out.ContentLength)
	if total, ok := contentRangeTotal(aws.ToString(out.ContentRange)); ok {
		size = total
	}
	return out.Body, info(key, &size, out.ContentType, out.LastModified), nil
}

// contentRangeTotal reads the full length from "bytes 0-99/1234".
func contentRangeTotal(cr string) (int64, bool) {
	i := strings.LastIndexByte(cr, '/')
	if i < 0 || cr[i+1:] == "*" {
		return 0, false
	}
	n, err := strconv.ParseInt(cr[i+1:], 10, 64)
	return n, err == nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	objKey, err := s.objectKey(key)
	if err != nil {
		return blob.Info{}, fmt.Errorf("s3blob: stat: %w", err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(objKey),
	})
	if err != nil {
		return blob.Info{}, fmt.Errorf("s3blob: stat %q: %w", key, notFound(err))
	}
	return info(key, out.ContentLength, out.ContentType, out.LastModified), nil
}

func info(key string, size *int64, contentType *string, modTime *time.Time) blob.Info {
	return blob.Info{
		Key:         key,
		Size:        aws.ToInt64(size),
		ContentType: aws.ToString(contentType),
		ModTime:     aws.ToTime(modTime),
	}
}

// Delete implements blob.Store. S3's DeleteObject succeeds for a missing key.
func (s *Store) Delete(ctx context.Context, key string) error {
	objKey, err := s.objectKey(key)
	if err != nil {
		return fmt.Errorf("s3blob: delete: %w", err)
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(objKey),
	}); err != nil && !errors.Is(notFound(err), blob.ErrNotFound) {
		return fmt.Errorf("s3blob: delete %q: %w", key, err)
	}
	return nil
}

// List implements blob.Store. The page token is S3's continuation token.
// Objects under the key prefix whose names are not valid blob keys (written
// by another tool) are skipped, so a page may hold fewer than Limit items.
func (s *Store) List(ctx context.Context, opts blob.ListOptions) (blob.Page, error) {
	if err := blob.ValidatePrefix(opts.Prefix); err != nil {
		return blob.Page{}, fmt.Errorf("s3blob: list: %w", err)
	}
	in := &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.cfg.Bucket),
		Prefix:  aws.String(s.cfg.KeyPrefix + opts.Prefix),
		MaxKeys: aws.Int32(int32(blob.ListLimit(opts.Limit))),
	}
	if opts.Token != "" {
		in.ContinuationToken = aws.String(opts.Token)
	}
	out, err := s.client.ListObjectsV2(ctx, in)
	if err != nil {
		return blob.Page{}, fmt.Errorf("s3blob: list %q: %w", opts.Prefix, err)
	}
	page := blob.Page{Items: make([]blob.Info, 0, len(out.Contents))}
	for _, o := range out.Contents {
		key, ok := strings.CutPrefix(aws.ToString(o.Key), s.cfg.KeyPrefix)
		if !ok || blob.ValidateKey(key) != nil {
			continue
		}
		page.Items = append(page.Items, blob.Info{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
	}
	if aws.ToBool(out.IsTruncated) {
		page.Next = aws.ToString(out.NextContinuationToken)
	}
	return page, nil
}

// notFound maps S3's "no such key" errors onto blob.ErrNotFound. A missing
// bucket is a configuration error and stays as it is.
func notFound(err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return fmt.Errorf("%w: %w", blob.ErrNotFound, err)
		}
	}
	return err
}
