package blob

import (
	"path"
	"strings"
)

// DefaultContentType is what ContentType returns for an extension it does not know.
const DefaultContentType = "application/octet-stream"

var contentTypes = map[string]string{
	".ts":   "video/mp2t",
	".mp4":  "video/mp4",
	".m4s":  "video/iso.segment",
	".m3u8": "application/vnd.apple.mpegurl",
	".mpd":  "application/dash+xml",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".json": "application/json",
}

// ContentType returns the media type of the files livestack stores, by the
// key's extension (case-insensitive): video/mp2t (.ts), video/mp4 (.mp4),
// video/iso.segment (.m4s), application/vnd.apple.mpegurl (.m3u8),
// application/dash+xml (.mpd), image/jpeg (.jpg, .jpeg), application/json
// (.json), and DefaultContentType for anything else. It does not consult the
// operating system's MIME tables, so the answer is the same on every host.
func ContentType(key string) string {
	if ct, ok := contentTypes[strings.ToLower(path.Ext(key))]; ok {
		return ct
	}
	return DefaultContentType
}
