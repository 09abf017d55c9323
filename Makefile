# livestack — see README.md. `make run` and `make test` are the two commands.
GO        ?= go
BIN       ?= bin
STATICCHECK_VERSION ?= v0.8.2
# Every fuzz target runs this long in `make fuzz`.
FUZZTIME  ?= 2m

.PHONY: run build test test-deps unit lint fuzz bench loadtest images lambdas terraform-check clean

## run: build and start the standalone platform with a demo channel (ports :1935, :8080; override with LIVESTACK_* env vars)
run: build
	$(BIN)/standalone --demo

## build: compile every container binary into ./bin
build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -o $(BIN)/ ./containers/...

## test: install what the tests need (ffmpeg, npm packages, emulators) and run every test with -race
test: test-deps
	bash scripts/test.sh

test-deps:
	bash scripts/install-test-deps.sh

## unit: the Go tests only, without installing anything (end-to-end tests skip without ffmpeg)
unit:
	$(GO) test -race -count=1 ./...

## lint: go vet and staticcheck (staticcheck.conf)
lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## fuzz: run every fuzz target for FUZZTIME
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

## bench: hot-path benchmarks (hub fan-out, FLV writes); compare runs with benchstat
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=6 ./shared/media/... ./shared/playback/ | tee bench.txt

## loadtest: the viewer load harness against a freshly built standalone (see docs/performance.md)
loadtest:
	bash scripts/loadtest.sh $(ARGS)

## images: container images (needs a Docker engine; IMAGE_TAG, IMAGE_PLATFORM, IMAGE_PUSH optional)
images:
	bash scripts/images.sh $(IMAGES)

## lambdas: build/lambdas/{api,ingestauth,scheduler}.zip for Terraform
lambdas:
	bash scripts/lambdas.sh $(FUNCTIONS)

## terraform-check: terraform fmt -check, then the Go structure tests of terraform/
terraform-check:
	bash scripts/terraform-check.sh

clean:
	rm -rf $(BIN) bench.txt
