package main

import (
	"context"
	"errors"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/functions/ingestauth/ingestfn"
	"github.com/livestack/livestack/shared/signing"
)

type fakeSecrets struct {
	arn string
	out *secretsmanager.GetSecretValueOutput
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if aws.ToString(in.SecretId) != f.arn {
		return nil, errors.New("ResourceNotFoundException")
	}
	return f.out, nil
}

// The worker reads the push key secret as the gateway and ingestauth do: the
// SecretString (64 letters and digits, not hex) is the key, so a rendition's
// push URL signed by the worker verifies at the gateway.
func TestPushKeyFromSecret(t *testing.T) {
	const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:livestack/push-key-AbCdEf"
	const secret = "k9F2mQ7xR4tV8wZ1nB6cD3eG5hJ0pL2sU7yA9qW4rT6vX8zC1bN3mK5jH7gF0dS2"
	env := map[string]string{"LIVESTACK_PUSH_KEY_SECRET": arn}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		name string
		out  *secretsmanager.GetSecretValueOutput
		want string // error; empty: the key is secret
	}{
		{"string", &secretsmanager.GetSecretValueOutput{SecretString: aws.String(secret + "\n")}, ""},
		{"binary", &secretsmanager.GetSecretValueOutput{SecretBinary: []byte(secret)}, ""},
		{"empty", &secretsmanager.GetSecretValueOutput{SecretString: aws.String("")}, "0 bytes"},
		{"short", &secretsmanager.GetSecretValueOutput{SecretString: aws.String("abcd")}, "4 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sm := &fakeSecrets{arn: arn, out: tc.out}
			key, err := pushKeyFrom(context.Background(), getenv, func(context.Context) (secretsAPI, error) { return sm, nil })
			if tc.want != "" {
				require.ErrorContains(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			require.Equal(t, []byte(secret), key)

			// The gateway side: ingestfn.LoadPushKey over the same secret.
			t.Setenv(ingestfn.EnvPushKey, "")
			t.Setenv(ingestfn.EnvPushKeySecret, arn)
			gwKey, err := ingestfn.LoadPushKey(context.Background(), sm)
			require.NoError(t, err)
			worker, err := signing.New(key)
			require.NoError(t, err)
			gateway, err := signing.New(gwKey)
			require.NoError(t, err)
			require.Equal(t, gateway.Sign("demo/360p", time.Unix(1_900_000_000, 0)), worker.Sign("demo/360p", time.Unix(1_900_000_000, 0)))
		})
	}

	_, err := pushKeyFrom(context.Background(), getenv, func(context.Context) (secretsAPI, error) {
		return &fakeSecrets{arn: "other"}, nil
	})
	require.ErrorContains(t, err, "push key secret")
}

// The environment the worker reads from its task definition is the one
// terraform/modules/processing gives it (the stream itself comes as RunTask
// overrides from the scheduler).
func TestEnvironmentMatchesTerraform(t *testing.T) {
	raw, err := os.ReadFile("../../terraform/modules/processing/main.tf")
	if err != nil {
		t.Skip("terraform not present:", err)
	}
	for _, name := range []string{"LIVESTACK_PUSH_KEY_SECRET", "LIVESTACK_TABLE", "AWS_REGION"} {
		if !regexp.MustCompile(`\b` + name + `\s*=`).Match(raw) {
			t.Errorf("terraform/modules/processing/main.tf: %s is not set", name)
		}
	}
}
