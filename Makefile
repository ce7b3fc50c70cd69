# gatehouse: `make dev` runs the system on this machine, `make test` runs every test.
# Both work on a fresh machine with Go: they build the tools they need (the atlas
# CLI from source into bin/) and start their own PostgreSQL.

GO       ?= go
BIN      := $(CURDIR)/bin
ATLAS    := $(BIN)/atlas
RIE      := $(BIN)/aws-lambda-rie
GOTESTFLAGS ?= -timeout 30m

.PHONY: all build test check generate dev tools postgres clean

all: build

build:
	$(GO) build -o $(BIN)/gatehouse .

## test: every check and every test, as CI runs them (.ci/run calls this).
test: postgres tools check
	GATEHOUSE_ATLAS_BIN=$(ATLAS) GATEHOUSE_RIE_BIN=$(RIE) $(GO) test $(GOTESTFLAGS) ./...

## check: formatting, vet, and generated files in step with the code.
check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './tools/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@$(GO) tool wire diff . >/dev/null || { echo "wire_gen.go is stale: run 'make generate'"; $(GO) tool wire diff .; exit 1; }

## generate: regenerate wire_gen.go and api/openapi.yaml.
generate:
	$(GO) tool wire gen .
	$(GO) test ./adapters/httpapi -run TestOpenAPIUpToDate -update

## dev: the whole system on this machine (see README, "Try it in five
## minutes"); DEV_FLAGS passes flags, e.g. DEV_FLAGS='--addr 127.0.0.1:9090'.
dev: postgres build
	$(BIN)/gatehouse dev $(DEV_FLAGS)

tools: $(ATLAS) $(RIE)

# The atlas CLI, built from source in its own module (tools/atlas).
$(ATLAS): tools/atlas/go.mod tools/atlas/go.sum
	cd tools/atlas && $(GO) build -o $(ATLAS) ariga.io/atlas/cmd/atlas

# The AWS Lambda Runtime Interface Emulator, built from source in its own module
# (tools/rie): the Lambda entry point's tests run the binary under it.
$(RIE): tools/rie/go.mod tools/rie/go.sum
	cd tools/rie && $(GO) build -o $(RIE) github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie

postgres:
	@scripts/ensure-postgres.sh

## bench: the performance benchmark, written to BENCHMARKS.md (about 15 minutes;
## it starts its own PostgreSQL and gatehouse, and needs pgbench, which comes
## with PostgreSQL's server packages). A quick look:
##   go run ./bench/cmd/gatehouse-bench -duration 2s -concurrency 8
.PHONY: bench
bench: postgres
	$(GO) run ./bench/cmd/gatehouse-bench -out BENCHMARKS.md -command "make bench"

clean:
	rm -rf $(BIN)
