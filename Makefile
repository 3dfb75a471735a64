# Legant build and CI entry points. `make test` is what CI runs (with .ci/run).
GO ?= go
BIN := bin/legant

.PHONY: all build static run run-federation test vet fmt-check unit test-ts test-py test-example conformance e2e bench bench-check clean \
	deploy-check deploy-manifests demos demo-killswitch demo-stolen-token demo-splice demo-budget demo-two-asks demo-honeytool demo-conductor demo-connect demo-four-eyes

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

# `legant demo --federation`: examples/federation/legant.yaml, two demo servers behind one slug.
run-federation: build
	./$(BIN) demo --federation

# test: vet, gofmt, the unit tests with the race detector, then the SDKs in other
# languages (TypeScript, Python) on the shared vectors, then the protect-your-api
# example in all three; fails on any of them.
test: vet fmt-check static unit test-ts test-py test-example

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

# The Python SDK (sdk/python) with Debian's python3 and packages (installed if missing).
test-py:
	scripts/sdk-python-test.sh

# test-example: examples/protect-your-api/run.sh with its Go, Python and TypeScript
# servers (allowed, denied, revoked; about 15 s); --all fails where it would skip
# one. test-ts and test-py install what the other two need (and build the TS SDK).
test-example: test-ts test-py
	examples/protect-your-api/run.sh --all

# conformance: the official MCP conformance suites (0.1.16 and 0.2.0-alpha.12) against go-sdk's
# everything-server (stateful and stateless) and the TypeScript server-everything, each direct and
# through `legant gateway`, and through a virtual server (the everything-server as its only member,
# then beside a second member); one summary line per run (docs/GATEWAY.md, Conformance). Then the
# suite's authorization-server scenarios against the gateway's OAuth issuer, the user's login and
# consent played with curl (docs/AUTHORIZATION.md, Conformance; about 10 s). Then its DPoP client
# scenarios against scripts/dpop-conformance-client (docs/AUTHORIZATION.md; about 10 s). Then its
# client auth scenarios (2025-11-25, 2025-03-26 and 2026-07-28) with `legant gateway` as the OAuth
# client of the suite's server, through scripts/client-auth-conformance-client; fails on a change
# from scripts/client-auth-conformance-baseline.txt (docs/AUTHORIZATION.md; 2.5–4.5 min).
conformance:
	scripts/conformance.sh
	scripts/authz-conformance.sh
	scripts/dpop-conformance.sh
	scripts/client-auth-conformance.sh

# e2e: the console end to end in headless Chromium (Debian's chromium driven by playwright-core
# from npm, both installed when missing) against a real `legant gateway`, plus `legant watch`;
# screenshots to docs/images/console-*.png (docs/CONSOLE.md).
e2e:
	scripts/console-e2e.sh

# bench: the hot-path Go benchmarks, then the load harness (docs/PERFORMANCE.md);
# BENCHFLAGS= for the full run (about 4 minutes), --database-url … for PostgreSQL.
BENCHFLAGS ?= --quick
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./gateway ./cmd/legant/internal/bench ./policy ./authority ./sdk
	./$(BIN) bench $(BENCHFLAGS)

# bench-check: a short harness run that fails when a child gateway's throughput ÷ the bare
# proxy (also a child process) drops below 0.80 at c=16 — a ratio in one run, never a
# wall-clock threshold.
bench-check: build
	./$(BIN) bench --quick --sessions -1 --concurrency 16 --rounds 5 --check-ratio 0.80

# Narrated demos (README, Demo gallery): each starts what it needs in one process on
# loopback, narrates each decision, exits 1 if one is not what it promises; under
# 30 s each. Their tests (go test ./examples/...) run in `make unit`; `make demos` is a
# phase of .ci/run.
DEMOS := killswitch stolen-token splice budget two-asks honeytool conductor connect four-eyes
demos: $(addprefix demo-,$(DEMOS))

$(addprefix demo-,$(DEMOS)): demo-%:
	$(GO) run ./examples/$*

# deploy-check: the Helm chart (deploy/helm/legant) rendered and linted with the Helm Go SDK
# for several values sets, every manifest decoded strictly into its k8s.io/api type,
# deploy/kubernetes up to date, the Grafana dashboard's metrics exported by a real
# `legant gateway`. Offline; a Go module of its own (deploy/chartcheck/go.mod).
deploy-check:
	cd deploy/chartcheck && $(GO) test -count=1 ./...

# deploy-manifests: regenerate deploy/kubernetes/legant.yaml from the chart.
deploy-manifests:
	cd deploy/chartcheck && $(GO) test -count=1 -run TestKubernetesManifestsUpToDate . -update

clean:
	rm -rf bin
