#!/usr/bin/env bash
# POST /v1/links throughput on SQLite and on PostgreSQL with one and with two instances, and how
# long an event appended on one instance takes to reach a stream on the other (issue #4).
#
#   swift build -c release --product paylink --scratch-path .build-release
#   bash scripts/load/postgres.sh [path/to/paylink]     # default .build-release/release/paylink
#
# Needs wrk, python3, curl and the PostgreSQL server binaries (/usr/lib/postgresql/*/bin), and
# root: the throwaway cluster comes from .ci/postgres.sh, which runs it as the `postgres` user.
# That script starts PostgreSQL with fsync=off (it holds test data); this one restarts it with
# fsync on and prints the settings, so both stores acknowledge a create only once it is on
# disk: SQLite with --sqlite-synchronous full, PostgreSQL with fsync=on and synchronous_commit=on
# (its defaults).
#
# In one run, over HTTPS on loopback with the generated development certificates:
#   1. SQLite, one instance:      wrk POST /v1/links                                  req/s
#   2. PostgreSQL, one instance:  the same                                            req/s
#   3. PostgreSQL, two instances on one database (same PAYLINK_MASTER_KEY, own --data-dir each):
#      two wrk processes at once, one per instance, each with half the threads and connections;
#      the req/s are summed
#   4. PostgreSQL event latency with both instances up: created on A, streamed from A; then
#      created on B, streamed from A (sse_latency.py --write-base), p50/p90/p99/max
# It prints numbers only. Results and their reading: docs/benchmarks.md.
#
# Settings (environment): LOAD_THREADS (2), LOAD_CONNECTIONS (32), LOAD_DURATION (15s),
# SSE_COUNT (500), LOAD_TMPDIR (where data directories and the cluster go; keep it on a real
# disk).
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$(pwd)
bin=${1:-.build-release/release/paylink}
threads=${LOAD_THREADS:-2}
connections=${LOAD_CONNECTIONS:-32}
duration=${LOAD_DURATION:-15s}
sse_count=${SSE_COUNT:-500}
lua="$root/scripts/load/create_link.lua"

