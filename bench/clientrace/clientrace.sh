#!/usr/bin/env bash
# bench/clientrace/clientrace.sh [flags]: the idle-close race, dally's client
# beside Go's http.Transport (see main.go). Bounded by -timeout (default
# 240 s) and by timeout(1) at 300 s.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/clientrace
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./clientrace
timeout 300 "$bin" "$@"
