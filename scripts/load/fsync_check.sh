#!/usr/bin/env bash
# Does a `201 Created` really wait for an fsync? Counts the server's fdatasync/fsync calls on the
# SQLite WAL while it creates N links one at a time, for each --sqlite-synchronous mode.
#
#   bash scripts/load/fsync_check.sh [path/to/paylink] [N]     # default .build-release/release/paylink, 200
#
# With synchronous=FULL every commit must sync the WAL (about 1 sync per create); with NORMAL the
# WAL is synced only at checkpoints (a few per thousand WAL pages). Needs strace (and ptrace
# permission). Loopback only; prints counts, asserts nothing.
set -euo pipefail

cd "$(dirname "$0")/../.."
bin=${1:-.build-release/release/paylink}
count=${2:-200}
for tool in strace python3 curl; do
    command -v "$tool" >/dev/null || { echo "fsync_check.sh: $tool is required" >&2; exit 2; }
done
[[ -x "$bin" ]] || { echo "fsync_check.sh: no executable at $bin" >&2; exit 2; }
(( count >= 1 && count <= 10000 )) || { echo "fsync_check.sh: N must be 1...10000" >&2; exit 2; }

work=$(mktemp -d "${LOAD_TMPDIR:-${TMPDIR:-/tmp}}/paylink-fsync.XXXXXX")
server_pid=""
tracer_pid=""
cleanup() {
    [[ -n "$tracer_pid" ]] && kill "$tracer_pid" 2>/dev/null && wait "$tracer_pid" 2>/dev/null
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for mode in full normal; do
    dir="$work/$mode"
    key=$("$bin" agents create --data-dir "$dir" --name fsync --role agent --json \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["api_key"])')
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    "$bin" serve --data-dir "$dir" --port "$port" --psp-port 0 --certificates-dir "$dir/certs" \
        --sqlite-synchronous "$mode" >"$work/$mode.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 300); do
        curl -ksf --max-time 1 "https://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/$mode.log" >&2; exit 1; }
        sleep 0.1
    done
    strace -f -y -e trace=fsync,fdatasync -p "$server_pid" -o "$work/$mode.strace" 2>/dev/null &
    tracer_pid=$!
    sleep 1
    PAYLINK_LOAD_KEY=$key python3 - "https://127.0.0.1:$port" "$count" <<'EOF'
import http.client, json, os, ssl, sys, urllib.parse
base, count = urllib.parse.urlsplit(sys.argv[1]), int(sys.argv[2])
context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
connection = http.client.HTTPSConnection(base.hostname, base.port, context=context, timeout=30)
for index in range(count):
    body = json.dumps({"amount": 1999, "currency": "GBP", "reference": f"fsync-{index}"})
    connection.request("POST", "/v1/links", body=body, headers={
        "Authorization": "Bearer " + os.environ["PAYLINK_LOAD_KEY"], "Content-Type": "application/json"})
    response = connection.getresponse(); response.read()
    if response.status != 201:
        sys.exit(f"POST /v1/links -> {response.status}")
EOF
    sleep 0.5
    kill "$tracer_pid" 2>/dev/null || true
    wait "$tracer_pid" 2>/dev/null || true
    tracer_pid=""
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    wal=$(grep -c 'sync(.*paylink\.sqlite-wal>' "$work/$mode.strace" || true)
    db=$(grep -c 'sync(.*paylink\.sqlite>' "$work/$mode.strace" || true)
    awk -v mode="$mode" -v n="$count" -v wal="$wal" -v db="$db" 'BEGIN {
        printf "synchronous=%-6s %d creates: %d WAL syncs (%.2f per create), %d database-file syncs\n", mode, n, wal, wal / n, db
    }'
done
