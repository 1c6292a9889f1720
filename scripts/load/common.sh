# Helpers shared by run.sh and postgres.sh; sourced, not run. The sourcing script sets
# `script` (its name, for messages), `bin` (the paylink executable) and `work` (its temporary
# directory) before calling them.

# require_tools TOOL...: exits 2 naming the first one missing.
require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$script: $tool is required (apt-get install -y $tool)" >&2; exit 2; }
    done
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# agent_key NAME ARGS...: creates an `agent`-role key with the CLI in $work/NAME, prints the key.
agent_key() {
    local name=$1; shift
    "$bin" agents create --data-dir "$work/$name" --name load --role agent --json "$@" >"$work/$name.agent.json"
    python3 -c 'import json, sys; print(json.load(sys.stdin)["api_key"])' <"$work/$name.agent.json"
}

# start_server NAME ARGS...: `paylink serve` on a free port with data directory $work/NAME, no
# sandbox PSP, waits for /healthz. Sets base and server_pid, and adds the pid to `servers`.
servers=()
start_server() {
    local name=$1 port; shift
    port=$(free_port)
    base="https://127.0.0.1:$port"
    "$bin" serve --data-dir "$work/$name" --port "$port" --psp-port 0 --certificates-dir "$work/$name/certs" "$@" \
        >"$work/$name.server.log" 2>&1 &
    server_pid=$!
    servers+=("$server_pid")
    for _ in $(seq 1 300); do
        if curl -ksf --max-time 1 "$base/healthz" >/dev/null 2>&1; then
            echo "server $name ($*) up at $base, pid $server_pid"
            return 0
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "$script: server $name exited; its log:" >&2
            cat "$work/$name.server.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "$script: server $name did not answer /healthz within 30 s" >&2
    exit 1
}

# stop_servers: SIGTERM to every server started, SIGKILL to any still there after 5 s.
stop_servers() {
    local pid
    for pid in "${servers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${servers[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    servers=()
}

# CPU accounting from /proc (clock ticks): a process's own CPU, several processes' summed, this
# shell's waited-for children (the load tools), and the machine's total and busy time.
hz=$(getconf CLK_TCK)
own_ticks() { local ticks; ticks=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'); echo "${ticks:-0}"; }
sum_ticks() { local total=0 pid; for pid in "$@"; do total=$((total + $(own_ticks "$pid"))); done; echo "$total"; }
children_ticks() { sed 's/^.*) //' "/proc/$$/stat" | awk '{ print $14 + $15 }'; }
# machine_mark: sets mark_total, mark_busy and mark_time.
machine_mark() {
    local _cpu u n s idle io irq sirq st _rest
    read -r _cpu u n s idle io irq sirq st _rest </proc/stat
    mark_total=$((u + n + s + idle + io + irq + sirq + st))
    mark_busy=$((u + n + s + irq + sirq + st))
    mark_time=$(date +%s.%N)
}

# Reading wrk reports (and create_link.lua's lines in them).
requests_done() { awk '/ requests in / { print $1 }' "$@" | awk '{ sum += $1 } END { print sum + 0 }'; }
req_per_sec() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
non201() { awk -F': ' '/^non-201 responses:/ { split($2, count, " "); print count[1] }' "$1"; }
cpu_line() { grep '^cpu:' "$1" | sed 's/^cpu: /    /'; }
