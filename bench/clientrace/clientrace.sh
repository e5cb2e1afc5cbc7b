#!/usr/bin/env bash
# bench/clientrace/clientrace.sh [flags]: the idle-close race, dally's client
# beside Go's http.Transport (see main.go). Bounded by -timeout (default 240 s).
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o clientrace/clientrace.bin ./clientrace
trap 'rm -f clientrace/clientrace.bin' EXIT
exec timeout 300 ./clientrace/clientrace.bin "$@"
