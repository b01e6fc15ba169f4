#!/bin/sh
# Runs a local weft cluster: three nats-servers with JetStream clustered
# together (built from the Go module proxy at the version go.mod pins;
# clients on 127.0.0.1:4222-4224, routes on 6222-6224, monitoring on
# 8222-8224, JetStream stores in $CLUSTER_DATA/nats1..3) and three weft
# nodes on 127.0.0.1:8081-8083 (data directories $CLUSTER_DATA/node1..3),
# each given all three NATS URLs. Documents live in JetStream, 3 replicas.
# $CLUSTER_DATA defaults to ./data/cluster. Ctrl-C stops everything. Used by
# "make cluster".
#
# Knobs: WEFT_BIN (default bin/weft), NATS_BIN (default bin/nats-server),
# NATS_PORT (4222: clients on NATS_PORT..+2), ROUTE_PORT (6222),
# MONITOR_PORT (8222), BASE_PORT (8080: nodes on BASE_PORT+1..+3),
# CLUSTER_DATA.
set -eu
cd "$(dirname "$0")/../.."
WEFT_BIN=${WEFT_BIN:-bin/weft}
NATS_BIN=${NATS_BIN:-bin/nats-server}
NATS_PORT=${NATS_PORT:-4222}
ROUTE_PORT=${ROUTE_PORT:-6222}
MONITOR_PORT=${MONITOR_PORT:-8222}
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

natspids=""
weftpids=""
# The weft nodes stop first (they flush to JetStream), then the nats-servers.
cleanup() {
	trap - INT TERM EXIT
	for p in $weftpids; do kill "$p" 2>/dev/null || true; done
	for p in $weftpids; do wait "$p" 2>/dev/null || true; done
	for p in $natspids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

urls=""
for i in 1 2 3; do
	urls="$urls${urls:+,}nats://127.0.0.1:$((NATS_PORT + i - 1))"
done
for i in 1 2 3; do
	routes=""
	for j in 1 2 3; do
		[ "$j" = "$i" ] || routes="$routes${routes:+,}nats://127.0.0.1:$((ROUTE_PORT + j - 1))"
	done
	mkdir -p "$CLUSTER_DATA/nats$i"
	"$NATS_BIN" -a 127.0.0.1 -p "$((NATS_PORT + i - 1))" -m "$((MONITOR_PORT + i - 1))" \
		-js -sd "$CLUSTER_DATA/nats$i" --server_name "n$i" --cluster_name weft-local \
		--cluster "nats://127.0.0.1:$((ROUTE_PORT + i - 1))" --routes "$routes" &
	natspids="$natspids $!"
done

# JetStream is ready once every server's /healthz answers 200 and the meta
# leader has heard from both others (before that, streams with 3 replicas
# cannot be placed and weft would cap its replicas).
ready() {
	for i in 1 2 3; do
		curl -sf "http://127.0.0.1:$((MONITOR_PORT + i - 1))/healthz" >/dev/null || return 1
	done
	for i in 1 2 3; do
		curl -sf "http://127.0.0.1:$((MONITOR_PORT + i - 1))/jsz" | tr -d ' \n' |
			grep -q "\"leader\":\"n$i\".*\"replicas\":\[{[^]]*\"current\":true[^]]*\"current\":true" && return 0
	done
	return 1
}
n=0
until ready; do
	n=$((n + 1))
	if [ "$n" -gt 150 ]; then
		echo "the NATS cluster did not get JetStream ready within 30s" >&2
		exit 1
	fi
	sleep 0.2
done

node_ready() {
	n=0
	until curl -sf "http://127.0.0.1:$((BASE_PORT + $1))/readyz" >/dev/null; do
		n=$((n + 1))
		if [ "$n" -gt 300 ]; then
			echo "weft node$1 did not get ready within 60s" >&2
			exit 1
		fi
		sleep 0.2
	done
}
# The first node creates the streams and buckets; the others find them.
for i in 1 2 3; do
	mkdir -p "$CLUSTER_DATA/node$i"
	"$WEFT_BIN" serve --addr "127.0.0.1:$((BASE_PORT + i))" --data "$CLUSTER_DATA/node$i" \
		--nats "$urls" --node-id "node$i" &
	weftpids="$weftpids $!"
	[ "$i" != 1 ] || node_ready 1
done
node_ready 2
node_ready 3
echo "weft cluster: http://127.0.0.1:$((BASE_PORT + 1)) http://127.0.0.1:$((BASE_PORT + 2)) http://127.0.0.1:$((BASE_PORT + 3)) (NATS with JetStream: $urls); Ctrl-C stops it"
wait
