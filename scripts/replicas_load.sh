#!/usr/bin/env bash
# Two replicas on one PostgreSQL database and one Qdrant server, under load: the pair's
# throughput, and how long a write acknowledged by one replica takes to change the other
# replica's answer.
#
#   scripts/replicas_load.sh [DURATION_SECONDS] [CONNECTIONS] [DATABASE_SERVER_URL]
#
# - a fresh database on DATABASE_SERVER_URL (default postgres://postgres@127.0.0.1:5432),
#   dropped at the end, and a Qdrant server from ../shared/bin on ports 16433/16434;
# - replica A: `serve --demo` (imports the sample data, trains, indexes the partners in
#   Qdrant, prints a key); replica B: `serve` on the same database and Qdrant;
# - an axum hello-world beside them, measured first in the same run (the ratio's base);
# - then, at once for DURATION seconds: wrk on A with 1 write in 10 (activities and key
#   result progress, the rest next-best-actions), wrk on B with next-best-actions only,
#   and a probe that writes an activity through A and polls B's answer for the same plan
#   until it changes (its recommendation ids are new), one write every 100 ms, on 50
#   plans of its own (wrk's writes go to the others).
# Release builds; wrk, the probe and the servers share this machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20}
CONNECTIONS=${2:-16}
SERVER_URL=${3:-postgres://postgres@127.0.0.1:5432}
TARGET=${CARGO_TARGET_DIR:-target}
AS_OF=2026-10-01
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 2; }

