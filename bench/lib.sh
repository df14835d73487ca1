# shellcheck shell=bash
# Shared helpers of the bench/*.sh benchmarks; sourced, not run:
#
#   ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Needs ROOT (the repository) before it is sourced, and START_DEADLINE_SECS before start_server.
# Sourcing it sets BIN (from BENCH_BIN or CARGO_TARGET_DIR; BENCH_BIN implies SKIP_BUILD=1) and
# ADMIN_PASSWORD, and clears OPSCONDUCTOR_* from the environment. bench_setup then installs the
# tools, builds the binary and creates the work directory ($WORK, removed on exit unless KEEP_WORK=1).
# The caller may fill the array SERVER_ENV with extra VAR=VALUE settings for start_server, BG_PIDS
# with the ids of background processes it started (stopped on exit with SIGTERM, then waited for up
# to 5 s) and CLEANUP_HOOKS with names of functions that cleanup runs first (they must not fail).

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${BENCH_BIN:-$TARGET_DIR/release/opsconductor}
if [ -n "${BENCH_BIN:-}" ]; then
    SKIP_BUILD=1
fi
ADMIN_PASSWORD='bench-Admin-passw0rd'
SERVER_ENV=()
CLEANUP_HOOKS=()

# The server reads OPSCONDUCTOR_* from the environment: start it from a clean slate.
while read -r var; do
    unset "$var"
done < <(compgen -e | grep '^OPSCONDUCTOR_' || true)

say() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------------------------------------
# Tools

APT_UPDATED=0
apt_install() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "need root (or sudo) to install: $*"
        sudo=(sudo)
    fi
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "apt-get update"
        "${sudo[@]}" apt-get update -qq
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

need_tool() { # COMMAND DEBIAN-PACKAGE
    command -v "$1" >/dev/null && return 0
    apt_install "$2"
    command -v "$1" >/dev/null || die "$1 still missing after installing $2"
}

