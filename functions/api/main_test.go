package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/functions/api/apifn"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store/dynamostore"
)

// startDynalite runs scripts/emulators/dynalite.js on an ephemeral port (as
// the dynamostore tests do) and returns its endpoint. Without node or
// dynalite the test is skipped, or fails under LIVESTACK_E2E=1.
func startDynalite(t *testing.T) string {
	t.Helper()
	skip := func(why string) {
		if os.Getenv("LIVESTACK_E2E") == "1" {
			t.Fatalf("LIVESTACK_E2E=1 but %s", why)
		}
		t.Skip(why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("node is not installed")
	}
	dir, err := filepath.Abs("../../scripts/emulators")
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "dynalite", "package.json")); err != nil {
		skip("dynalite is not installed (run scripts/install-test-deps.sh)")
	}
	cmd := exec.Command(node, filepath.Join(dir, "dynalite.js"), "--createTableMs", "50")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close() // the wrapper exits when its stdin closes
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-lines:
		port, ok := strings.CutPrefix(line, "dynalite listening on ")
		require.True(t, ok, "dynalite said %q", line)
		return "http://127.0.0.1:" + port
	case <-time.After(20 * time.Second):
		t.Fatal("dynalite did not start within 20 s")
	}
	return ""
}

func loadEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// invoke runs an event through the Lambda's JSON path.
func invoke(t *testing.T, h *apifn.Handler, event []byte) events.APIGatewayProxyResponse {
	t.Helper()
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), event)
	require.NoError(t, err)
	var resp events.APIGatewayProxyResponse
	require.NoError(t, json.Unmarshal(out, &resp))
	return resp
}

// TestAPIGatewayEvents drives the api Lambda, built by FromEnv as in
// production, with real API Gateway REST proxy events against dynalite.
func TestAPIGatewayEvents(t *testing.T) {
	endpoint := startDynalite(t)
	ctx := context.Background()
	client := dynamodb.NewFromConfig(aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("t", "t", "")},
		func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	table := fmt.Sprintf("livestack-api-test-%d", os.Getpid())
	require.NoError(t, dynamostore.EnsureTable(ctx, client, table))
	pushKey := strings.Repeat("ab", 32)
	for k, v := range map[string]string{
		"LIVESTACK_TABLE": table, "AWS_REGION": "eu-west-1", "LIVESTACK_DYNAMODB_ENDPOINT": endpoint,
		"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t",
		"LIVESTACK_PUSH_KEY": pushKey, "LIVESTACK_PUSH_BASE_URL": "rtmp://live.example.com:1935",
		"LIVESTACK_PLAYBACK_BASE_URL": "https://d111111abcdef8.cloudfront.net",
		"LIVESTACK_AUTH":              "cognito", "LIVESTACK_COGNITO_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI",
		"LIVESTACK_COGNITO_GROUP": "admins", "LIVESTACK_PUSH_KEY_SECRET": "", "LIVESTACK_BUCKET": "",
		"LIVESTACK_PLAYBACK_PRIVATE_KEY_SECRET": "", "LIVESTACK_PLAY_KEY_PRIVATE": "", "LIVESTACK_PLAY_KEY_PUBLIC": "",
	} {
		t.Setenv(k, v)
	}
	h, err := apifn.FromEnv(ctx, os.Getenv, slog.New(slog.DiscardHandler))
	require.NoError(t, err)

	// The users' curl request, as API Gateway hands it over.
	resp := invoke(t, h, loadEvent(t, "post-videostream.json"))
	require.Equal(t, 201, resp.StatusCode, resp.Body)
	var rec struct {
		ID, Key, PushURL string `json:"-"`
	}
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &m))
	rec.ID, _ = m["id"].(string)
	rec.Key, _ = m["key"].(string)
	rec.PushURL, _ = m["pushUrl"].(string)
	require.Equal(t, "rtmp://live.example.com:1935/stream/"+rec.ID+"?sign="+rec.Key, rec.PushURL)
	require.Equal(t, "https://d111111abcdef8.cloudfront.net/"+rec.ID+"/live.flv", m["flvUrl"])
	key, err := hex.DecodeString(pushKey)
	require.NoError(t, err)
	signer, err := signing.New(key)
	require.NoError(t, err)
	require.NoError(t, signer.Verify(rec.ID, rec.Key, time.Now()), "the push URL is signed with the platform key")

	// Stored in DynamoDB: the list shows it, without its push signature.
	resp = invoke(t, h, loadEvent(t, "get-channels.json"))
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	require.Contains(t, resp.Body, `"id":"`+rec.ID+`"`)
	require.Contains(t, resp.Body, `"hlsListSize":5`)
	require.NotContains(t, resp.Body, rec.Key)
	require.Equal(t, []string{"application/json; charset=utf-8"}, resp.MultiValueHeaders["Content-Type"])

	// Settings live in DynamoDB too: the play domain moves the URLs.
	call := func(method, path, body string) events.APIGatewayProxyResponse {
		var ev map[string]any
		require.NoError(t, json.Unmarshal(loadEvent(t, "get-channels.json"), &ev))
		ev["httpMethod"], ev["path"], ev["resource"], ev["queryStringParameters"], ev["multiValueQueryStringParameters"] = method, path, "/api/v1/{proxy+}", nil, nil
		if body != "" {
			ev["body"] = body
		}
		b, _ := json.Marshal(ev)
		return invoke(t, h, b)
	}
	resp = call("PUT", "/api/v1/domains", `{"play":"https://play.example.com"}`)
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	resp = call("GET", "/api/v1/channels/"+rec.ID+"/urls", "")
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	require.Contains(t, resp.Body, `"flv":"https://play.example.com/`+rec.ID+`/live.flv"`)
	resp = call("PUT", "/api/v1/templates/360p", `{"name":"流畅","width":640,"height":360,"videoKbps":500,"audioKbps":64}`)
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	resp = call("GET", "/api/v1/templates/360p", "")
	require.Contains(t, resp.Body, `"videoKbps":500`)

	// The Lambda checks the caller itself.
	for _, ev := range []string{"get-channels-anonymous.json", "get-channels-other-pool.json"} {
		resp = invoke(t, h, loadEvent(t, ev))
		require.Equal(t, 401, resp.StatusCode, ev)
		require.JSONEq(t, `{"error":{"code":"unauthorized","message":"a valid bearer token is required"}}`, resp.Body)
	}

	// A console user creates an API key; automation then calls with it as a bearer token.
	var ev map[string]any
	require.NoError(t, json.Unmarshal(loadEvent(t, "post-videostream.json"), &ev))
	ev["path"], ev["resource"], ev["body"] = "/api/v1/keys", "/api/v1/{proxy+}", `{"name":"ci"}`
	b, _ := json.Marshal(ev)
	resp = invoke(t, h, b)
	require.Equal(t, 201, resp.StatusCode, resp.Body)
	var created struct{ Secret string }
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &created))
	require.NoError(t, json.Unmarshal(loadEvent(t, "get-channels-anonymous.json"), &ev))
	ev["headers"].(map[string]any)["Authorization"] = "Bearer " + created.Secret
	ev["multiValueHeaders"].(map[string]any)["Authorization"] = []string{"Bearer " + created.Secret}
	b, _ = json.Marshal(ev)
	resp = invoke(t, h, b)
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	require.Contains(t, resp.Body, rec.ID)
}
