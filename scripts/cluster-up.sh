#!/usr/bin/env bash
# A local Quiver cluster: N nodes on loopback addresses 127.0.0.1 .. 127.0.0.N, each on Qdrant's
# usual ports (REST 6333, gRPC 6334, p2p 6335), storage under $DATA/node-<i>. The first node forms
# the cluster; the others join it with --bootstrap.
#
#   scripts/cluster-up.sh [up]     start (N=3 by default; QUIVER_BIN=target/debug/quiver)
#   scripts/cluster-up.sh down     stop the nodes this script started (SIGTERM, then SIGKILL)
#   scripts/cluster-up.sh status   GET /cluster on every node
#
# Environment: N, DATA (default ./cluster-data), QUIVER_BIN, QUIVER_LOG, TICK_MS (raft heartbeat).
# `up` builds the binary when QUIVER_BIN is unset and waits until every node is ready.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-3}
DATA=${DATA:-$PWD/cluster-data}
action=${1:-up}

hosts() { for i in $(seq 1 "$N"); do echo "127.0.0.$i"; done; }

case "$action" in
up)
  if [ -z "${QUIVER_BIN:-}" ]; then
    cargo build -q -p quiver-server
    QUIVER_BIN=$PWD/target/debug/quiver
  fi
  mkdir -p "$DATA"
  i=0
  for h in $(hosts); do
    i=$((i + 1))
    dir="$DATA/node-$i"
    mkdir -p "$dir"
    args=(--uri "http://$h:6335")
    [ "$i" -gt 1 ] && args+=(--bootstrap "http://127.0.0.1:6335")
    QUIVER__STORAGE__PATH="$dir/storage" QUIVER__SERVICE__HOST="$h" \
      QUIVER__CLUSTER__CONSENSUS__TICK_PERIOD_MS="${TICK_MS:-100}" QUIVER_LOG="${QUIVER_LOG:-info}" \
      "$QUIVER_BIN" "${args[@]}" >"$dir/stdout.log" 2>"$dir/stderr.log" &
    echo $! >"$dir/pid"
    # Wait for this node before starting the next, so each joins a cluster that has a leader.
    for _ in $(seq 300); do
      if curl -sf "http://$h:6333/readyz" >/dev/null 2>&1; then break; fi
      if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        echo "node $i ($h) exited; its log:" >&2
        tail -20 "$dir/stderr.log" >&2
        exit 1
      fi
      sleep 0.1
    done
    curl -sf "http://$h:6333/readyz" >/dev/null || { echo "node $i ($h) not ready" >&2; exit 1; }
    echo "node $i: http://$h:6333 (gRPC $h:6334, p2p $h:6335), pid $(cat "$dir/pid")"
  done
  ;;
down)
  for pidfile in "$DATA"/node-*/pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  ;;
status)
  for h in $(hosts); do
    echo "$h: $(curl -s "http://$h:6333/cluster")"
  done
  ;;
*)
  echo "usage: $0 [up|down|status]" >&2
  exit 2
  ;;
esac
