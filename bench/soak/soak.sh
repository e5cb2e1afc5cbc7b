#!/usr/bin/env bash
# bench/soak/soak.sh [-d DURATION] [-o OUT.tsv] [soak flags...]
# Builds dally and the soak client from this tree, starts `dally serve` (the
# demo site) on loopback, runs mixed load for DURATION (default 30m) while
# sampling the server's RSS, threads and descriptors, then stops the server
# (by its PID). Goroutines are read from the admin listener's /metrics
# when this dally has one. The soak client prints a summary: the server
# before the load, the first sample, the medians of the second and the
# last fifth, and a sample 35 s after the load (-settle).
# DALLY_BIN=path uses that server binary instead of building cmd/dally.
#
#   bench/soak/soak.sh              # the 30-minute run
#   bench/soak/soak.sh -d 5m        # a short one
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dur=30m
out=
args=()
while [ $# -gt 0 ]; do
  case $1 in
    -d) dur=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
tmp=$(mktemp -d)
out=${out:-$root/bench/out/soak-$(date -u +%Y%m%dT%H%M%S).tsv}
mkdir -p "$(dirname "$out")"
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ -n "${DALLY_BIN:-}" ]; then cp "$DALLY_BIN" "$tmp/dally"; else (cd "$root" && go build -o "$tmp/dally" ./cmd/dally); fi
(cd "$root/bench" && go build -o "$tmp/soak" ./soak)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
# Goroutines come from the admin listener's /metrics (go_goroutines) when
# this dally has one.
admin=() metrics=()
if "$tmp/dally" serve -h 2>&1 | grep -q -- '-admin'; then
  aport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  admin=(-admin "127.0.0.1:$aport")
  metrics=(-metrics "http://127.0.0.1:$aport/metrics")
fi
"$tmp/dally" serve -listen "127.0.0.1:$port" "${admin[@]}" 2>"$tmp/server.log" &
pid=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.05
done
echo "soak: dally pid $pid on 127.0.0.1:$port for $dur; samples in $out" >&2
"$tmp/soak" -addr "127.0.0.1:$port" -pid "$pid" -d "$dur" -out "$out" "${metrics[@]}" "${args[@]}"
kill -0 "$pid" || { echo "soak: FAIL: the server died" >&2; tail "$tmp/server.log" >&2; exit 1; }
