#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: `start DIR PORT` prints the URL to use as
# PAYLINK_TEST_DATABASE_URL; `stop DIR` shuts it down and removes it. Runs as the unprivileged
# `postgres` user, listens on 127.0.0.1 only, trusts local connections (it holds test data only).
set -euo pipefail
command=${1:?start|stop}
dir=${2:?data directory}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

case "$command" in
start)
  port=${3:?port}
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  chmod 700 "$dir"
  runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U paylink --auth=trust -E UTF8 >/dev/null
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=off" start >/dev/null
  runuser -u postgres -- "$bin/createdb" -h 127.0.0.1 -p "$port" -U paylink paylink_test
  echo "postgres://paylink@127.0.0.1:$port/paylink_test?sslmode=disable"
  ;;
stop)
  if [ -d "$dir/data" ]; then
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  fi
  rm -rf "$dir"
  ;;
esac
