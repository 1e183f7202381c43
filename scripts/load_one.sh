#!/usr/bin/env bash
# One demo server alone under one wrk workload (the mixed workloads' script,
# scripts/wrk_mixed.sh): a quick figure while working, or one against PostgreSQL.
#
#   scripts/load_one.sh EVERY [SECONDS]
#     EVERY: 1 writes only (activities), 10 or 100 one write in that many, 0 reads only.
#   env BIN: the binary (default target/release/nextbest, built beforehand);
#   env DBARGS: extra `serve` flags, e.g. "--database-url postgres://postgres@127.0.0.1:5432/nbpg"
#     (a fresh, empty database: the demo loads into it).
#
# Prints wrk's figures and the server's CPU time over the run, per request. For README figures use
# scripts/loadtest.sh, which runs the hello-world beside it and gives ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
EVERY=${1:-1}
SECS=${2:-10}
BIN=${BIN:-target/release/nextbest}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 2; }
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$W"' EXIT
# shellcheck disable=SC2086
"$BIN" --data-dir "$W/data" --models-dir "$W/models" --tenant demo serve --demo ${DBARGS:-} \
    --bind 127.0.0.1:18099 >"$W/out" 2>"$W/err" &
PID=$!
for _ in $(seq 1 300); do grep -q "^API key" "$W/out" 2>/dev/null && break; sleep 1; done
KEY=$(sed -n 's/^API key (admin; shown once): //p' "$W/out")
[ -n "$KEY" ] || { cat "$W/err" >&2; echo "the demo server did not start" >&2; exit 1; }
curl -sf "http://127.0.0.1:18099/v1/plans?status=active&limit=1000" -H "Authorization: Bearer $KEY" \
    | python3 -c 'import json, sys; print("\n".join(p["plan_id"] for p in json.load(sys.stdin)["items"]))' >"$W/plans"
python3 - 18099 "$KEY" "$W/plans" >"$W/krs" <<'PY'
import json, sys, urllib.request
port, key, plans = sys.argv[1:]
for plan in open(plans).read().split():
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/plans/{plan}", headers={"Authorization": f"Bearer {key}"})
    krs = json.load(urllib.request.urlopen(req))["key_results"]
    print(f"{plan}\t{krs[0]['kr_id']}")
PY
. scripts/wrk_mixed.sh
# Warm: every plan answered once.
mixed_lua "$W/warm.lua" "$W/krs" "$KEY" 0
wrk -t2 -c32 -d3s -s "$W/warm.lua" http://127.0.0.1:18099/ >/dev/null
mixed_lua "$W/run.lua" "$W/krs" "$KEY" "$EVERY"
T0=$(awk '{ print $14 + $15 }' "/proc/$PID/stat")
wrk -t2 -c32 -d"${SECS}s" --latency -s "$W/run.lua" http://127.0.0.1:18099/ >"$W/wrk"
T1=$(awk '{ print $14 + $15 }' "/proc/$PID/stat")
grep -E "Requests/sec|50%|99%|non-2xx|requests in" "$W/wrk"
REQUESTS=$(awk '/requests in/ { print $1 }' "$W/wrk")
python3 -c "import sys; t, n, hz = map(float, sys.argv[1:]); print(f'server CPU: {t / hz:.2f} s, {1e6 * t / hz / n:.1f} µs/request')" \
    "$((T1 - T0))" "$REQUESTS" "$(getconf CLK_TCK)"
