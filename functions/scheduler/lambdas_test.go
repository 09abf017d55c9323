package main

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `make lambdas` (scripts/lambdas.sh) builds one zip per function holding a
// single executable `bootstrap`: a static linux/arm64 ELF for provided.al2023,
// built with -tags lambda.norpc.
func TestMakeLambdas(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function for arm64")
	}
	for _, tool := range []string{"bash", "zip"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("LIVESTACK_E2E") == "1" {
				t.Fatalf("%s is required: %v", tool, err)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "lambdas.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "LAMBDAS_OUT_DIR="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lambdas.sh: %v\n%s", err, b)
	}
	want := []string{"ingestauth", "scheduler"}
	// functions/api is another part's; when it exists, it must be built too.
	if _, err := os.Stat(filepath.Join(root, "functions", "api", "main.go")); err == nil {
		want = append(want, "api")
	}
	for _, name := range want {
		t.Run(name, func(t *testing.T) {
			zr, err := zip.OpenReader(filepath.Join(out, name+".zip"))
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" {
				var names []string
				for _, f := range zr.File {
					names = append(names, f.Name)
				}
				t.Fatalf("zip holds %v, want only bootstrap", names)
			}
			f := zr.File[0]
			if f.Mode()&0o111 == 0 {
				t.Errorf("bootstrap mode %v is not executable", f.Mode())
			}
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			ef, err := elf.NewFile(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("bootstrap is not ELF: %v", err)
			}
			if ef.Machine != elf.EM_AARCH64 || ef.Class != elf.ELFCLASS64 || ef.Type != elf.ET_EXEC {
				t.Errorf("bootstrap is %v %v %v, want a 64-bit arm64 executable", ef.Machine, ef.Class, ef.Type)
			}
			for _, p := range ef.Progs {
				if p.Type == elf.PT_INTERP {
					t.Error("bootstrap is dynamically linked (CGO_ENABLED=0 expected)")
				}
			}
			// lambda.norpc drops the net/rpc entry point provided.al2023 never uses.
			if bytes.Contains(data, []byte("net/rpc.(*Server)")) {
				t.Error("bootstrap contains net/rpc: built without -tags lambda.norpc")
			}
			if !bytes.Contains(data, []byte("aws-lambda-go/lambda")) {
				t.Error("bootstrap does not contain the Lambda runtime client")
			}
		})
	}
	// A named function that does not exist is an error, not a silent skip.
	cmd = exec.Command("bash", filepath.Join(root, "scripts", "lambdas.sh"), "no-such-function")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "LAMBDAS_OUT_DIR="+out)
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "no-such-function") {
		t.Errorf("missing function: err %v, output %s", err, b)
	}
}
