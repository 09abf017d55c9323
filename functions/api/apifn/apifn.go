// Package apifn is the api Lambda: the same gin engine as the standalone's
// /api/v1 and /videostream (shared/httpapi), behind API Gateway REST proxy
// events through aws-lambda-go-api-proxy, on the DynamoDB store and S3.
package apifn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	ginadapter "github.com/awslabs/aws-lambda-go-api-proxy/gin"

	"github.com/livestack/livestack/functions/ingestauth/ingestfn"
	"github.com/livestack/livestack/shared/blob/s3blob"
	"github.com/livestack/livestack/shared/httpapi"
	"github.com/livestack/livestack/shared/playauth"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store/dynamostore"
)

// Environment of the function (terraform/modules/api sets the first ones).
const (
	EnvBucket          = "LIVESTACK_BUCKET"
	EnvPushBase        = "LIVESTACK_PUSH_BASE_URL"
	EnvPlayBase        = "LIVESTACK_PLAYBACK_BASE_URL"
	EnvPlayKeySecret   = "LIVESTACK_PLAYBACK_PRIVATE_KEY_SECRET"
	EnvPlayKeyPairID   = "LIVESTACK_PLAYBACK_KEY_PAIR_ID"
	EnvAuth            = "LIVESTACK_AUTH" // "cognito" or "iam"
	EnvAdminToken      = "LIVESTACK_ADMIN_TOKEN"
	EnvCognitoIssuer   = "LIVESTACK_COGNITO_ISSUER"
	EnvCognitoGroup    = "LIVESTACK_COGNITO_GROUP"
	EnvIAMPrincipals   = "LIVESTACK_IAM_PRINCIPALS"
	EnvAllowGatewayKey = "LIVESTACK_ALLOW_APIGW_KEYS"
	EnvCORSOrigins     = "LIVESTACK_CORS_ORIGINS"
)

// Handler serves API Gateway REST proxy events.
type Handler struct {
	adapter *ginadapter.GinLambda
}

// New wraps the API built from cfg.
func New(cfg httpapi.Config) (*Handler, error) {
	e, err := httpapi.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Handler{adapter: ginadapter.New(e)}, nil
}

// Handle answers one REST proxy event. The request context (authorizer
// claims, API key id, IAM identity) travels in the request's context, where
// httpapi.APIGatewayIdentity reads it.
func (h *Handler) Handle(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.adapter.ProxyWithContext(ctx, ev)
}

// FromEnv builds the handler from the function's environment: the store
// (dynamostore.FromEnv: LIVESTACK_TABLE, AWS_REGION, LIVESTACK_DYNAMODB_ENDPOINT),
// the push key (ingestfn.LoadPushKey: LIVESTACK_PUSH_KEY or
// LIVESTACK_PUSH_KEY_SECRET), URL bases, the play key pair, recordings'
// bucket and who may call (see docs/api.md, "Lambda").
func FromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger) (*Handler, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("api: aws config: %w", err)
	}
	st, err := dynamostore.FromEnv(ctx)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	sm := secretsmanager.NewFromConfig(awsCfg)
	key, err := ingestfn.LoadPushKey(ctx, sm)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	signer, err := signing.New(key)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	cfg := httpapi.Config{
		Store: st, Signer: signer, Logger: log,
		URLs:        httpapi.URLs{PushBase: strings.TrimRight(getenv(EnvPushBase), "/"), PlayBase: strings.TrimRight(getenv(EnvPlayBase), "/")},
		CORSOrigins: splitList(getenv(EnvCORSOrigins)),
	}
	if cfg.PlaySigner, err = playSigner(ctx, getenv, sm); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	if b := getenv(EnvBucket); b != "" {
		if cfg.Blobs, err = s3blob.New(ctx, s3blob.Config{Bucket: b}); err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
	}
	cfg.AdminToken = getenv(EnvAdminToken)
	if cfg.AdminToken == "" {
		// No admin token in Lambda unless configured: an unguessable one keeps
		// the bearer path to API keys only.
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
		cfg.AdminToken = hex.EncodeToString(b[:])
	}
	cfg.Identity = httpapi.APIGatewayIdentity(Auth(getenv))
	return New(cfg)
}

// Auth reads which API Gateway identities are admitted: with
// LIVESTACK_AUTH=cognito, users of the pool (LIVESTACK_COGNITO_ISSUER and
// LIVESTACK_COGNITO_GROUP narrow it); with iam, IAM principals whose ARN
// starts with one of LIVESTACK_IAM_PRINCIPALS (any signed caller when unset).
// LIVESTACK_ALLOW_APIGW_KEYS=1 admits API Gateway API keys in both.
func Auth(getenv func(string) string) httpapi.APIGatewayAuth {
	a := httpapi.APIGatewayAuth{AllowAPIKeys: getenv(EnvAllowGatewayKey) == "1"}
	switch getenv(EnvAuth) {
	case "cognito":
		a.CognitoIssuer, a.CognitoGroup = getenv(EnvCognitoIssuer), getenv(EnvCognitoGroup)
	case "iam":
		a.IAMPrincipals = splitList(getenv(EnvIAMPrincipals))
		if len(a.IAMPrincipals) == 0 {
			a.IAMPrincipals = []string{"arn:"}
		}
	}
	return a
}

// playSigner loads the CloudFront key pair: the PEM private key in the
// Secrets Manager secret LIVESTACK_PLAYBACK_PRIVATE_KEY_SECRET with the id
// LIVESTACK_PLAYBACK_KEY_PAIR_ID, or playauth.FromEnv (LIVESTACK_PLAY_KEY_*).
// None configured: nil (channels requiring signed play get no play URLs).
func playSigner(ctx context.Context, getenv func(string) string, sm ingestfn.SecretsAPI) (*playauth.Signer, error) {
	if arn := getenv(EnvPlayKeySecret); arn != "" {
		id := getenv(EnvPlayKeyPairID)
		if id == "" {
			return nil, fmt.Errorf("play key: %s is not set", EnvPlayKeyPairID)
		}
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
		if err != nil {
			return nil, fmt.Errorf("play key: get secret value: %w", err)
		}
		priv, err := playauth.ParsePrivateKey([]byte(aws.ToString(out.SecretString)))
		if err != nil {
			return nil, fmt.Errorf("play key: %w", err)
		}
		return playauth.NewSigner(id, priv)
	}
	s, _, err := playauth.FromEnv(getenv)
	if errors.Is(err, playauth.ErrNoKey) {
		return nil, nil
	}
	return s, err
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