# bench_setup WORK-PREFIX: tools, release build, and the work directory
# ${TMPDIR:-/tmp}/WORK-PREFIX.XXXXXX, cleaned up (server and BG_PIDS stopped) on exit.
bench_setup() {
    need_tool wrk wrk
    need_tool curl curl
    need_tool python3 python3

    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        say "cargo build --release -p opsconductor"
        cargo build --release -p opsconductor
    fi
    [ -x "$BIN" ] || die "no binary at $BIN (build it, or unset SKIP_BUILD)"

    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    SERVER_PID=""
    SERVER_LOG=""
    BG_PIDS=()
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# ---------------------------------------------------------------------------------------------
# Server lifecycle, cleanup

alive() { # PID: running and not a zombie
    local stat
    [ -r "/proc/$1/stat" ] || return 1
    # (the process may go between the test and the read: keep bash's redirection error quiet)
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

cleanup() {
    local status=$?
    set +e
    local pid hook
    for hook in "${CLEANUP_HOOKS[@]}"; do
        "$hook"
    done
    for pid in "${BG_PIDS[@]}"; do
        alive "$pid" && kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${BG_PIDS[@]}"; do
        for _ in $(seq 50); do
            alive "$pid" || break
            sleep 0.1
        done
    done
    if [ -n "$SERVER_PID" ] && alive "$SERVER_PID"; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 100); do
            alive "$SERVER_PID" || break
            sleep 0.1
        done
        alive "$SERVER_PID" && kill -KILL "$SERVER_PID" 2>/dev/null
    fi
    if [ "${KEEP_WORK:-0}" = 1 ]; then
        echo "bench: work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}

now_us() { # VAR: microseconds since the epoch (EPOCHREALTIME may use a decimal comma)
    local _now=$EPOCHREALTIME
    printf -v "$1" '%s' "${_now//[.,]/}"
}

server_failed() { # MESSAGE
    echo "bench: error: the server $1; its log:" >&2
    tail -n 60 "$SERVER_LOG" >&2 2>/dev/null || true
    exit 1
}

# start_server DATA_DIR LOG: spawns the server (with SERVER_ENV on top of the settings below),
# waits until GET /health answers 200 and sets SERVER_PID, ADDR and START_MS (spawn to first
# 200, in ms).
start_server() {
    local dir=$1 t0 t deadline code addr=""
    local addr_re='^[][0-9a-fA-F.:]+:[0-9]+$'
    local launch=()
    SERVER_LOG=$2
    mkdir -p "$dir"
    rm -f "$dir/listen-addr" # a restart must not read the previous run's port
    [ "${#SERVER_ENV[@]}" -eq 0 ] || launch=(env "${SERVER_ENV[@]}")
    now_us t0
    OPSCONDUCTOR_DATA_DIR="$dir" \
        OPSCONDUCTOR_LISTEN=127.0.0.1:0 \
        OPSCONDUCTOR_HTTP_LISTEN=off \
        OPSCONDUCTOR_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
        OPSCONDUCTOR_LOG=warn \
        "${launch[@]}" "$BIN" serve >>"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    deadline=$((t0 + START_DEADLINE_SECS * 1000000))
    while :; do
        if [ -z "$addr" ] && [ -s "$dir/listen-addr" ]; then
            read -r addr <"$dir/listen-addr" || true
            [[ $addr =~ $addr_re ]] || addr=""
        fi
        if [ -n "$addr" ]; then
            code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 2 "https://$addr/health" || true)
            if [ "$code" = 200 ]; then
                now_us t
                # shellcheck disable=SC2034 # START_MS and ADDR are for the caller
                START_MS=$(((t - t0 + 500) / 1000)) ADDR=$addr
                return 0
            fi
        fi
        alive "$SERVER_PID" || server_failed "exited before GET /health answered 200"
        now_us t
        [ "$t" -lt "$deadline" ] ||
            server_failed "did not answer GET /health with 200 within ${START_DEADLINE_SECS}s (last status: ${code:-none}, address: ${addr:-not written})"
        sleep 0.005
    done
}

# stop_server: SIGTERM, wait (15 s deadline, then SIGKILL); sets STOP_MS and STOP_STATUS (a
# non-zero exit is reported and counted in STOP_FAILURES).
stop_server() {
    local t0 t
    STOP_STATUS=0
    [ -n "$SERVER_PID" ] || return 0
    now_us t0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1500); do
        alive "$SERVER_PID" || break
        sleep 0.01
    done
    if alive "$SERVER_PID"; then
        echo "bench: warning: the server ignored SIGTERM for 15 s; killing it" >&2
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || STOP_STATUS=$?
    now_us t
    # shellcheck disable=SC2034 # for the caller
    STOP_MS=$(((t - t0 + 500) / 1000))
    SERVER_PID=""
    if [ "$STOP_STATUS" -ne 0 ]; then
        echo "bench: warning: the server exited with status $STOP_STATUS after SIGTERM; log: $SERVER_LOG" >&2
        tail -n 20 "$SERVER_LOG" >&2 || true
        STOP_FAILURES=$((STOP_FAILURES + 1))
    fi
}
STOP_FAILURES=0

# ---------------------------------------------------------------------------------------------
# Measurements

