#!/usr/bin/env bash
# Foundation benchmark of the `opsconductor` binary: start-up time, memory, request throughput and
# latency of authenticated reads, login throughput, and whether other requests stay fast while
# logins (argon2id) load the machine. Runs on Debian; loopback only; stops by itself.
#
#   bench/foundation.sh                  # builds the release binary, ~1.5 min of load in all
#   DURATION=5s SKIP_BUILD=1 bench/foundation.sh
#
# Settings (environment):
#   DURATION=15s        length of each wrk run (wrk syntax: 15s, 1m)
#   CONNECTIONS=50      connections of the main wrk runs
#   THREADS=2           wrk threads of the main runs
#   SIDE_CONNECTIONS=10 connections of the /api/verify probe that runs beside the login load
#   SIDE_DELAY_MS=10    pause of each probe connection between requests (0 = as fast as it can);
#                       the same probe also runs once without the login load, as the baseline
#   STARTS=5            start-up measurements of each kind (first start, restart)
#   SETTLE_SECS=2       wait before reading the idle RSS
#   START_DEADLINE_SECS=60  how long a start may take before the run fails
#   SKIP_BUILD=1        use the existing target/release/opsconductor
#   BENCH_BIN=PATH      benchmark this binary instead (implies SKIP_BUILD=1)
#   KEEP_WORK=1         keep the temporary directory (data dirs, server logs, wrk outputs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-2}
SIDE_CONNECTIONS=${SIDE_CONNECTIONS:-10}
SIDE_DELAY_MS=${SIDE_DELAY_MS:-10}
STARTS=${STARTS:-5}
SETTLE_SECS=${SETTLE_SECS:-2}
START_DEADLINE_SECS=${START_DEADLINE_SECS:-60}

bench_setup opsconductor-bench

stats() { # numbers on stdin -> "median min max"
    python3 -c '
import statistics, sys
xs = [float(x) for x in sys.stdin.read().split()]
print("%g %g %g" % (statistics.median(xs), min(xs), max(xs)))'
}

# ---------------------------------------------------------------------------------------------
# 1. Start-up

say "start-up: $STARTS first starts (fresh data dir each) and $STARTS restarts"
FIRST_MS=()
RESTART_MS=()
STOPS_MS=()
for i in $(seq "$STARTS"); do
    dir="$WORK/start-$i"
    start_server "$dir" "$WORK/start-$i.log"
    FIRST_MS+=("$START_MS")
    stop_server
    STOPS_MS+=("$STOP_MS")
    start_server "$dir" "$WORK/start-$i.log"
    RESTART_MS+=("$START_MS")
    stop_server
    STOPS_MS+=("$STOP_MS")
    rm -rf "$dir"
    echo "    run $i: first start ${FIRST_MS[-1]} ms, restart ${RESTART_MS[-1]} ms" >&2
done
read -r FIRST_MED FIRST_MIN FIRST_MAX < <(printf '%s\n' "${FIRST_MS[@]}" | stats)
read -r RESTART_MED RESTART_MIN RESTART_MAX < <(printf '%s\n' "${RESTART_MS[@]}" | stats)
read -r STOP_MED _ STOP_MAX < <(printf '%s\n' "${STOPS_MS[@]}" | stats)

# ---------------------------------------------------------------------------------------------
# 2. The server under test, idle memory

DATA="$WORK/data"
start_server "$DATA" "$WORK/server.log"
say "server up at https://$ADDR (pid $SERVER_PID) after $START_MS ms; settling ${SETTLE_SECS}s"
sleep "$SETTLE_SECS"
RSS_IDLE=$(rss_kib "$SERVER_PID" VmRSS)
CA="$DATA/tls/ca.pem"
[ -s "$CA" ] || die "no CA certificate at $CA"

