// Command ingestauth is the Lambda that answers the gateways' publish,
// renew and unpublish callbacks (functions/ingestauth/ingestfn).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/livestack/livestack/functions/ingestauth/ingestfn"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := ingestfn.FromEnv(context.Background(), log)
	if err != nil {
		log.Error("ingestauth start", "err", err)
		os.Exit(1)
	}
	lambda.Start(h.Invoke)
}
