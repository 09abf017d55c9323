package playauth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables of the AWS deployment (the key pair CloudFront's
// public key belongs to, from Secrets Manager or SSM through the task/function
// definition).
const (
	EnvKeyID          = "LIVESTACK_PLAY_KEY_ID"
	EnvPrivateKey     = "LIVESTACK_PLAY_KEY_PRIVATE"
	EnvPrivateKeyFile = "LIVESTACK_PLAY_KEY_PRIVATE_FILE"
	EnvPublicKey      = "LIVESTACK_PLAY_KEY_PUBLIC"
	EnvPublicKeyFile  = "LIVESTACK_PLAY_KEY_PUBLIC_FILE"
)

// KeyFile is the name of the generated private key in the data dir.
const KeyFile = "play-key.pem"

// ErrNoKey is returned by FromEnv when the environment names no play key.
var ErrNoKey = errors.New("play key not configured")

// LocalKeyID derives a key pair id from the public key ("LS" and 12 hex
// digits), for key pairs generated in standalone.
func LocalKeyID(pub *rsa.PublicKey) string {
	der := x509.MarshalPKCS1PublicKey(pub)
	sum := sha256.Sum256(der)
	return "LS" + strings.ToUpper(hex.EncodeToString(sum[:6]))
}

// LoadOrCreate returns the signer of the RSA key stored at dir/play-key.pem,
// generating a 2048-bit key (mode 0600) on first use; its id is LocalKeyID.
func LoadOrCreate(dir string) (*Signer, error) {
	path := filepath.Join(dir, KeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := create(path); err != nil {
			return nil, err
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("play key %s: %w", path, err)
	}
	priv, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("play key %s: %w", path, err)
	}
	return NewSigner(LocalKeyID(&priv.PublicKey), priv)
}

func create(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create play key: %w", err)
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("create play key: %w", err)
	}
	block := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})
	tmp, err := os.CreateTemp(filepath.Dir(path), ".play-key-*")
	if err != nil {
		return fmt.Errorf("create play key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(block)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create play key: %w", err)
	}
	// Link fails harmlessly when a concurrent first start got there first.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create play key: %w", err)
	}
	return nil
}

// ParsePrivateKey reads a PEM RSA private key (PKCS#1 or PKCS#8).
func ParsePrivateKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not an RSA private key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA private key")
	}
	return rk, nil
}

// ParsePublicKey reads a PEM RSA public key (PKIX, as CloudFront takes it, or PKCS#1).
func ParsePublicKey(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PublicKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not an RSA public key")
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("not an RSA public key")
	}
	return rk, nil
}

// PublicKeyPEM encodes pub as a PKIX PEM block, the form CloudFront's public key takes.
func PublicKeyPEM(pub *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// FromEnv reads the key pair of an AWS deployment: the id from
// LIVESTACK_PLAY_KEY_ID and the private key from LIVESTACK_PLAY_KEY_PRIVATE
// (PEM) or the file in LIVESTACK_PLAY_KEY_PRIVATE_FILE. The signer is nil
// when only a public key is configured (LIVESTACK_PLAY_KEY_PUBLIC[_FILE], for
// tiers that verify but never sign). ErrNoKey when nothing is set.
func FromEnv(getenv func(string) string) (*Signer, map[string]*rsa.PublicKey, error) {
	id := getenv(EnvKeyID)
	privPEM, err := valueOrFile(getenv, EnvPrivateKey, EnvPrivateKeyFile)
	if err != nil {
		return nil, nil, err
	}
	pubPEM, err := valueOrFile(getenv, EnvPublicKey, EnvPublicKeyFile)
	if err != nil {
		return nil, nil, err
	}
	if privPEM == nil && pubPEM == nil {
		return nil, nil, ErrNoKey
	}
	if id == "" {
		return nil, nil, fmt.Errorf("play key: %s is not set", EnvKeyID)
	}
	if privPEM != nil {
		priv, err := ParsePrivateKey(privPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("play key: %s: %w", EnvPrivateKey, err)
		}
		s, err := NewSigner(id, priv)
		if err != nil {
			return nil, nil, err
		}
		return s, map[string]*rsa.PublicKey{id: &priv.PublicKey}, nil
	}
	pub, err := ParsePublicKey(pubPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("play key: %s: %w", EnvPublicKey, err)
	}
	return nil, map[string]*rsa.PublicKey{id: pub}, nil
}

func valueOrFile(getenv func(string) string, valueVar, fileVar string) ([]byte, error) {
	if v := getenv(valueVar); strings.TrimSpace(v) != "" {
		return []byte(v), nil
	}
	if p := getenv(fileVar); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("play key: %s: %w", fileVar, err)
		}
		return b, nil
	}
	return nil, nil
}