LOGIN_BODY=$(ADMIN_PASSWORD=$ADMIN_PASSWORD python3 -c '
import json, os
print(json.dumps({"username": "admin", "password": os.environ["ADMIN_PASSWORD"]}))')

login() { # prints the access token; fails loudly
    local out code body
    out=$(curl -sS --cacert "$CA" --max-time 30 -H 'Content-Type: application/json' \
        -d "$LOGIN_BODY" -w '\n%{http_code}' "https://$ADDR/api/login") ||
        die "POST /api/login failed (curl, verifying against $CA)"
    code=${out##*$'\n'}
    body=${out%$'\n'*}
    [ "$code" = 200 ] || die "POST /api/login answered $code: $body"
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])' <<<"$body" ||
        die "no access_token in the login answer: $body"
}

check_get() { # PATH TOKEN: one request must answer 200
    local out code
    out=$(curl -sS --cacert "$CA" --max-time 10 -H "Authorization: Bearer $2" \
        -w '\n%{http_code}' "https://$ADDR$1") || die "GET $1 failed (curl)"
    code=${out##*$'\n'}
    [ "$code" = 200 ] || die "GET $1 answered $code: ${out%$'\n'*}"
}

TOKEN=$(login)
check_get /users "$TOKEN"
check_get /api/verify "$TOKEN"

# ---------------------------------------------------------------------------------------------
# 3. Load

# Login script: POST with a JSON body; counts answers by status so 429s or 5xx show up.
LOGIN_LUA="$WORK/login.lua"
{
    printf 'wrk.method = "POST"\nwrk.body = [[%s]]\nwrk.headers["Content-Type"] = "application/json"\n' "$LOGIN_BODY"
    cat <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do total[code] = (total[code] or 0) + n end
  end
  for code, n in pairs(total) do io.write(string.format("status %d: %d\n", code, n)) end
end
LUA
} >"$LOGIN_LUA"

# Probe script: each connection pauses SIDE_DELAY_MS between requests (light, steady traffic).
PROBE_LUA="$WORK/probe.lua"
printf 'function delay() return %d end\n' "$SIDE_DELAY_MS" >"$PROBE_LUA"

# wrk_run NAME THREADS CONNECTIONS TIMEOUT URL [wrk args...]: output in $WORK/wrk-NAME.txt
wrk_run() {
    local name=$1 threads=$2 conns=$3 timeout=$4 url=$5
    shift 5
    wrk -t"$threads" -c"$conns" -d"$DURATION" --timeout "$timeout" --latency "$@" "$url" \
        >"$WORK/wrk-$name.txt" 2>&1
}

wrk_show() { # NAME TITLE
    echo "---- $2"
    cat "$WORK/wrk-$1.txt"
}

AUTH="Authorization: Bearer $TOKEN"
BASE="https://$ADDR"

say "GET /users: $CONNECTIONS connections, $THREADS threads, $DURATION"
TOKEN=$(login)
AUTH="Authorization: Bearer $TOKEN"
wrk_run users "$THREADS" "$CONNECTIONS" 10s "$BASE/users" -H "$AUTH"
wrk_show users "GET /users"
RSS_USERS=$(rss_kib "$SERVER_PID" VmRSS)

say "GET /api/verify: $CONNECTIONS connections, $THREADS threads, $DURATION"
TOKEN=$(login)
AUTH="Authorization: Bearer $TOKEN"
wrk_run verify "$THREADS" "$CONNECTIONS" 10s "$BASE/api/verify" -H "$AUTH"
wrk_show verify "GET /api/verify"
RSS_VERIFY=$(rss_kib "$SERVER_PID" VmRSS)

say "baseline probe: GET /api/verify, $SIDE_CONNECTIONS connections, ${SIDE_DELAY_MS} ms pause, no other load"
TOKEN=$(login)
AUTH="Authorization: Bearer $TOKEN"
wrk_run probe-idle 1 "$SIDE_CONNECTIONS" 10s "$BASE/api/verify" -H "$AUTH" -s "$PROBE_LUA"
wrk_show probe-idle "probe GET /api/verify without login load"

say "POST /api/login: $CONNECTIONS connections, $THREADS threads, $DURATION; probe GET /api/verify beside it"
TOKEN=$(login)
AUTH="Authorization: Bearer $TOKEN"
# Started directly (not through wrk_run) so that $! is wrk itself and cleanup can stop it.
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 60s --latency -s "$LOGIN_LUA" \
    "$BASE/api/login" >"$WORK/wrk-login.txt" 2>&1 &
BG_PIDS+=("$!")
wrk -t1 -c"$SIDE_CONNECTIONS" -d"$DURATION" --timeout 10s --latency -s "$PROBE_LUA" -H "$AUTH" \
    "$BASE/api/verify" >"$WORK/wrk-probe-login.txt" 2>&1 &
BG_PIDS+=("$!")
WRK_FAILED=0
for pid in "${BG_PIDS[@]}"; do
    wait "$pid" || WRK_FAILED=1
done
BG_PIDS=()
wrk_show login "POST /api/login"
wrk_show probe-login "probe GET /api/verify during login load"
[ "$WRK_FAILED" -eq 0 ] || die "wrk failed during the login load (outputs above)"

alive "$SERVER_PID" || server_failed "died during the load"
RSS_LOAD=$(rss_kib "$SERVER_PID" VmRSS)
RSS_PEAK=$(rss_kib "$SERVER_PID" VmHWM)
check_get /api/verify "$(login)"

LOG_LINES=$(cat "$WORK"/start-*.log "$WORK/server.log" | grep -c . || true)
stop_server

# ---------------------------------------------------------------------------------------------
# 4. Summary

LOGIN_STATUSES=$(grep '^status ' "$WORK/wrk-login.txt" | sed 's/^status //' | sort | paste -sd ' ' || true)

row() { # NAME CONNS
    printf '%-44s %5s %10s %10s %10s %9s %7s\n' "$1" "$2" "$(wrk_get "$3" rps)" \
        "$(wrk_get "$3" p50)" "$(wrk_get "$3" p99)" "$(wrk_get "$3" non2xx)" "$(wrk_get "$3" errors)"
}

{
    echo
    echo "================ OpsConductor foundation benchmark ================"
    echo "commit $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "wrk runs of $DURATION; main runs $CONNECTIONS connections / $THREADS threads; probe $SIDE_CONNECTIONS connections, ${SIDE_DELAY_MS} ms pause"
    echo
    printf '%-44s %s\n' "start-up, first start (fresh data dir)" "median ${FIRST_MED} ms (min ${FIRST_MIN}, max ${FIRST_MAX}; n=$STARTS)"
    printf '%-44s %s\n' "start-up, restart (existing data dir)" "median ${RESTART_MED} ms (min ${RESTART_MIN}, max ${RESTART_MAX}; n=$STARTS)"
    printf '%-44s %s\n' "shutdown after SIGTERM" "median ${STOP_MED} ms (max ${STOP_MAX}); non-zero exits: $STOP_FAILURES"
    printf '%-44s %s\n' "RSS idle (after ${SETTLE_SECS}s settle)" "$(mib "$RSS_IDLE")"
    printf '%-44s %s\n' "RSS after load" "$(mib "$RSS_LOAD") (peak VmHWM $(mib "$RSS_PEAK"))"
    printf '%-44s %s\n' "  after GET /users, GET /api/verify" "$(mib "$RSS_USERS"), $(mib "$RSS_VERIFY")"
    echo
    printf '%-44s %5s %10s %10s %10s %9s %7s\n' "load" "conns" "req/s" "p50 ms" "p99 ms" "non-2xx" "errors"
    row "GET /users" "$CONNECTIONS" users
    row "GET /api/verify" "$CONNECTIONS" verify
    row "POST /api/login (logins/s)" "$CONNECTIONS" login
    row "probe GET /api/verify, no other load" "$SIDE_CONNECTIONS" probe-idle
    row "probe GET /api/verify, during login load" "$SIDE_CONNECTIONS" probe-login
    echo
    echo "login answers by status: ${LOGIN_STATUSES:-none}"
    echo "server log lines (OPSCONDUCTOR_LOG=warn), all starts and the load: $LOG_LINES"
    echo "===================================================================="
} | tee "$WORK/summary.txt"

if [ "$LOG_LINES" -gt 0 ]; then
    echo "first server log lines:" >&2
    cat "$WORK"/start-*.log "$WORK/server.log" | head -n 20 >&2
fi
