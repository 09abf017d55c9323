package dynamostore

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"
)

// The tests share one dynalite process (scripts/emulators/dynalite.js),
// started on first use on an ephemeral port and stopped by TestMain. Each
// store gets its own table.

var emulator struct {
	once     sync.Once
	endpoint string
	err      error
	skip     string
	cmd      *exec.Cmd
	stdin    io.WriteCloser
}

var tableSeq atomic.Int64

func TestMain(m *testing.M) {
	code := m.Run()
	if emulator.cmd != nil {
		_ = emulator.stdin.Close() // the wrapper exits when its stdin closes
		done := make(chan struct{})
		go func() { _ = emulator.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = emulator.cmd.Process.Kill()
		}
	}
	os.Exit(code)
}

// repoRoot walks up from the package directory to the module root.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the test directory")
		}
		dir = parent
	}
}

func startEmulator() {
	node, err := exec.LookPath("node")
	if err != nil {
		emulator.skip = "node is not installed"
		return
	}
	root, err := repoRoot()
	if err != nil {
		emulator.err = err
		return
	}
	dir := filepath.Join(root, "scripts", "emulators")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "dynalite", "package.json")); err != nil {
		emulator.skip = "dynalite is not installed (run scripts/install-test-deps.sh)"
		return
	}
	cmd := exec.Command(node, filepath.Join(dir, "dynalite.js"), "--createTableMs", "50")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		emulator.err = err
		return
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		emulator.err = err
		return
	}
	if err := cmd.Start(); err != nil {
		emulator.err = fmt.Errorf("start dynalite: %w", err)
		return
	}
	emulator.cmd, emulator.stdin = cmd, stdin
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
	case line, ok := <-lines:
		port, found := strings.CutPrefix(line, "dynalite listening on ")
		if !ok || !found {
			emulator.err = fmt.Errorf("dynalite did not start (first line %q)", line)
			return
		}
		emulator.endpoint = "http://127.0.0.1:" + port
	case <-time.After(20 * time.Second):
		emulator.err = fmt.Errorf("dynalite did not start within 20 s")
		return
	}
	// Wait until it answers requests.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := newClient(emulator.endpoint)
	for {
		_, err := client.ListTables(ctx, &dynamodb.ListTablesInput{})
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			emulator.err = fmt.Errorf("dynalite does not answer: %w", err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newClient returns a DynamoDB client for the emulator at endpoint, with
// static credentials.
func newClient(endpoint string) *dynamodb.Client {
	cfg := aws.Config{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	})
}

// needDynalite returns the endpoint of the shared emulator. Without node or
// dynalite the test is skipped, or fails when LIVESTACK_E2E=1.
func needDynalite(t *testing.T) string {
	t.Helper()
	emulator.once.Do(startEmulator)
	if emulator.skip != "" {
		if os.Getenv("LIVESTACK_E2E") == "1" {
			t.Fatalf("LIVESTACK_E2E=1 but %s", emulator.skip)
		}
		t.Skip(emulator.skip)
	}
	require.NoError(t, emulator.err)
	return emulator.endpoint
}

// newTable creates a fresh table with the Terraform layout and returns its
// name and a client for it.
func newTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	endpoint := needDynalite(t)
	client := newClient(endpoint)
	name := fmt.Sprintf("livestack-test-%d-%d", os.Getpid(), tableSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, EnsureTable(ctx, client, name))
	return client, name
}

// newTestStore returns a store on a fresh table.
func newTestStore(t *testing.T) *Store {
	t.Helper()
	client, table := newTable(t)
	s, err := New(t.Context(), Config{Table: table, Client: client})
	require.NoError(t, err)
	return s
}
