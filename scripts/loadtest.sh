#!/usr/bin/env bash
# Load test of GET /v1/plans/{id}/next-best-actions against an axum hello-world run
# beside it, with wrk (Debian package `wrk`). Prints a markdown table for the README:
# the hello-world, the same server answering a static body as large as the endpoint's
# answer, the endpoint as served (a repeated request answered from the recommendation
# cache), and the endpoint with the cache off (every request computed and logged).
#
#   scripts/loadtest.sh [DURATION_SECONDS] [CONNECTIONS]
#
# Both servers are release builds on this machine, and wrk runs on the same machine, so
# client and servers share its cores (say so when quoting the figures).
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
NB=("$TARGET/release/nextbest" --data-dir "$WORK/data" --models-dir "$WORK/models" --tenant demo)

start_nextbest() { # flags...
    "${NB[@]}" serve --demo --bind 127.0.0.1:18080 "$@" >"$WORK/serve.out" 2>"$WORK/serve.err" &
    NB_PID=$!
    for _ in $(seq 1 300); do
        grep -q "^API key" "$WORK/serve.out" 2>/dev/null && break
        sleep 1
    done
    KEY=$(sed -n 's/^API key (admin; shown once): //p' "$WORK/serve.out")
    [ -n "$KEY" ] || { cat "$WORK/serve.err" >&2; echo "the demo server did not start" >&2; exit 1; }
    curl -sf "http://127.0.0.1:18080/v1/plans?status=active&limit=1000" -H "Authorization: Bearer $KEY" \
        | python3 -c 'import json, sys; print("\n".join(p["plan_id"] for p in json.load(sys.stdin)["items"]))' \
        >"$WORK/plans.txt"
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
    # Warm: the engine loads on the first request.
    curl -sf -H "Authorization: Bearer $KEY" \
        "http://127.0.0.1:18080/v1/plans/$(head -1 "$WORK/plans.txt")/next-best-actions" >/dev/null
}

run() { wrk -t$THREADS -c$CONNECTIONS -d"${DURATION}s" --latency "$@"; }
rps() { awk '/^Requests\/sec/ { print $2 }' "$1"; }
pct() { awk -v p="$2" '$1 == p { print $2 }' "$1"; }
non2xx() { awk '/^non-2xx/ { print $2 }' "$1"; }

"$TARGET/release/examples/hello" 127.0.0.1:18081 &
sleep 1
wrk -t$THREADS -c$CONNECTIONS -d3s http://127.0.0.1:18081/ >/dev/null
run http://127.0.0.1:18081/ >"$WORK/hello.txt"
run http://127.0.0.1:18081/payload >"$WORK/payload.txt"

start_nextbest
wrk -t$THREADS -c$CONNECTIONS -d3s -s "$WORK/nba.lua" http://127.0.0.1:18080/ >/dev/null
run -s "$WORK/nba.lua" http://127.0.0.1:18080/ >"$WORK/cached.txt"
kill -TERM "$NB_PID"; wait "$NB_PID" || true

start_nextbest --no-recommendation-cache
wrk -t$THREADS -c$CONNECTIONS -d3s -s "$WORK/nba.lua" http://127.0.0.1:18080/ >/dev/null
run -s "$WORK/nba.lua" http://127.0.0.1:18080/ >"$WORK/uncached.txt"
kill -TERM "$NB_PID"; wait "$NB_PID" || true

H=$(rps "$WORK/hello.txt")
row() { # label file
    local n; n=$(rps "$2")
    echo "| $1 | $n | $(awk -v n="$n" -v h="$H" 'BEGIN { printf "%.3f", n / h }') | $(pct "$2" 50%) | $(pct "$2" 99%) | $(non2xx "$2") |"
}
echo
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s; $(nproc) cores shared by wrk and the server; $(wc -l <"$WORK/plans.txt") active plans in rotation; $(date -u +%F)"
echo
echo "| server | requests/s | ratio to hello-world | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|"
echo "| axum hello-world | $H | 1 | $(pct "$WORK/hello.txt" 50%) | $(pct "$WORK/hello.txt" 99%) | - |"
echo "| axum, a static 10.5 KB body (the answer's size) | $(rps "$WORK/payload.txt") | $(awk -v n="$(rps "$WORK/payload.txt")" -v h="$H" 'BEGIN { printf "%.3f", n / h }') | $(pct "$WORK/payload.txt" 50%) | $(pct "$WORK/payload.txt" 99%) | - |"
row "nextbest next-best-actions (as served: recommendation cache)" "$WORK/cached.txt"
row "nextbest next-best-actions (--no-recommendation-cache)" "$WORK/uncached.txt"
