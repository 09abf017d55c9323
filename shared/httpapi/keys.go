package httpapi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

// apiKeyPrefix starts every API key secret, so a leaked one is recognizable
// and the admin token is never looked up in the store.
const apiKeyPrefix = "lsk_"

// keyInput is the POST /api/v1/keys body.
type keyInput struct {
	Name      string     `json:"name"`
	ExpiresAt *time.Time `json:"expiresAt"`
}

// keyView is an API key as listed: never the secret, never its hash.
type keyView struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// createdKey is the creation response, the one time the secret is shown.
type createdKey struct {
	keyView
	Secret string `json:"secret"`
}

func viewOf(k store.APIKey) keyView {
	return keyView{ID: k.ID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt}
}

func (a *API) createKey(c *gin.Context) {
	var in keyInput
	if !a.decode(c, &in) {
		return
	}
	now := a.cfg.Now().UTC()
	if len(in.Name) > store.MaxNameLength {
		a.fail(c, http.StatusBadRequest, "invalid_field", "name: longer than 200 bytes", nil)
		return
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		a.fail(c, http.StatusBadRequest, "invalid_field", "expiresAt: must be in the future", nil)
		return
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		a.fail(c, http.StatusInternalServerError, "internal", "could not create a key", err)
		return
	}
	secret := apiKeyPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(secret))
	k := store.APIKey{
		ID: "key_" + hex.EncodeToString(raw[:4]) + hex.EncodeToString(sum[:4]), Name: in.Name,
		Hash: hex.EncodeToString(sum[:]), Prefix: secret[:12], CreatedAt: now, ExpiresAt: in.ExpiresAt,
	}
	if err := a.cfg.Store.CreateAPIKey(c.Request.Context(), k); err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not store the key", err)
		return
	}
	c.Header("Location", "/api/v1/keys/"+k.ID)
	c.JSON(http.StatusCreated, createdKey{keyView: viewOf(k), Secret: secret})
}

func (a *API) listKeys(c *gin.Context) {
	ks, err := a.cfg.Store.ListAPIKeys(c.Request.Context())
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not list the keys", err)
		return
	}
	out := make([]keyView, 0, len(ks))
	for _, k := range ks {
		out = append(out, viewOf(k))
	}
	c.JSON(http.StatusOK, gin.H{"keys": out})
}

func (a *API) deleteKey(c *gin.Context) {
	id := c.Param("id")
	if !channel.ValidID(id) {
		a.fail(c, http.StatusBadRequest, "invalid_field", "id: must be 1-64 letters, digits, '-' or '_'", nil)
		return
	}
	err := a.cfg.Store.DeleteAPIKey(c.Request.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		a.fail(c, http.StatusNotFound, "not_found", "no such key", nil)
		return
	}
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not revoke the key", err)
		return
	}
	c.Status(http.StatusNoContent)
}
