package main

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	"github.com/livestack/livestack/shared/httpapi"
	"github.com/livestack/livestack/shared/playauth"
	"github.com/livestack/livestack/shared/store"
)

// playSigning is the standalone's signed-playback setup: the key pair
// (LIVESTACK_PLAY_KEY_* as on AWS, or generated once into the data dir) and
// the playback authorizer that checks channels with playAuth set. Signed URLs
// are verified for the server's own play base and the play domain set
// through /api/v1/domains.
type playSigning struct {
	Signer     *playauth.Signer
	Authorizer *playauth.Authorizer
	playBase   atomic.Pointer[string]
}

func newPlaySigning(dataDir string, st store.Store, log *slog.Logger) (*playSigning, error) {
	signer, keys, err := playauth.FromEnv(os.Getenv)
	if errors.Is(err, playauth.ErrNoKey) {
		signer, err = playauth.LoadOrCreate(dataDir)
		if err == nil {
			keys = map[string]*rsa.PublicKey{signer.KeyID(): signer.PublicKey()}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("play key: %w", err)
	}
	ps := &playSigning{Signer: signer}
	v := &playauth.Verifier{Keys: keys, Bases: ps.bases(st, log)}
	ps.Authorizer = &playauth.Authorizer{
		Verifier: v, Logger: log,
		Lookup:   st.GetChannel,
		NotFound: func(err error) bool { return errors.Is(err, store.ErrNotFound) },
	}
	return ps, nil
}

// SetPlayBase records the server's own play base once it listens.
func (p *playSigning) SetPlayBase(base string) { p.playBase.Store(&base) }

func (p *playSigning) bases(st store.Store, log *slog.Logger) func() []string {
	return func() []string {
		var out []string
		if b := p.playBase.Load(); b != nil {
			out = append(out, *b)
		}
		d, err := httpapi.LoadDomains(context.Background(), st)
		if err != nil {
			log.Warn("play domains unavailable", "error", err)
		} else if d.Play != "" {
			out = append(out, d.Play)
		}
		return out
	}
}

// corsOrigins reads LIVESTACK_CORS_ORIGINS: comma-separated browser origins
// allowed to call the API (none by default).
func corsOrigins() []string {
	var out []string
	for _, o := range strings.Split(os.Getenv("LIVESTACK_CORS_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}
