#!/usr/bin/env bash
# Load test of GET /v1/plans/{id}/next-best-actions against an axum hello-world run
# beside it, with wrk (Debian package `wrk`). Prints a markdown table for the README.
#
#   scripts/loadtest.sh [DURATION_SECONDS] [CONNECTIONS]
#
# Both servers run release builds on this machine; wrk runs on the same machine, so
# client and server share the cores (say so when quoting the figures).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20}
CONNECTIONS=${2:-32}
THREADS=2
TARGET=${CARGO_TARGET_DIR:-target}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 2; }

cargo build --release --bin nextbest --example hello >&2
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$TARGET/release/examples/hello" 127.0.0.1:18081 &
"$TARGET/release/nextbest" --data-dir "$WORK/data" --models-dir "$WORK/models" --tenant demo \
    serve --demo --bind 127.0.0.1:18080 >"$WORK/serve.out" 2>"$WORK/serve.err" &
for _ in $(seq 1 300); do
    grep -q "API key" "$WORK/serve.out" 2>/dev/null && break
    sleep 1
done
KEY=$(sed -n 's/^API key (admin; shown once): //p' "$WORK/serve.out")
[ -n "$KEY" ] || { cat "$WORK/serve.err" >&2; echo "the demo server did not start" >&2; exit 1; }
"$TARGET/release/nextbest" --data-dir "$WORK/data" --tenant demo export "$WORK/export" >/dev/null
awk -F, 'NR > 1 && $7 == "active" { print $1 }' "$WORK/export/plans.csv" >"$WORK/plans.txt"
PLANS=$(wc -l <"$WORK/plans.txt")

cat >"$WORK/nba.lua" <<LUA
local paths = {}
for line in io.lines("$WORK/plans.txt") do
  paths[#paths + 1] = "/v1/plans/" .. line .. "/next-best-actions?k=5"
end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], { ["Authorization"] = "Bearer $KEY" })
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx: %d\n", summary.errors.status))
end
LUA

# Warm both (the engine loads on the first request).
curl -sf -H "Authorization: Bearer $KEY" \
  "http://127.0.0.1:18080/v1/plans/$(head -1 "$WORK/plans.txt")/next-best-actions" >/dev/null
wrk -t$THREADS -c$CONNECTIONS -d3s http://127.0.0.1:18081/ >/dev/null
wrk -t$THREADS -c$CONNECTIONS -d3s -s "$WORK/nba.lua" http://127.0.0.1:18080/ >/dev/null

run() { wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency "$@"; }
HELLO=$(run http://127.0.0.1:18081/)
NBA=$(run -s "$WORK/nba.lua" http://127.0.0.1:18080/)
echo "$HELLO" >"$WORK/hello.txt"; echo "$NBA" >"$WORK/nba.txt"
rps() { awk '/^Requests\/sec/ { print $2 }' "$1"; }
pct() { awk -v p="$2" '$1 == p { print $2 }' "$1"; }
non2xx() { awk '/^non-2xx/ { print $2 }' "$1"; }
H=$(rps "$WORK/hello.txt"); N=$(rps "$WORK/nba.txt")
echo
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $(nproc) cores shared by wrk and the servers, $PLANS active plans in rotation, $(date -u +%F)"
echo
echo "| server | requests/s | p50 | p99 |"
echo "|---|---|---|---|"
echo "| axum hello-world | $H | $(pct "$WORK/hello.txt" 50%) | $(pct "$WORK/hello.txt" 99%) |"
echo "| nextbest next-best-actions | $N | $(pct "$WORK/nba.txt" 50%) | $(pct "$WORK/nba.txt" 99%) |"
echo
echo "throughput ratio: $(awk -v n="$N" -v h="$H" 'BEGIN { printf "%.3f", n / h }'); non-2xx answers: $(non2xx "$WORK/nba.txt")"