script=postgres.sh
source "$root/scripts/load/common.sh"
require_tools wrk python3 curl
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || { echo "postgres.sh: no PostgreSQL server binaries in /usr/lib/postgresql" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "postgres.sh: run as root (.ci/postgres.sh starts the cluster as the postgres user)" >&2; exit 2; }
[[ -x "$bin" ]] || { echo "postgres.sh: no executable at $bin; build it first (see the header of this script)" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
(( threads >= 2 && connections >= 2 )) || { echo "postgres.sh: LOAD_THREADS and LOAD_CONNECTIONS must be at least 2 (halved for two instances)" >&2; exit 2; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
psql=$pgbin/psql

work=$(mktemp -d "${LOAD_TMPDIR:-${TMPDIR:-/tmp}}/paylink-pg-load.XXXXXX")
chmod 755 "$work"  # the cluster directory inside belongs to the postgres user
pgdir="$work/pg"
cleanup() {
    stop_servers
    bash "$root/.ci/postgres.sh" stop "$pgdir" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# CPU accounting from /proc, as in run.sh: the servers' CPU per request, PostgreSQL's CPU (every
# process of the postgres user), the load tools' (children of this shell) and everyone else's.
postgres_ticks() { sum_ticks $(pgrep -u postgres || true); }
cpu_mark() {
    machine_mark
    mark_server=$(sum_ticks "${servers[@]}")
    mark_postgres=$(postgres_ticks)
    mark_tools=$(children_ticks)
}
# cpu_report REQUESTS: since the last cpu_mark. Postgres backends that exited in between are
# not counted; the servers keep their connections, so that is none of them.
cpu_report() {
    local t0=$mark_total b0=$mark_busy s0=$mark_server p0=$mark_postgres c0=$mark_tools w0=$mark_time
    cpu_mark
    awk -v requests="$1" -v hz="$hz" -v cpus="$(nproc)" -v total=$((mark_total - t0)) -v busy=$((mark_busy - b0)) \
        -v server=$((mark_server - s0)) -v pg=$((mark_postgres - p0)) -v tools=$((mark_tools - c0)) \
        -v wall="$mark_time" -v wall0="$w0" 'BEGIN {
        wall -= wall0; if (pg < 0) pg = 0; other = busy - server - pg - tools; if (other < 0) other = 0
        printf "cpu: paylink %.3f ms per request (%.2f of %d cores); postgres %.3f ms per request (%.2f cores); load tools %.2f cores; everything else %.2f cores\n",
            (requests > 0 ? server / hz * 1000 / requests : 0), server / hz / wall, cpus,
            (requests > 0 ? pg / hz * 1000 / requests : 0), pg / hz / wall, tools / hz / wall, other / total * cpus
    }'
}

# wrk_post NAME BASE KEY THREADS CONNECTIONS: one wrk POST /v1/links, report in $work/NAME.txt.
wrk_post() {
    local name=$1 target=$2 load_key=$3 t=$4 c=$5
    PAYLINK_LOAD_KEY=$load_key PAYLINK_LOAD_TAG=$name \
        wrk -t"$t" -c"$c" -d"$duration" --latency -s "$lua" "$target/v1/links" >"$work/$name.txt"
}

echo "== machine"
echo "date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "host:     $(uname -srm), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
echo "binary:   $bin"
echo "data:     $work ($(df -T "$work" | awk 'NR == 2 { print $2 }'))"

echo
echo "== PostgreSQL"
pgport=$(free_port)
url=$(bash "$root/.ci/postgres.sh" start "$pgdir" "$pgport")
# The same options as .ci/postgres.sh, but fsync on: its `-c fsync=off` outranks ALTER SYSTEM.
runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -m fast \
    -o "-c listen_addresses=127.0.0.1 -p $pgport -k $pgdir -c max_connections=300 -c fsync=on" restart >/dev/null
echo "server:   $("$psql" -tA "$url" -c 'SHOW server_version')"
echo "settings: $("$psql" -tA "$url" -c "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings
    WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'shared_buffers')")"
[[ $("$psql" -tA "$url" -c 'SHOW fsync') == on ]] || { echo "postgres.sh: could not turn fsync on" >&2; exit 1; }
# database_url NAME: a fresh database for one scenario, so each starts empty.
database_url() {
    "$psql" -q "$url" -c "CREATE DATABASE $1" >/dev/null
    echo "${url/\/paylink_test\?//$1?}"
}

echo
echo "== 1. SQLite, one instance (--sqlite-synchronous full)"
key=$(agent_key sqlite)
start_server sqlite --sqlite-synchronous full
cpu_mark
wrk_post sqlite "$base" "$key" "$threads" "$connections"
cpu_report "$(requests_done "$work/sqlite.txt")" | tee -a "$work/sqlite.txt"
grep -E '^(Requests/sec|non-201)' "$work/sqlite.txt"
stop_servers

# Two instances must share the key that seals stored secrets (signing keys, idempotent responses).
PAYLINK_MASTER_KEY=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
export PAYLINK_MASTER_KEY

echo
echo "== 2. PostgreSQL, one instance"
db=$(database_url paylink_one)
key=$(agent_key pg-one --database-url "$db")
start_server pg-one --database-url "$db"
cpu_mark
wrk_post pg-one "$base" "$key" "$threads" "$connections"
cpu_report "$(requests_done "$work/pg-one.txt")" | tee -a "$work/pg-one.txt"
grep -E '^(Requests/sec|non-201)' "$work/pg-one.txt"
stop_servers

echo
echo "== 3. PostgreSQL, two instances on one database"
db=$(database_url paylink_two)
key=$(agent_key pg-a --database-url "$db")
start_server pg-a --database-url "$db"
base_a=$base
start_server pg-b --database-url "$db"
base_b=$base
cpu_mark
wrk_post pg-two-a "$base_a" "$key" $((threads / 2)) $((connections / 2)) &
wrk_a=$!
wrk_post pg-two-b "$base_b" "$key" $((threads / 2)) $((connections / 2)) &
wrk_b=$!
wait "$wrk_a" "$wrk_b"
cpu_report "$(requests_done "$work/pg-two-a.txt" "$work/pg-two-b.txt")" | tee "$work/pg-two.cpu"
for side in a b; do
    echo "instance $side: $(req_per_sec "$work/pg-two-$side.txt") req/s, non-201: $(non201 "$work/pg-two-$side.txt")"
done

echo
echo "== 4. PostgreSQL event latency, both instances up"
echo "\$ python3 scripts/load/sse_latency.py --base $base_a --count $sse_count                     (A -> A)"
sse_status=0
PAYLINK_LOAD_KEY=$key python3 "$root/scripts/load/sse_latency.py" --base "$base_a" --count "$sse_count" \
    | tee "$work/sse-aa.txt" || sse_status=$?
echo "\$ python3 scripts/load/sse_latency.py --base $base_a --write-base $base_b --count $sse_count   (B -> A)"
PAYLINK_LOAD_KEY=$key python3 "$root/scripts/load/sse_latency.py" --base "$base_a" --write-base "$base_b" --count "$sse_count" \
    | tee "$work/sse-ba.txt" || sse_status=$?
stop_servers

sqlite=$(req_per_sec "$work/sqlite.txt")
one=$(req_per_sec "$work/pg-one.txt")
two=$(awk -v a="$(req_per_sec "$work/pg-two-a.txt")" -v b="$(req_per_sec "$work/pg-two-b.txt")" 'BEGIN { printf "%.2f", a + b }')
sse_line() { grep '^SSE_P50_MS' "$1" | sed 's/^/    /'; }

echo
echo "== summary (goal for B -> A: p99 <= 50 ms)"
printf '%-42s %10s req/s   non-201: %s\n' "SQLite, one instance (full)" "$sqlite" "$(non201 "$work/sqlite.txt")"
cpu_line "$work/sqlite.txt"
printf '%-42s %10s req/s   non-201: %s\n' "PostgreSQL, one instance" "$one" "$(non201 "$work/pg-one.txt")"
cpu_line "$work/pg-one.txt"
printf '%-42s %10s req/s   non-201: %s + %s\n' "PostgreSQL, two instances (sum)" "$two" \
    "$(non201 "$work/pg-two-a.txt")" "$(non201 "$work/pg-two-b.txt")"
cpu_line "$work/pg-two.cpu"
echo "event latency, PostgreSQL, created on A, streamed from A:"
sse_line "$work/sse-aa.txt"
echo "event latency, PostgreSQL, created on B, streamed from A:"
sse_line "$work/sse-ba.txt"
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$sse_status"
