#!/usr/bin/env bash
# Load test of GET /v1/plans/{id}/next-best-actions against an axum hello-world run
# beside it, with wrk (Debian package `wrk`), reads alone and mixed with the writes of a
# platform that syncs all day. Prints markdown tables for the README.
#
#   scripts/loadtest.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]
#
# Servers, all release builds, all up at once:
#   - examples/hello: the axum hello-world, and a static body as large as the answer;
#   - nextbest serve --demo as served (repeated requests answered from the cache);
#   - nextbest serve --demo --no-recommendation-cache (every request computed and logged).
#   - nextbest serve --demo as served, three more times, one per workload with writes:
#     1 write in 100 and 1 in 10 (the writes alternating an activity, POST
#     /v1/plans/{id}/activities, and a key result's progress, POST /v1/bulk/kr_progress,
#     on a plan of the rotation), and writes only (activities). Each workload has a
#     server of its own, so each figure is that workload's steady state, not the
#     recomputation another workload's writes left behind.
# Each round runs wrk once against each, in turn, so that a slow minute of the machine
# falls on every server alike; the table gives the median over the rounds, and the
# ratio is the median of the rounds' ratios. "server µs/request" is the CPU time the
# server process used (user + system, from /proc) divided by the requests it answered:
# it moves less than requests/s from run to run.
#
# wrk runs on the same machine, so client and servers share its cores (say so when
# quoting the figures).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNECTIONS=${2:-32}
ROUNDS=${3:-5}
THREADS=2
TARGET=${CARGO_TARGET_DIR:-target}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 2; }

cargo build --release --bin nextbest --example hello >&2
WORK=$(mktemp -d)
# Stop the servers and wait for them (they flush their stores on the way out) before
# removing their files.
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

start_nextbest() { # name port flags...
    local name=$1 port=$2
    shift 2
    "$TARGET/release/nextbest" --data-dir "$WORK/$name/data" --models-dir "$WORK/$name/models" \
        --tenant demo serve --demo --bind "127.0.0.1:$port" "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err" &
    echo $! >"$WORK/$name.pid"
    for _ in $(seq 1 300); do
        grep -q "^API key" "$WORK/$name.out" 2>/dev/null && break
        sleep 1
    done
    local key
    key=$(sed -n 's/^API key (admin; shown once): //p' "$WORK/$name.out")
    [ -n "$key" ] || { cat "$WORK/$name.err" >&2; echo "the demo server $name did not start" >&2; exit 1; }
    curl -sf "http://127.0.0.1:$port/v1/plans?status=active&limit=1000" -H "Authorization: Bearer $key" \
        | python3 -c 'import json, sys; print("\n".join(p["plan_id"] for p in json.load(sys.stdin)["items"]))' \
            >"$WORK/$name.plans"
    # One key result per plan, for the progress writes.
    python3 - "$port" "$key" "$WORK/$name.plans" >"$WORK/$name.krs" <<'PY'
import json, sys, urllib.request
port, key, plans = sys.argv[1:]
for plan in open(plans).read().split():
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/plans/{plan}", headers={"Authorization": f"Bearer {key}"})
    krs = json.load(urllib.request.urlopen(req))["key_results"]
    print(f"{plan}\t{krs[0]['kr_id']}")
PY
    echo "$key" >"$WORK/$name.key"
    # The request rotates over the active plans, with the key.
    cat >"$WORK/$name.lua" <<LUA
local paths = {}
for line in io.lines("$WORK/$name.plans") do
  paths[#paths + 1] = "/v1/plans/" .. line .. "/next-best-actions?k=5"
end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], { ["Authorization"] = "Bearer $key" })
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx: %d\n", summary.errors.status))
end
LUA
    # Warm: the engine loads on the first request; every plan is answered once.
    wrk -t$THREADS -c$CONNECTIONS -d3s -s "$WORK/$name.lua" "http://127.0.0.1:$port/" >/dev/null
}

"$TARGET/release/examples/hello" 127.0.0.1:18081 &
echo $! >"$WORK/hello.pid"
start_nextbest cached 18080
start_nextbest uncached 18082 --no-recommendation-cache
start_nextbest mixed100 18083
start_nextbest mixed10 18084
start_nextbest writes 18085
# The hello-world driven exactly like nextbest: the same rotation of paths and the same
# header (it answers every path), so the client's own cost is the same on both sides.
cp "$WORK/cached.lua" "$WORK/hello.lua"
wrk -t$THREADS -c$CONNECTIONS -d3s http://127.0.0.1:18081/ >/dev/null

