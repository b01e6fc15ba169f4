# weft — see README.md. Knobs: PKG (Go packages), T (test name regexp),
# FUZZTIME, ADDR, DATA.
GO       ?= go
PKG      ?= ./...
T        ?= .
FUZZTIME ?= 30s
ADDR     ?= localhost:8080
DATA     ?= ./data
BIN      := bin/weft
UI_DEPS  := editor-web/node_modules/.package-lock.json
E2E_DEPS := testdata/e2e/node_modules/.package-lock.json

.PHONY: all run build ui test test-go test-e2e test-ui lint fmt fuzz bench clean

all: build

## run: build everything and start one node on the embedded default
run: build
	./$(BIN) serve --addr $(ADDR) --data $(DATA)

## build: the editor bundle, then the single weft binary that embeds it
build: ui
	$(GO) build -o $(BIN) ./cmd/weft

$(UI_DEPS): editor-web/package-lock.json
	cd editor-web && npm ci --no-audit --no-fund
	@touch $@

$(E2E_DEPS): testdata/e2e/package-lock.json
	cd testdata/e2e && npm ci --no-audit --no-fund
	@touch $@

## ui: build the browser editor into editor-web/dist
ui: $(UI_DEPS)
	cd editor-web && npm run build

## test: lint, then every test — Go (with -race), the protocol end-to-end suite with
## real automerge-repo clients, and the editor's unit and browser tests
test: build lint test-go test-e2e test-ui

test-go:
	$(GO) test -race -count=1 -timeout 20m -run '$(T)' $(PKG)

test-e2e: build bin/nats-server $(E2E_DEPS)
	cd testdata/e2e && WEFT_BIN=$(abspath $(BIN)) NATS_SERVER_BIN=$(abspath bin/nats-server) npm test

## bin/nats-server: the NATS server of the multi-node tests, built from the module
## version go.mod pins (github.com/nats-io/nats-server/v2)
bin/nats-server: go.mod go.sum
	$(GO) build -o $@ github.com/nats-io/nats-server/v2

test-ui: build
	cd editor-web && npm run test:unit && WEFT_BIN=$(abspath $(BIN)) npm run test:e2e

## lint: gofmt, go vet, the size limits of cmd/weft-lint (600 lines a
## file, 80 a function, 1,500 of package main a command), and no import
## cycle in the editor
lint: $(UI_DEPS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) run ./cmd/weft-lint
	cd editor-web && npm run lint:cycles

fmt:
	gofmt -w $$(git ls-files '*.go')

## fuzz: the wire decoder, client payloads through a real Manager
## (FuzzSession), every parser of client bytes in the server's process
## (FuzzParse), sync messages reaching a worker, tokens, and every HTTP
## input of a running server (API routes included)
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./session
	$(GO) test -run '^$$' -fuzz '^FuzzSession$$' -fuzztime $(FUZZTIME) ./session
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./crdt
	$(GO) test -run '^$$' -fuzz '^FuzzReceive$$' -fuzztime $(FUZZTIME) ./crdt
	$(GO) test -run '^$$' -fuzz '^FuzzToken$$' -fuzztime $(FUZZTIME) ./cmd/weft/internal/auth
	$(GO) test -run '^$$' -fuzz '^FuzzHTTPRequest$$' -fuzztime $(FUZZTIME) ./cmd/weft

## bench: Go benchmarks (figures go in closing notes, not in timed tests)
bench:
	$(GO) test -run '^$$' -bench '$(T)' -benchmem $(PKG)

clean:
	rm -rf bin
	find editor-web/dist -mindepth 1 ! -name .gitkeep -delete

## bench-compare: the same workloads against the reference Node sync server
## and weft (fresh process each, loopback), side by side; see
## cmd/weft-bench/README.md. Knobs: TRACE, BENCH_CHANGES, BENCH_READERS,
## BENCH_CONNS. The editor bundle plays no part, so only the Go binary is built.
TRACE         ?= ../shared/data/automerge-paper.json.gz
BENCH_CHANGES ?= 5000
BENCH_READERS ?= 10
BENCH_CONNS   ?= 1000
REF_DEPS      := testdata/refserver/node_modules/.package-lock.json

$(REF_DEPS): testdata/refserver/package-lock.json
	cd testdata/refserver && npm ci --no-audit --no-fund
	@touch $@

.PHONY: bench-compare
bench-compare: $(REF_DEPS)
	$(GO) build -o $(BIN) ./cmd/weft
	$(GO) build -o bin/weft-bench ./cmd/weft-bench
	./bin/weft-bench --mode compare --weft-bin $(BIN) --refserver testdata/refserver --trace $(TRACE) \
		--changes $(BENCH_CHANGES) --readers $(BENCH_READERS) --window 1000 --typing-changes 2000 --typing-rate 200 \
		--conns $(BENCH_CONNS) --timeout 2m

## cluster: a local cluster — three nats-servers with JetStream on :4222-4224
## (built from the Go module proxy) and three weft nodes on 127.0.0.1:8081-8083,
## data under ./data/cluster
.PHONY: cluster
cluster: build
	WEFT_BIN=$(BIN) GO=$(GO) ./testdata/cluster/run.sh

## bench-cluster: weft-bench --mode cluster: a single bbolt node, two nodes on
## one nats-server (replicas 1) and two nodes on a cluster of three
## nats-servers (replicas 3), each started fresh on loopback: the trace flat
## out and at typing speed (writer on node 1, readers on node 2), and a fresh
## client's first full sync of the whole trace as one document on nodes that
## never saw it; see cmd/weft-bench/README.md. Knobs: TRACE, CLUSTER_CHANGES
## (20000), BENCH_READERS, OPEN_CHANGES (0: the whole trace).
CLUSTER_CHANGES ?= 20000
OPEN_CHANGES    ?= 0

.PHONY: bench-cluster
bench-cluster: bin/nats-server
	$(GO) build -o $(BIN) ./cmd/weft
	$(GO) build -o bin/weft-bench ./cmd/weft-bench
	./bin/weft-bench --mode cluster --weft-bin $(BIN) --nats-bin bin/nats-server --trace $(TRACE) \
		--changes $(CLUSTER_CHANGES) --readers $(BENCH_READERS) --window 1000 --typing-changes 2000 --typing-rate 200 \
		--open-changes $(OPEN_CHANGES) --timeout 2m
