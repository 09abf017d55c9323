// Command scheduler is the Lambda that starts and stops worker ECS tasks on
// stream events and restarts workers that die while their stream is live
// (functions/scheduler/schedfn).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/livestack/livestack/functions/scheduler/schedfn"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := schedfn.FromEnv(context.Background(), log)
	if err != nil {
		log.Error("scheduler start", "err", err)
		os.Exit(1)
	}
	lambda.Start(h.Invoke)
}