cargo build --release --bin nextbest --example hello >&2
WORK=$(mktemp -d)
DB="nextbest_load_$$"
psql "$SERVER_URL/postgres" -qc "CREATE DATABASE $DB" >/dev/null
URL="$SERVER_URL/$DB"
QDRANT_PID=$(../shared/bin/start-qdrant.sh 16433 16434 "$WORK/qdrant")
cleanup() {
    kill $(jobs -p) "$QDRANT_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    psql "$SERVER_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

replica() { # name port flags...
    local name=$1 port=$2
    shift 2
    "$TARGET/release/nextbest" --data-dir "$WORK/$name" --models-dir "$WORK/$name/models" \
        --tenant demo serve --database-url "$URL" --qdrant-url http://127.0.0.1:16434 \
        --as-of "$AS_OF" --bind "127.0.0.1:$port" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    echo $! >"$WORK/$name.pid"
}
replica a 18090 --demo
for _ in $(seq 1 300); do grep -q "^API key" "$WORK/a.out" 2>/dev/null && break; sleep 1; done
KEY=$(sed -n 's/^API key (admin; shown once): //p' "$WORK/a.out")
[ -n "$KEY" ] || { cat "$WORK/a.err" >&2; echo "replica A did not start" >&2; exit 1; }
replica b 18091
for _ in $(seq 1 60); do curl -sf http://127.0.0.1:18091/healthz >/dev/null && break; sleep 1; done
"$TARGET/release/examples/hello" 127.0.0.1:18092 &

curl -sf "http://127.0.0.1:18090/v1/plans?status=active&limit=1000" -H "Authorization: Bearer $KEY" \
    | python3 -c 'import json, sys; print("\n".join(p["plan_id"] for p in json.load(sys.stdin)["items"]))' \
        >"$WORK/plans"
# The probe's plans are kept apart from wrk's, so that only the probe's writes change them.
tail -n 50 "$WORK/plans" >"$WORK/probe-plans"
head -n -50 "$WORK/plans" >"$WORK/load-plans"
python3 - "$KEY" "$WORK/load-plans" >"$WORK/krs" <<'PY'
import json, sys, urllib.request
key, plans = sys.argv[1:]
for plan in open(plans).read().split():
    req = urllib.request.Request(f"http://127.0.0.1:18090/v1/plans/{plan}", headers={"Authorization": f"Bearer {key}"})
    print(f"{plan}\t{json.load(urllib.request.urlopen(req))['key_results'][0]['kr_id']}")
PY

. scripts/wrk_mixed.sh
mixed_lua "$WORK/a.lua" "$WORK/krs" "$KEY" 10
mixed_lua "$WORK/b.lua" "$WORK/krs" "$KEY" 0
# Warm both replicas: every plan answered once on each.
wrk -t2 -c"$CONNECTIONS" -d3s -s "$WORK/b.lua" http://127.0.0.1:18090/ >/dev/null
wrk -t2 -c"$CONNECTIONS" -d3s -s "$WORK/b.lua" http://127.0.0.1:18091/ >/dev/null

wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency http://127.0.0.1:18092/ >"$WORK/hello.txt"
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/a.lua" http://127.0.0.1:18090/ >"$WORK/wrk-a.txt" &
WA=$!
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/b.lua" http://127.0.0.1:18091/ >"$WORK/wrk-b.txt" &
WB=$!
python3 - "$KEY" "$WORK/probe-plans" "$DURATION" >"$WORK/probe.txt" <<'PY'
import json, sys, time, urllib.request, uuid
key, plans, duration = sys.argv[1], open(sys.argv[2]).read().split(), float(sys.argv[3])
def call(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)
def ids(port, plan):
    return [a["recommendation_id"] for a in call(port, "GET", f"/v1/plans/{plan}/next-best-actions?k=5")["actions"]]
lags, missed, end, i = [], 0, time.monotonic() + duration - 2, 0
while time.monotonic() < end:
    plan = plans[i % len(plans)]
    i += 1
    before = ids(18091, plan)
    call(18090, "POST", f"/v1/plans/{plan}/activities",
         {"activity_id": f"probe-{uuid.uuid4().hex}", "kind": "qbr", "date": "2026-09-30", "quantity": 1})
    acked = time.monotonic()
    while ids(18091, plan) == before:
        if time.monotonic() - acked > 5:
            missed += 1
            break
        time.sleep(0.002)
    else:
        lags.append((time.monotonic() - acked) * 1000)
    time.sleep(0.1)
lags.sort()
q = lambda p: lags[min(len(lags) - 1, round((len(lags) - 1) * p))] if lags else float("nan")
print(f"{len(lags)}\t{missed}\t{q(0.5):.1f}\t{q(0.99):.1f}\t{max(lags) if lags else float('nan'):.1f}")
PY
wait "$WA" "$WB"

python3 - "$WORK" "$DURATION" "$CONNECTIONS" "$(nproc)" "$(git rev-parse --short HEAD)" <<'PY'
import sys, datetime
work, duration, conns, cores, commit = sys.argv[1:]
def wrk(path):
    out = {}
    for line in open(path):
        f = line.split()
        if line.startswith("Requests/sec"): out["rps"] = float(f[1])
        if f and f[0] == "50%": out["p50"] = f[1]
        if f and f[0] == "99%": out["p99"] = f[1]
        if line.startswith("non-2xx"): out["bad"] = int(f[1])
        if "Non-2xx" in line: out["bad"] = int(f[-1])
    return out
hello, a, b = wrk(f"{work}/hello.txt"), wrk(f"{work}/wrk-a.txt"), wrk(f"{work}/wrk-b.txt")
n, missed, p50, p99, worst = open(f"{work}/probe.txt").read().split()
pair = a["rps"] + b["rps"]
print(f"\n{duration} s, {conns} connections per replica, {cores} cores shared by wrk, the probe, two replicas, "
      f"PostgreSQL and Qdrant; commit {commit}, {datetime.date.today()}\n")
print("| | requests/s | ratio to hello-world | p50 | p99 | non-2xx |")
print("|---|---|---|---|---|---|")
print(f"| axum hello-world (alone, before) | {hello['rps']:,.0f} | 1 | {hello['p50']} | {hello['p99']} | |")
print(f"| replica A, 1 write in 10 | {a['rps']:,.0f} | {a['rps'] / hello['rps']:.3f} | {a['p50']} | {a['p99']} | {a.get('bad', 0)} |")
print(f"| replica B, reads only | {b['rps']:,.0f} | {b['rps'] / hello['rps']:.3f} | {b['p50']} | {b['p99']} | {b.get('bad', 0)} |")
print(f"| **the pair** | **{pair:,.0f}** | **{pair / hello['rps']:.3f}** | | | |")
print(f"\nWrite acknowledged by A → B's answer changed: {n} writes, p50 {p50} ms, p99 {p99} ms, "
      f"max {worst} ms; {missed} not seen within 5 s.")
PY
