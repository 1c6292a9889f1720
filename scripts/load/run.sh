#!/usr/bin/env bash
# Throughput and event-latency benchmark for a release `paylink`, on loopback only.
#
#   swift build -c release --product paylink --scratch-path .build-release
#   bash scripts/load/run.sh [path/to/paylink]      # default .build-release/release/paylink
#
# In one run, against a fresh data directory and the default store (SQLite, WAL,
# --sqlite-synchronous full) over HTTPS with the generated development certificate:
#   1. wrk GET  /healthz                     req/s
#   2. wrk POST /v1/links (create_link.lua)  req/s, non-201 count, and the ratio POST/healthz
#   3. sse_latency.py: POST -> `link.created` on /v1/events/stream, p50/p90/p99/max
#   4. wrk POST /v1/links again, with an Idempotency-Key on every request (FULL)
#   5. wrk POST /v1/links on a second server with --sqlite-synchronous normal (the cost of fsync)
# It prints numbers only; nothing here asserts on time. Whether FULL really syncs every commit is
# checked separately by scripts/load/fsync_check.sh. Results and their reading: docs/benchmarks.md.
#
# Settings (environment): LOAD_THREADS (2), LOAD_CONNECTIONS (32), LOAD_DURATION (15s),
# SSE_COUNT (500), LOAD_TMPDIR (where the data directories go; default $TMPDIR or /tmp; keep it
# on a real disk, a tmpfs makes fsync free).
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$(pwd)
bin=${1:-.build-release/release/paylink}
threads=${LOAD_THREADS:-2}
connections=${LOAD_CONNECTIONS:-32}
duration=${LOAD_DURATION:-15s}
sse_count=${SSE_COUNT:-500}
lua="$root/scripts/load/create_link.lua"

script=run.sh
source "$root/scripts/load/common.sh"
require_tools wrk python3 curl
[[ -x "$bin" ]] || { echo "run.sh: no executable at $bin; build it first (see the header of this script)" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

work=$(mktemp -d "${LOAD_TMPDIR:-${TMPDIR:-/tmp}}/paylink-load.XXXXXX")
cleanup() {
    stop_servers
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_durable NAME SYNCHRONOUS: fresh data dir, one `agent`-role key, server on a free port.
# Sets key, base and server_pid.
start_durable() {
    key=$(agent_key "$1")
    start_server "$1" --sqlite-synchronous "$2"
}

# CPU accounting around each phase: the server's CPU per request, and how busy the machine was
# with anything else (other builds on a shared box make the numbers noisy).
cpu_mark() {
    machine_mark
    mark_server=$(own_ticks "$server_pid")
    mark_tools=$(children_ticks)
}
# cpu_report REQUESTS: since the last cpu_mark.
cpu_report() {
    local t0=$mark_total b0=$mark_busy s0=$mark_server c0=$mark_tools w0=$mark_time
    cpu_mark
    awk -v requests="$1" -v hz="$hz" -v cpus="$(nproc)" -v total=$((mark_total - t0)) -v busy=$((mark_busy - b0)) \
        -v server=$((mark_server - s0)) -v tools=$((mark_tools - c0)) -v wall="$mark_time" -v wall0="$w0" 'BEGIN {
        wall -= wall0; other = busy - server - tools; if (other < 0) other = 0
        printf "cpu: server %.3f ms per request (%.2f of %d cores); load tool %.2f cores; everything else %.2f cores\n",
            (requests > 0 ? server / hz * 1000 / requests : 0), server / hz / wall, cpus, tools / hz / wall, other / total * cpus
    }'
}

# bench_post NAME: wrk POST /v1/links; prints the report, leaves it in $work/NAME.txt.
bench_post() {
    local name=$1
    echo
    echo "\$ wrk -t$threads -c$connections -d$duration --latency -s scripts/load/create_link.lua $base/v1/links${PAYLINK_LOAD_IDEMPOTENCY:+  (Idempotency-Key on)}"
    cpu_mark
    PAYLINK_LOAD_KEY=$key PAYLINK_LOAD_TAG=$name \
        wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$lua" "$base/v1/links" | tee "$work/$name.txt"
    cpu_report "$(requests_done "$work/$name.txt")" | tee -a "$work/$name.txt"
}

echo "== machine"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "host:    $(uname -srm), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "cpu:     $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }')"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
echo "binary:  $bin"
echo "wrk:     $(wrk --version 2>&1 | head -1)"
echo "data:    $work ($(df -T "$work" | awk 'NR == 2 { print $2 }'))"

echo
echo "== durable server (synchronous=FULL)"
start_durable full full

echo
echo "\$ wrk -t$threads -c$connections -d$duration --latency $base/healthz"
cpu_mark
wrk -t"$threads" -c"$connections" -d"$duration" --latency "$base/healthz" | tee "$work/healthz.txt"
cpu_report "$(requests_done "$work/healthz.txt")" | tee -a "$work/healthz.txt"

bench_post create-full

echo
echo "\$ PAYLINK_LOAD_KEY=… python3 scripts/load/sse_latency.py --base $base --count $sse_count"
sse_status=0
cpu_mark
PAYLINK_LOAD_KEY=$key python3 "$root/scripts/load/sse_latency.py" --base "$base" --count "$sse_count" \
    | tee "$work/sse.txt" || sse_status=$?
cpu_report 0 | sed 's/server 0.000 ms per request (/server (/' | tee -a "$work/sse.txt"

PAYLINK_LOAD_IDEMPOTENCY=1 bench_post create-full-idempotent
stop_servers

echo
echo "== fsync-relaxed server (synchronous=NORMAL)"
start_durable normal normal
bench_post create-normal
stop_servers

healthz=$(req_per_sec "$work/healthz.txt")
full=$(req_per_sec "$work/create-full.txt")
idempotent=$(req_per_sec "$work/create-full-idempotent.txt")
normal=$(req_per_sec "$work/create-normal.txt")

echo
echo "== summary (goal: POST/healthz >= 0.25, SSE p99 <= 5 ms)"
printf '%-44s %10s req/s\n' "GET /healthz" "$healthz"
cpu_line "$work/healthz.txt"
printf '%-44s %10s req/s   non-201: %s\n' "POST /v1/links (--sqlite-synchronous full)" "$full" "$(non201 "$work/create-full.txt")"
cpu_line "$work/create-full.txt"
printf '%-44s %10s req/s   non-201: %s\n' "POST /v1/links (full, Idempotency-Key)" "$idempotent" "$(non201 "$work/create-full-idempotent.txt")"
cpu_line "$work/create-full-idempotent.txt"
printf '%-44s %10s req/s   non-201: %s\n' "POST /v1/links (--sqlite-synchronous normal)" "$normal" "$(non201 "$work/create-normal.txt")"
cpu_line "$work/create-normal.txt"
awk -v h="$healthz" -v f="$full" -v n="$normal" 'BEGIN {
    printf "ratio POST(full)/healthz:   %.3f\n", f / h
    printf "ratio POST(normal)/healthz: %.3f\n", n / h
}'
grep -E '^(SSE_P50_MS|creates:|cpu:)' "$work/sse.txt" | sed 's/^/sse: /' || true
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$sse_status"
