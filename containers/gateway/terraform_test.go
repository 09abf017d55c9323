package main

import (
	"os"
	"regexp"
	"testing"

	"github.com/livestack/livestack/functions/ingestauth/ingestfn"
	"github.com/livestack/livestack/shared/store/dynamostore"
)

// The environment the gateway and ingestauth read is the environment
// Terraform gives them.
func TestEnvironmentMatchesTerraform(t *testing.T) {
	tests := []struct {
		file  string
		names []string
	}{
		{"../../terraform/modules/ingest/main.tf", []string{EnvIngestAuthURL, EnvIngestAuthFunction, EnvBucket, EnvEventBus,
			ingestfn.EnvPushKeySecret, dynamostore.EnvTable, "LIVESTACK_RTMP_ADDR", "LIVESTACK_HTTP_ADDR", "AWS_REGION"}},
		{"../../terraform/modules/api/main.tf", []string{ingestfn.EnvEventBus, ingestfn.EnvPushKeySecret, dynamostore.EnvTable}},
	}
	for _, tc := range tests {
		raw, err := os.ReadFile(tc.file)
		if err != nil {
			t.Skip("terraform not present:", err)
		}
		for _, name := range tc.names {
			if !regexp.MustCompile(`\b` + name + `\s*=`).Match(raw) {
				t.Errorf("%s: %s is not set", tc.file, name)
			}
		}
	}
	// The function URL is IAM-authenticated: the gateway must sign (aws.go).
	raw, err := os.ReadFile("../../terraform/modules/api/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?s)resource "aws_lambda_function_url" "ingestauth".*?authorization_type\s*=\s*"AWS_IAM"`).Match(raw) {
		t.Error("the ingestauth function URL is no longer AWS_IAM: revisit the SigV4 signing in containers/gateway/aws.go and docs/events.md")
	}
}