rss_kib() { # PID FIELD (VmRSS, VmHWM)
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

# wrk_get NAME FIELD: rps, p50, p99 (in ms), requests, non2xx, errors of $WORK/wrk-NAME.txt
wrk_get() {
    awk -v field="$2" '
    function ms(v) {
        if (v ~ /us$/) return v / 1000
        if (v ~ /ms$/) return v + 0
        if (v ~ /m$/) return v * 60000
        if (v ~ /s$/) return v * 1000
        return v
    }
    /^ +50% / { p50 = ms($2) }
    /^ +99% / { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 }
    / requests in / { requests = $1 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { gsub(",", ""); errors = $4 + $6 + $8 + $10 }
    END {
        if (field == "rps") printf "%.1f", rps
        else if (field == "p50") printf "%.2f", p50
        else if (field == "p99") printf "%.2f", p99
        else if (field == "requests") printf "%d", requests
        else if (field == "non2xx") printf "%d", non2xx
        else if (field == "errors") printf "%d", errors
    }' "$WORK/wrk-$1.txt"
}

# ---------------------------------------------------------------------------------------------
# Shared by engine.sh (targets.sh and foundation.sh keep their own copies of some of these)

CLK_TCK=$(getconf CLK_TCK)

cpu_ticks() { # PID: user + system clock ticks used so far
    local stat
    read -r stat <"/proc/$1/stat"
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}

tree_ticks() { # PID: user + system clock ticks of the process and its reaped children so far
    local stat
    read -r stat <"/proc/$1/stat"
    stat=${stat##*) }
    awk '{ print $12 + $13 + $14 + $15 }' <<<"$stat"
}

host_ticks() { # "busy total" clock ticks of all cores so far (/proc/stat)
    awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat
}

# children_cpu_s VAR: user + system seconds of this shell's reaped children so far (bash
# `times`, run in this shell: in a command substitution it would see the subshell's instead)
children_cpu_s() {
    local _file
    _file=$(mktemp)
    times >"$_file"
    printf -v "$1" '%s' "$(awk 'NR == 2 {
        n = split($0, f, " "); s = 0
        for (i = 1; i <= n; i++) { split(f[i], ms, "m"); s += ms[1] * 60 + ms[2] }
        printf "%.3f", s }' "$_file")"
    rm -f "$_file"
}

# cpu_pct TICKS MICROSECONDS: CPU used over a wall-clock interval, in % of one core
cpu_pct() {
    awk -v c="$1" -v hz="$CLK_TCK" -v us="$2" 'BEGIN { printf "%.0f", (us > 0 ? c / hz * 100 / (us / 1e6) : 0) }'
}

redact_url() { # URL without its password
    python3 -c '
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
netloc = u.netloc
if u.password is not None:
    netloc = netloc.replace(":" + u.password + "@", ":***@", 1)
print(urllib.parse.urlunsplit((u.scheme, netloc, u.path, "", "")))' "$1"
}

free_port() { # a TCP port free on all addresses right now (the caller binds it soon after)
    python3 -c '
import socket
s = socket.socket()
s.bind(("0.0.0.0", 0))
print(s.getsockname()[1])'
}

# login_token: the admin's access token from POST /api/login on https://$ADDR, verified
# against $CA; fails loudly.
login_token() {
    local out code body
    out=$(ADMIN_PASSWORD=$ADMIN_PASSWORD python3 -c '
import json, os
print(json.dumps({"username": "admin", "password": os.environ["ADMIN_PASSWORD"]}))' |
        curl -sS --cacert "$CA" --max-time 30 -H 'Content-Type: application/json' \
            --data-binary @- -w '\n%{http_code}' "https://$ADDR/api/login") ||
        die "POST /api/login failed (curl, verifying against $CA)"
    code=${out##*$'\n'}
    body=${out%$'\n'*}
    [ "$code" = 200 ] || die "POST /api/login answered $code: $body (a reused database with another admin password?)"
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])' <<<"$body" ||
        die "no access_token in the login answer: $body"
}

# api_json METHOD PATH BODY-FILE|- WANT-STATUS: the JSON answer on stdout (uses $TOKEN, $CA,
# $ADDR); any other status is fatal and shows the answer.
api_json() {
    local method=$1 path=$2 body=$3 want=$4 out code
    local data=()
    [ "$body" = - ] || data=(-H 'Content-Type: application/json' --data-binary "@$body")
    out=$(curl -sS --cacert "$CA" --max-time 120 -X "$method" -H "Authorization: Bearer $TOKEN" \
        "${data[@]}" -w '\n%{http_code}' "https://$ADDR$path") || die "$method $path failed (curl)"
    code=${out##*$'\n'}
    [ "$code" = "$want" ] || die "$method $path answered $code (expected $want): $(head -c 600 <<<"${out%$'\n'*}")"
    printf '%s\n' "${out%$'\n'*}"
}
