package ingestfn

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/livestack/livestack/shared/events"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store/dynamostore"
)

// EnvEventBus names the EventBridge bus (terraform/modules/api).
const EnvEventBus = "LIVESTACK_EVENT_BUS"

// FromEnv builds the handler from the function's environment:
// LIVESTACK_TABLE (dynamostore.FromEnv), LIVESTACK_EVENT_BUS and the push key
// (LIVESTACK_PUSH_KEY_SECRET). AWS endpoints follow the SDK's usual settings
// (AWS_REGION, AWS_ENDPOINT_URL_*), which is how tests reach emulators.
func FromEnv(ctx context.Context, log *slog.Logger) (*Handler, error) {
	bus := os.Getenv(EnvEventBus)
	if bus == "" {
		return nil, fmt.Errorf("ingestauth: %s is not set", EnvEventBus)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("ingestauth: aws config: %w", err)
	}
	st, err := dynamostore.FromEnv(ctx)
	if err != nil {
		return nil, fmt.Errorf("ingestauth: %w", err)
	}
	key, err := LoadPushKey(ctx, secretsmanager.NewFromConfig(awsCfg))
	if err != nil {
		return nil, fmt.Errorf("ingestauth: %w", err)
	}
	signer, err := signing.New(key)
	if err != nil {
		return nil, fmt.Errorf("ingestauth: %w", err)
	}
	return &Handler{
		Auth: &ingest.Local{Store: st, Signer: signer},
		Events: &events.EventBridge{Client: eventbridge.NewFromConfig(awsCfg), Bus: bus,
			Source: events.SourceIngestAuth, Logger: log},
		Secret: CallbackSecret(key),
		Logger: log,
	}, nil
}
