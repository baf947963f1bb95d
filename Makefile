# mcpfort: `make run` starts the embedded default, `make test` runs every
# check CI runs (build, vet, staticcheck, race tests, conformance suites).
GO          ?= go
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN         := bin

.PHONY: all build build-slim run test vet staticcheck unit node-deps test-peers conformance test-cluster bench clean

all: build

build:
	$(GO) build -o $(BIN)/mcpfort ./cmd/mcpfort
	$(GO) build -o $(BIN)/mcpfort-everything ./cmd/mcpfort-everything

# The binary without the AWS, Azure and Google secret backends (about 10 MB
# smaller; env:, file: and vault:// references still work).
build-slim:
	$(GO) build -tags mcpfort_nocloud -o $(BIN)/mcpfort-slim ./cmd/mcpfort

run: build
	$(BIN)/mcpfort serve --config examples/quickstart.yaml

test: build vet staticcheck unit conformance test-cluster

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags mcpfort_nocloud ./app/ ./cmd/...

staticcheck:
	$(STATICCHECK) ./...

# Node 22 and the pinned npm packages the tests drive: the conformance
# suite (also run by the authorization server's conformance test) and the
# MCP clients of the interop suite (interop/: mcp-remote, the MCP
# Inspector). npm ci runs once per lock file.
NODE_DEPS := conformance interop

node-deps:
	@scripts/node22.sh >/dev/null
	@for d in $(NODE_DEPS); do \
		sum=$$(sha256sum $$d/package-lock.json | cut -d' ' -f1); \
		if [ "$$(cat $$d/node_modules/.mcpfort-lock-sha256 2>/dev/null)" != "$$sum" ]; then \
			(cd $$d && PATH="$$(../scripts/node22.sh):$$PATH" npm ci --no-audit --no-fund --loglevel=error) && \
			echo "$$sum" > $$d/node_modules/.mcpfort-lock-sha256 || exit 1; \
		fi; \
	done

# Jaeger, the trace backend of the tracing tests, built from its Go module
# once (scripts/jaeger.sh; the Go build cache keeps rebuilds quick).
test-peers:
	@scripts/jaeger.sh >/dev/null

unit: node-deps test-peers
	$(GO) test -race -timeout 15m ./...
	$(GO) test -tags jsonxcount -run TestScansPerCall ./gateway/
	$(GO) test -tags mcpfort_nocloud -run 'Secret|KEK' ./app/ ./secrets/
	cd resourceserver/examples/gosdk && $(GO) test -race ./...
	cd resourceserver/examples/mcpgo && $(GO) test -race ./...
	cd deploy/test && $(GO) test -timeout 20m ./...

conformance: build
	scripts/conformance-all.sh

# Three replicas of the binary on a private PostgreSQL and Redis behind
# HAProxy, 200 clients, replicas killed and stopped, the stores stopped
# (test/cluster; needs haproxy, redis-server and PostgreSQL's binaries).
test-cluster:
	MCPFORT_CLUSTER=1 $(GO) test -count=1 -v -timeout 10m -run TestClusterUnderFaults ./test/cluster/

bench: build
	scripts/bench.sh

clean:
	rm -rf $(BIN) conformance/results
