package ingestfn

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Environment variables shared by the ingestauth function and the gateway
// container (terraform/modules/api and terraform/modules/ingest set them).
const (
	// EnvPushKeySecret is the ARN of the Secrets Manager secret holding the
	// push key: its SecretString (64 letters and digits) is the key bytes.
	EnvPushKeySecret = "LIVESTACK_PUSH_KEY_SECRET"
	// EnvPushKey is the push key in hex, for deployments without Secrets
	// Manager (and tests); it wins over EnvPushKeySecret.
	EnvPushKey = "LIVESTACK_PUSH_KEY"
	// EnvCallbackSecret overrides the callback secret derived from the push key.
	EnvCallbackSecret = "LIVESTACK_INGEST_CALLBACK_SECRET"
)

// SecretsAPI is the part of the Secrets Manager client used here.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// LoadPushKey returns the push key: EnvPushKey (hex) if set, else the
// SecretString of the secret named by EnvPushKeySecret. sm may be nil when
// EnvPushKey is set.
func LoadPushKey(ctx context.Context, sm SecretsAPI) ([]byte, error) {
	if v := strings.TrimSpace(os.Getenv(EnvPushKey)); v != "" {
		k, err := hex.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("%s: not hexadecimal", EnvPushKey)
		}
		return k, nil
	}
	arn := os.Getenv(EnvPushKeySecret)
	if arn == "" {
		return nil, fmt.Errorf("push key: set %s (Secrets Manager ARN) or %s (hex)", EnvPushKeySecret, EnvPushKey)
	}
	if sm == nil {
		return nil, errors.New("push key: no Secrets Manager client")
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("push key: get secret value: %w", err)
	}
	key := []byte(strings.TrimSpace(aws.ToString(out.SecretString)))
	if len(key) == 0 {
		key = out.SecretBinary
	}
	if len(key) == 0 {
		return nil, errors.New("push key: the secret is empty")
	}
	return key, nil
}

// CallbackSecret is the secret that signs the gateway's callbacks
// (docs/ingest-callback.md): EnvCallbackSecret when set, otherwise derived
// from the push key, which Terraform gives both the gateway and ingestauth,
// so no second secret needs distributing. The derivation (HMAC-SHA256 of a
// fixed label under the push key, hex) keeps the push key itself out of the
// callback MAC: a leaked callback secret signs no push URL.
func CallbackSecret(pushKey []byte) []byte {
	if v := strings.TrimSpace(os.Getenv(EnvCallbackSecret)); v != "" {
		return []byte(v)
	}
	m := hmac.New(sha256.New, pushKey)
	m.Write([]byte("livestack ingest callback v1"))
	return []byte(hex.EncodeToString(m.Sum(nil)))
}
