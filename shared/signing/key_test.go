package signing

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeKey(t *testing.T) {
	valid := hex.EncodeToString(testKey())
	cases := []struct {
		name    string
		in      string
		want    []byte
		wantErr error
	}{
		{"lower-case hex", valid, testKey(), nil},
		{"upper-case hex", strings.ToUpper(valid), testKey(), nil},
		{"surrounding whitespace", "  " + valid + "\r\n", testKey(), nil},
		{"64-byte key", valid + valid, append(testKey(), testKey()...), nil},
		{"empty", "", nil, ErrShortKey},
		{"31 bytes", valid[:62], nil, ErrShortKey},
		{"odd length", valid[:63], nil, nil},
		{"not hex", strings.Repeat("zz", 32), nil, nil},
		{"inner space", valid[:32] + " " + valid[32:], nil, nil},
		{"base64", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key, err := DecodeKey(tc.in)
			if tc.want != nil {
				require.NoError(t, err)
				require.Equal(t, tc.want, key)
				return
			}
			require.Error(t, err)
			require.Nil(t, key)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
		})
	}
}

func TestKeyFromEnv(t *testing.T) {
	const name = "LIVESTACK_TEST_PUSH_KEY"
	cases := []struct {
		name    string
		value   string
		want    []byte
		wantErr error
	}{
		{"set", hex.EncodeToString(testKey()), testKey(), nil},
		{"set with newline", hex.EncodeToString(testKey()) + "\n", testKey(), nil},
		{"empty", "", nil, ErrNoKey},
		{"blank", "  \n", nil, ErrNoKey},
		{"short", "00ff", nil, ErrShortKey},
		{"not hex", "secret", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(name, tc.value)
			key, err := KeyFromEnv(name)
			if tc.want != nil {
				require.NoError(t, err)
				require.Equal(t, tc.want, key)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), name)
			if v := strings.TrimSpace(tc.value); v != "" {
				require.NotContains(t, err.Error(), v, "the key must not be echoed")
			}
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
		})
	}

	t.Run("unset", func(t *testing.T) {
		t.Setenv(name, "x")
		require.NoError(t, os.Unsetenv(name))
		_, err := KeyFromEnv(name)
		require.ErrorIs(t, err, ErrNoKey)
	})
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets", "push.key")

	key, err := LoadOrCreateKey(path)
	require.NoError(t, err)
	require.Len(t, key, MinKeySize)
	_, err = New(key)
	require.NoError(t, err)

	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	dinfo, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), dinfo.Mode().Perm())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, hex.EncodeToString(key)+"\n", string(data))

	again, err := LoadOrCreateKey(path)
	require.NoError(t, err)
	require.Equal(t, key, again, "the key must be reused")

	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary files may be left behind")

	other, err := LoadOrCreateKey(filepath.Join(dir, "other.key"))
	require.NoError(t, err)
	require.NotEqual(t, key, other, "keys must be random")
}

func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "push.key")
	const n = 20
	keys := make([][]byte, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			keys[i], errs[i] = LoadOrCreateKey(path)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, keys[0], keys[i], "every caller must get the same key")
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary files may be left behind")
}

func TestLoadOrCreateKeyExisting(t *testing.T) {
	valid := hex.EncodeToString(testKey())
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		want    []byte
		wantErr error
	}{
		{"hand-written key", valid, 0o600, testKey(), nil},
		{"read-only key", valid + "\n", 0o400, testKey(), nil},
		{"readable by group", valid, 0o640, nil, ErrInsecureKeyFile},
		{"readable by all", valid, 0o644, nil, ErrInsecureKeyFile},
		{"short key", "00ff", 0o600, nil, ErrShortKey},
		{"empty file", "", 0o600, nil, ErrShortKey},
		{"not hex", "my secret", 0o600, nil, nil},
		{"huge file", strings.Repeat("0", 1<<20), 0o600, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "push.key")
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
			require.NoError(t, os.Chmod(path, tc.mode))
			key, err := LoadOrCreateKey(path)
			if tc.want != nil {
				require.NoError(t, err)
				require.Equal(t, tc.want, key)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), path)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, tc.content, string(data), "a bad key file must be left alone")
		})
	}

	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		_, err := LoadOrCreateKey(dir)
		require.Error(t, err)
	})
	t.Run("parent is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(file, nil, 0o600))
		_, err := LoadOrCreateKey(filepath.Join(file, "push.key"))
		require.Error(t, err)
	})
}
