package signing

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Key errors.
var (
	// ErrShortKey: a push key is shorter than MinKeySize bytes.
	ErrShortKey = errors.New("push key too short")
	// ErrNoKey: the environment variable holding the push key is unset or empty.
	ErrNoKey = errors.New("push key not set")
	// ErrInsecureKeyFile: the key file can be read or written by other users.
	ErrInsecureKeyFile = errors.New("push key file is accessible to other users")
)

// maxKeyFileSize bounds what LoadOrCreateKey reads: a hex key plus whitespace.
const maxKeyFileSize = 4096

// DecodeKey decodes a hex-encoded push key (surrounding whitespace ignored) of
// at least MinKeySize bytes.
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	key, err := hex.DecodeString(s)
	if err != nil {
		// The hex error quotes the offending byte: keep key material out of logs.
		return nil, errors.New("decode push key: not hexadecimal")
	}
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("decode push key: %w: %d bytes, need at least %d", ErrShortKey, len(key), MinKeySize)
	}
	return key, nil
}

// KeyFromEnv decodes the hex push key held in the environment variable name.
// It returns ErrNoKey when the variable is unset or empty, so callers can
// fall back to LoadOrCreateKey.
func KeyFromEnv(name string) ([]byte, error) {
	v := os.Getenv(name)
	if strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("read push key from $%s: %w", name, ErrNoKey)
	}
	key, err := DecodeKey(v)
	if err != nil {
		return nil, fmt.Errorf("read push key from $%s: %w", name, err)
	}
	return key, nil
}

// GenerateKey returns MinKeySize random bytes.
func GenerateKey() ([]byte, error) {
	key := make([]byte, MinKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate push key: %w", err)
	}
	return key, nil
}

// LoadOrCreateKey returns the push key stored hex-encoded at path, creating
// the file (mode 0600, parent directories 0700) with a new random key on first
// use. Concurrent first calls, even from several processes, all end up with
// the same key: the file appears complete or not at all. An existing file that
// other users may access is refused with ErrInsecureKeyFile (not on Windows).
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := createKeyFile(path); err != nil {
		return nil, err
	}
	return readKeyFile(path)
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read push key %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read push key %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("read push key %s: not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("read push key %s: %w (mode %#o); run chmod 600 %s",
			path, ErrInsecureKeyFile, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read push key %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("read push key %s: larger than %d bytes", path, maxKeyFileSize)
	}
	key, err := DecodeKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("read push key %s: %w", path, err)
	}
	return key, nil
}

// createKeyFile writes a new key to a temporary file and links it into place,
// which fails without harm if another caller got there first.
func createKeyFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create push key %s: %w", path, err)
	}
	key, err := GenerateKey()
	if err != nil {
		return fmt.Errorf("create push key %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, ".push-key-*") // mode 0600
	if err != nil {
		return fmt.Errorf("create push key %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create push key %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create push key %s: %w", path, err)
	}
	return nil
}
