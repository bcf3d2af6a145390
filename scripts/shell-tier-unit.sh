#!/usr/bin/env bash
# The shell tier sweep replaces, kept as a benchmark baseline (npm run bench -- worker):
# one unit's SQL files run by `xargs -P16`, one `clickhouse-client --multiquery`
# process per file, each file's output appended to the unit's results under `flock`.
# It reproduces what the field scripts did (reference/bash-tier.md), including what
# they did wrong: no retry, error text appended raw, no skip-done. Do not use it.
#
# usage: shell-tier-unit.sh SQL_DIR OUT_FILE [TCP_PORT] [MAX_THREADS]
#   SQL_DIR      the unit's SQL files (<sweep>/sql/<unit>)
#   OUT_FILE     appended to (created if missing)
#   TCP_PORT     ClickHouse native port (default 9000); host from CH_HOST (default 127.0.0.1)
#   MAX_THREADS  passed as --max_threads when given
# env: PARALLEL (default 16), CLICKHOUSE_CLIENT (default clickhouse-client)
set -euo pipefail

sql_dir=${1:?usage: shell-tier-unit.sh SQL_DIR OUT_FILE [TCP_PORT] [MAX_THREADS]}
out=${2:?usage: shell-tier-unit.sh SQL_DIR OUT_FILE [TCP_PORT] [MAX_THREADS]}
port=${3:-9000}
threads=${4:-}
export out port threads
export CH_HOST=${CH_HOST:-127.0.0.1}
export CLICKHOUSE_CLIENT=${CLICKHOUSE_CLIENT:-clickhouse-client}
mkdir -p "$(dirname "$out")"
: >>"$out"

run_one() {
  local f=$1 id res status
  id=$(basename "$f" .sql)
  if res=$("$CLICKHOUSE_CLIENT" --host "$CH_HOST" --port "$port" ${threads:+--max_threads="$threads"} --multiquery --format TSV <"$f" 2>&1); then
    status=ok
  else
    status=error
  fi
  # One line per output row, tagged with the config id, appended under the unit's lock.
  {
    flock 9
    printf '%s\n' "$res" | while IFS= read -r line; do printf '%s\t%s\t%s\n' "$id" "$status" "$line"; done >>"$out"
  } 9>>"$out.lock"
}
export -f run_one

find "$sql_dir" -name '*.sql' -print0 | xargs -0 -P "${PARALLEL:-16}" -n 1 bash -c 'run_one "$1"' _
