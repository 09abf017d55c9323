package store

import (
	"context"
	"regexp"
	"time"

	"github.com/livestack/livestack/shared/channel"
)

// Kinds of recordings.
const (
	// KindMP4 is a broadcast recorded as MP4 files cut every mp4SegmentSeconds.
	KindMP4 = "mp4"
	// KindHLS is a broadcast recorded as HLS VOD (segments and a playlist).
	KindHLS = "hls"
	// KindSnapshot is one JPG picture of a stream.
	KindSnapshot = "snapshot"
	// KindMotion is a clip (and its picture) recorded because of motion.
	KindMotion = "motion"
)

// Statuses of recordings.
const (
	// StatusRecording: the recording is still being written.
	StatusRecording = "recording"
	// StatusComplete: the recording ended and all its objects are stored.
	StatusComplete = "complete"
	// StatusIncomplete: the recording ended abnormally (a crash); what is listed is
	// what survived.
	StatusIncomplete = "incomplete"
)

// Limits of recordings and API keys (DynamoDB items stay well under 400 KB).
const (
	// MaxRecordingKeys bounds Recording.Keys (33 hours of one-minute MP4 files).
	MaxRecordingKeys = 2000
	// MaxBlobKeyLength bounds each blob key a recording lists.
	MaxBlobKeyLength = 512
	// MaxNameLength bounds APIKey.Name.
	MaxNameLength = 200
)

