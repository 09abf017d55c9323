// Command api is the REST API Lambda (functions/api/apifn): API Gateway REST
// proxy events in, the shared gin engine out.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/livestack/livestack/functions/api/apifn"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := apifn.FromEnv(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("api start", "err", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
