# Legant build and CI entry points. `make test` is what CI runs (with .ci/run).
GO ?= go
BIN := bin/legant

.PHONY: all build static run test vet fmt-check unit test-ts conformance bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/legant

# static: the binary the Dockerfile builds (CGO off, -trimpath, version
# stamped), run once; CI cannot pull base images, so it checks this instead.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
static:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/legant-static ./cmd/legant
	./bin/legant-static version | grep -F "legant $(VERSION) "

# `legant demo` starts the gateway in front of an embedded demo upstream, zero config.
run: build
	./$(BIN) demo

# test: vet, gofmt, the unit tests with the race detector, then the TypeScript
# SDK's suite; fails on any of them.
test: vet fmt-check static unit test-ts

vet:
	$(GO) vet ./...

# Every Go file git would commit (tracked, or untracked and not ignored), but vendor/.
fmt-check:
	scripts/check-gofmt.sh

unit:
	$(GO) test -race -count=1 ./...

# test-ts: the TypeScript SDK (sdk/typescript) on Node 22: npm ci, tsc, node --test.
test-ts:
	scripts/sdk-typescript-test.sh

conformance:
	scripts/conformance.sh

# bench: the hot-path Go benchmarks, then the load harness (docs/PERFORMANCE.md);
# BENCHFLAGS= for the full run (about 4 minutes), --database-url … for PostgreSQL.
BENCHFLAGS ?= --quick
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./gateway ./cmd/legant/internal/bench ./policy ./authority ./sdk
	./$(BIN) bench $(BENCHFLAGS)

clean:
	rm -rf bin
