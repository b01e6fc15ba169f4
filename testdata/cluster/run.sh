#!/bin/sh
# Runs a local weft cluster: one nats-server on 127.0.0.1:4222 (built from
# the Go module proxy at the version go.mod pins) and three weft nodes on
# 127.0.0.1:8081-8083, each with its own data directory under $CLUSTER_DATA
# (default ./data/cluster). Ctrl-C stops everything. Used by "make cluster".
#
# Knobs: WEFT_BIN (default bin/weft), NATS_BIN (default bin/nats-server),
# NATS_PORT (4222), BASE_PORT (8080: nodes on BASE_PORT+1..+3), CLUSTER_DATA.
set -eu
cd "$(dirname "$0")/../.."
WEFT_BIN=${WEFT_BIN:-bin/weft}
NATS_BIN=${NATS_BIN:-bin/nats-server}
NATS_PORT=${NATS_PORT:-4222}
BASE_PORT=${BASE_PORT:-8080}
CLUSTER_DATA=${CLUSTER_DATA:-./data/cluster}
GO=${GO:-go}

if [ ! -x "$WEFT_BIN" ]; then
	"$GO" build -o "$WEFT_BIN" ./cmd/weft
fi
if [ ! -x "$NATS_BIN" ]; then
	echo "building nats-server (github.com/nats-io/nats-server/v2, as pinned in go.mod) into $NATS_BIN"
	"$GO" build -o "$NATS_BIN" github.com/nats-io/nats-server/v2
fi

pids=""
cleanup() {
	trap - INT TERM EXIT
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

"$NATS_BIN" -a 127.0.0.1 -p "$NATS_PORT" &
pids="$pids $!"
sleep 0.5

for i in 1 2 3; do
	mkdir -p "$CLUSTER_DATA/node$i"
	"$WEFT_BIN" serve --addr "127.0.0.1:$((BASE_PORT + i))" --data "$CLUSTER_DATA/node$i" \
		--nats "nats://127.0.0.1:$NATS_PORT" --node-id "node$i" &
	pids="$pids $!"
done
echo "weft cluster: http://127.0.0.1:$((BASE_PORT + 1)) http://127.0.0.1:$((BASE_PORT + 2)) http://127.0.0.1:$((BASE_PORT + 3)) (NATS on :$NATS_PORT); Ctrl-C stops it"
wait