# The mixed workloads' wrk scripts (scripts/wrk_mixed.sh).
. scripts/wrk_mixed.sh

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
measure() { # label pid wrk-args...
    local label=$1 pid=$2 before after
    shift 2
    before=$(cpu_ticks "$pid")
    wrk -t$THREADS -c$CONNECTIONS -d"${DURATION}s" --latency "$@" >"$WORK/run.txt"
    after=$(cpu_ticks "$pid")
    awk -v label="$label" -v round="$ROUND" -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
        /^Requests\/sec/ { rps = $2 }
        /requests in/ { n = $1 }
        $1 == "50%" { p50 = $2 }
        $1 == "99%" { p99 = $2 }
        /^non-2xx/ { bad = $2 }
        /Non-2xx or 3xx responses/ { bad = $5 }
        END { printf "%s\t%s\t%s\t%s\t%s\t%.2f\t%s\n", round, label, rps, p50, p99, ticks / hz * 1e6 / n, bad + 0 }
    ' "$WORK/run.txt" >>"$WORK/results.tsv"
}

HELLO=$(cat "$WORK/hello.pid")
mixed_lua "$WORK/mixed100-mixed100.lua" "$WORK/mixed100.krs" "$(cat "$WORK/mixed100.key")" 100
mixed_lua "$WORK/mixed10-mixed10.lua" "$WORK/mixed10.krs" "$(cat "$WORK/mixed10.key")" 10
mixed_lua "$WORK/writes-mixed1.lua" "$WORK/writes.krs" "$(cat "$WORK/writes.key")" 1
for ROUND in $(seq 1 "$ROUNDS"); do
    measure hello "$HELLO" http://127.0.0.1:18081/
    measure payload "$HELLO" http://127.0.0.1:18081/payload
    measure hello-same-requests "$HELLO" -s "$WORK/hello.lua" http://127.0.0.1:18081/
    measure cached "$(cat "$WORK/cached.pid")" -s "$WORK/cached.lua" http://127.0.0.1:18080/
    measure uncached "$(cat "$WORK/uncached.pid")" -s "$WORK/uncached.lua" http://127.0.0.1:18082/
    measure mixed100 "$(cat "$WORK/mixed100.pid")" -s "$WORK/mixed100-mixed100.lua" http://127.0.0.1:18083/
    measure mixed10 "$(cat "$WORK/mixed10.pid")" -s "$WORK/mixed10-mixed10.lua" http://127.0.0.1:18084/
    measure writes "$(cat "$WORK/writes.pid")" -s "$WORK/writes-mixed1.lua" http://127.0.0.1:18085/
    echo "round $ROUND of $ROUNDS done" >&2
done

python3 - "$WORK/results.tsv" "$THREADS" "$CONNECTIONS" "$DURATION" "$ROUNDS" "$(nproc)" \
    "$(wc -l <"$WORK/cached.plans")" "$(git rev-parse --short HEAD)" <<'PY'
import statistics, sys, datetime
path, threads, conns, duration, rounds, cores, plans, commit = sys.argv[1:]
rows = [line.rstrip("\n").split("\t") for line in open(path)]
by = {}
for rnd, label, rps, p50, p99, us, bad in rows:
    by.setdefault(label, {})[int(rnd)] = (float(rps), p50, p99, float(us), int(bad))
def ms(text):
    for unit, factor in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)
def med(label, i, key=float):
    return statistics.median(key(v[i]) for v in by[label].values())
names = {
    "hello": "axum hello-world",
    "payload": "axum, a static 10.5 KB body (the answer's size)",
    "hello-same-requests": "axum hello-world, sent nextbest's requests (same paths, same key header)",
    "cached": "**nextbest next-best-actions, as served** (recommendation cache)",
    "uncached": "nextbest next-best-actions, `--no-recommendation-cache`",
    "mixed100": "**nextbest, 1 write in 100** (activities and progress; the rest next-best-actions)",
    "mixed10": "**nextbest, 1 write in 10**",
    "writes": "**nextbest, writes only** (activities; acknowledged/s)",
}
print(f"\nwrk -t{threads} -c{conns} -d{duration}s, {rounds} interleaved rounds; {cores} cores shared by wrk and the servers; "
      f"{plans} active plans in rotation; commit {commit}, {datetime.date.today()}\n")
print("| server | requests/s | ratio to hello-world | p50 | p99 | server µs/request | non-2xx |")
print("|---|---|---|---|---|---|---|")
for label in ("hello", "payload", "hello-same-requests", "cached", "uncached", "mixed100", "mixed10", "writes"):
    ratios = [by[label][r][0] / by["hello"][r][0] for r in by[label]]
    print(f"| {names[label]} | {med(label, 0):,.0f} | {statistics.median(ratios):.3f} | "
          f"{med(label, 1, ms):.2f} ms | {med(label, 2, ms):.2f} ms | {med(label, 3):.1f} | "
          f"{sum(v[4] for v in by[label].values()) if label not in ('hello', 'payload', 'hello-same-requests') else '-'} |")
print("\nPer round, requests/s (ratio of nextbest as served to hello-world):\n")
print("| round | hello-world | as served | ratio |")
print("|---|---|---|---|")
for r in sorted(by["hello"]):
    h, c = by["hello"][r][0], by["cached"][r][0]
    print(f"| {r} | {h:,.0f} | {c:,.0f} | {c / h:.3f} |")
PY
