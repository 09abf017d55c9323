// Package dynalitetest starts one dynalite process (the DynamoDB emulator of
// scripts/emulators) for the tests of a package and gives each test a fresh
// table with the Terraform layout. Without node or dynalite a test is
// skipped, or fails when LIVESTACK_E2E=1 (scripts/test.sh sets it).
//
// Call Stop from the package's TestMain after m.Run.
package dynalitetest

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

	"github.com/livestack/livestack/shared/store/dynamostore"
)

// Emulator is one dynalite process.
type Emulator struct {
	once     sync.Once
	endpoint string
	err      error
	skip     string
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	seq      atomic.Int64
}

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

func (e *Emulator) start() {
	node, err := exec.LookPath("node")
	if err != nil {
		e.skip = "node is not installed"
		return
	}
	root, err := repoRoot()
	if err != nil {
		e.err = err
		return
	}
	dir := filepath.Join(root, "scripts", "emulators")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "dynalite", "package.json")); err != nil {
		e.skip = "dynalite is not installed (run scripts/install-test-deps.sh)"
		return
	}
	cmd := exec.Command(node, filepath.Join(dir, "dynalite.js"), "--createTableMs", "50")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		e.err = err
		return
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.err = err
		return
	}
	if err := cmd.Start(); err != nil {
		e.err = fmt.Errorf("start dynalite: %w", err)
		return
	}
	e.cmd, e.stdin = cmd, stdin
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
			e.err = fmt.Errorf("dynalite did not start (first line %q)", line)
			return
		}
		e.endpoint = "http://127.0.0.1:" + port
	case <-time.After(20 * time.Second):
		e.err = fmt.Errorf("dynalite did not start within 20 s")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := Client(e.endpoint)
	for {
		if _, err := client.ListTables(ctx, &dynamodb.ListTablesInput{}); err == nil {
			return
		} else if ctx.Err() != nil {
			e.err = fmt.Errorf("dynalite does not answer: %w", err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Client returns a DynamoDB client for endpoint with static credentials.
func Client(endpoint string) *dynamodb.Client {
	return dynamodb.NewFromConfig(aws.Config{
		Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// Endpoint starts the emulator on first use and returns its URL.
func (e *Emulator) Endpoint(t testing.TB) string {
	t.Helper()
	e.once.Do(e.start)
	if e.skip != "" {
		if os.Getenv("LIVESTACK_E2E") == "1" {
			t.Fatalf("LIVESTACK_E2E=1 but %s", e.skip)
		}
		t.Skip(e.skip)
	}
	if e.err != nil {
		t.Fatal(e.err)
	}
	return e.endpoint
}

// Table creates a fresh table and returns the endpoint and the table name.
func (e *Emulator) Table(t testing.TB) (endpoint, table string) {
	t.Helper()
	endpoint = e.Endpoint(t)
	table = fmt.Sprintf("livestack-fn-%d-%d", os.Getpid(), e.seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dynamostore.EnsureTable(ctx, Client(endpoint), table); err != nil {
		t.Fatal(err)
	}
	return endpoint, table
}

// Stop ends the emulator, if it was started.
func (e *Emulator) Stop() {
	if e.cmd == nil {
		return
	}
	_ = e.stdin.Close() // the wrapper exits when its stdin closes
	done := make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = e.cmd.Process.Kill()
	}
}