// Recording is the index entry of something kept of a broadcast: an MP4
// recording, an HLS VOD recording, a snapshot or a motion clip. The objects
// themselves live in the blob store.
type Recording struct {
	// ID is unique across channels and safe in paths (channel.ValidID rules);
	// it is chosen by the writer, typically time-sortable.
	ID        string `json:"id"`
	ChannelID string `json:"channelId"`
	// Kind is one of KindMP4, KindHLS, KindSnapshot, KindMotion.
	Kind string `json:"kind"`
	// Status is one of StatusRecording, StatusComplete, StatusIncomplete.
	Status string `json:"status"`
	// BroadcastID groups the recordings of one broadcast (all TCP sessions
	// joined by reconnects); empty when not known.
	BroadcastID string    `json:"broadcastId,omitempty"`
	StartedAt   time.Time `json:"startedAt"`
	// EndedAt is nil while the recording is still being written.
	EndedAt        *time.Time `json:"endedAt,omitempty"`
	DurationMillis int64      `json:"durationMillis"`
	Bytes          int64      `json:"bytes"`
	// Prefix is the blob key prefix every object of the recording lives under;
	// deleting the recording deletes what is stored under it.
	Prefix string `json:"prefix"`
	// Keys are the blob keys of the recording's main objects, in play order
	// (MP4 files; the JPG of a snapshot; a motion clip and its picture).
	Keys []string `json:"keys"`
	// Playlist is the blob key of the VOD playlist (KindHLS, KindMotion), if any.
	Playlist string `json:"playlist,omitempty"`
	// Region is the AWS region that wrote it (empty in standalone).
	Region    string    `json:"region,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

var validKinds = map[string]bool{KindMP4: true, KindHLS: true, KindSnapshot: true, KindMotion: true}
var validStatuses = map[string]bool{StatusRecording: true, StatusComplete: true, StatusIncomplete: true}

// Validate checks that r can be stored; the error wraps ErrInvalid.
func (r *Recording) Validate() error {
	switch {
	case r == nil:
		return invalid("recording is nil")
	case !channel.ValidID(r.ID):
		return invalid("recording id %q must be 1-64 letters, digits, '-' or '_'", r.ID)
	case !channel.ValidID(r.ChannelID):
		return invalid("recording channel id %q is not a valid channel id", r.ChannelID)
	case !validKinds[r.Kind]:
		return invalid("recording kind %q is not mp4, hls, snapshot or motion", r.Kind)
	case !validStatuses[r.Status]:
		return invalid("recording status %q is not recording, complete or incomplete", r.Status)
	case r.StartedAt.IsZero():
		return invalid("recording startedAt must be set")
	case r.EndedAt != nil && r.EndedAt.Before(r.StartedAt):
		return invalid("recording endedAt is before startedAt")
	case r.DurationMillis < 0 || r.Bytes < 0:
		return invalid("recording duration and bytes must not be negative")
	case len(r.Keys) > MaxRecordingKeys:
		return invalid("recording lists %d keys, more than %d", len(r.Keys), MaxRecordingKeys)
	case len(r.Prefix) > MaxBlobKeyLength || len(r.Playlist) > MaxBlobKeyLength:
		return invalid("recording prefix or playlist longer than %d bytes", MaxBlobKeyLength)
	}
	for _, k := range r.Keys {
		if k == "" || len(k) > MaxBlobKeyLength {
			return invalid("recording key must be 1-%d bytes", MaxBlobKeyLength)
		}
	}
	return nil
}

// RecordingQuery selects one page of ListRecordings.
type RecordingQuery struct {
	// ChannelID keeps one channel's recordings; empty lists every channel.
	ChannelID string
	// Kind keeps one kind; empty keeps all.
	Kind string
	// Since and Until bound StartedAt (Since inclusive, Until exclusive); zero
	// values leave that side open.
	Since, Until time.Time
	// Limit and Cursor page as in ListOptions.
	Limit  int
	Cursor string
}

// EffectiveLimit returns the page size q.Limit stands for.
func (q RecordingQuery) EffectiveLimit() int { return ListOptions{Limit: q.Limit}.EffectiveLimit() }

// RecordingPage is one page of recordings, newest StartedAt first (ties by id,
// descending).
type RecordingPage struct {
	Recordings []*Recording
	// Next is the cursor of the following page, empty on the last page.
	Next string
}

// APIKey is an API credential. The secret itself is never stored, only its hash.
type APIKey struct {
	// ID is a public identifier (channel.ValidID rules).
	ID   string `json:"id"`
	Name string `json:"name"`
	// Hash is the lower-case hex SHA-256 of the secret.
	Hash string `json:"hash"`
	// Prefix is the first characters of the secret, to tell keys apart in lists.
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

var hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidHash reports whether h is a lower-case hex SHA-256.
func ValidHash(h string) bool { return hashPattern.MatchString(h) }

// Validate checks that k can be stored; the error wraps ErrInvalid.
func (k *APIKey) Validate() error {
	switch {
	case k == nil:
		return invalid("api key is nil")
	case !channel.ValidID(k.ID):
		return invalid("api key id %q must be 1-64 letters, digits, '-' or '_'", k.ID)
	case !ValidHash(k.Hash):
		return invalid("api key hash must be 64 lower-case hex digits")
	case len(k.Name) > MaxNameLength || len(k.Prefix) > 16:
		return invalid("api key name (max %d) or prefix (max 16) too long", MaxNameLength)
	case k.CreatedAt.IsZero():
		return invalid("api key createdAt must be set")
	}
	return nil
}

// Active reports whether the key may be used at now.
func (k APIKey) Active(now time.Time) bool { return k.ExpiresAt == nil || now.Before(*k.ExpiresAt) }

// Recordings is the recording index, part of Store.
type Recordings interface {
	// PutRecording creates or replaces the recording r.ID (writers update a
	// recording as it grows, then once more when it ends). ErrInvalid if
	// r.Validate fails. The channel need not exist (recordings outlive it).
	PutRecording(ctx context.Context, r *Recording) error
	// GetRecording returns a copy of the recording; ErrNotFound if absent.
	GetRecording(ctx context.Context, id string) (*Recording, error)
	// ListRecordings returns one page of recordings matching q, newest first.
	// A cursor this store did not produce gives ErrInvalidCursor.
	ListRecordings(ctx context.Context, q RecordingQuery) (RecordingPage, error)
	// DeleteRecording removes the index entry; ErrNotFound if absent. The
	// caller deletes the blobs.
	DeleteRecording(ctx context.Context, id string) error
}

// APIKeys holds API credentials, part of Store.
type APIKeys interface {
	// CreateAPIKey stores k; ErrExists if its id or hash is taken, ErrInvalid
	// if k.Validate fails.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// APIKeyByHash returns the key with that secret hash; ErrNotFound if absent.
	APIKeyByHash(ctx context.Context, hash string) (APIKey, error)
	// ListAPIKeys returns every key, ordered by id.
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	// DeleteAPIKey removes the key; ErrNotFound if absent.
	DeleteAPIKey(ctx context.Context, id string) error
}
