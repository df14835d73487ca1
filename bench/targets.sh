#!/usr/bin/env bash
# Target inventory benchmark of the `opsconductor` binary: bulk import of a realistic inventory
# (10,000 targets by default, in one POST /targets/import) and the throughput and latency of the
# filtered listing (tags, protocol, substring search, deep pages), with memory before and after.
# Checks every filtered total against the generated data. Runs on Debian; loopback only; stops
# by itself.
#
#   bench/targets.sh                         # builds the release binary, ~1 min of load in all
#   DURATION=5s SKIP_BUILD=1 bench/targets.sh
#   DATABASE_URL=postgres://user@host/emptydb SKIP_BUILD=1 bench/targets.sh
#
# Settings (environment):
#   COUNT=10000         targets to import (the server takes at most 10000 per call)
#   DURATION=10s        length of each wrk run (wrk syntax: 10s, 1m)
#   CONNECTIONS=50      wrk connections
#   THREADS=2           wrk threads
#   SINGLE_RUNS=5       unloaded single requests per query (fresh curl each; median reported)
#   WARMUP=10           requests per query before the single-request timings
#   SEED=1              seed of the generated inventory
#   DATABASE_URL=URL    run the server on this PostgreSQL database (must be empty: a fresh
#                       database); default: SQLite in the temporary data dir
#   BODY_LIMIT_BYTES=N  raise the server's request body limit (OPSCONDUCTOR_HTTP__BODY_LIMIT_BYTES);
#                       default: the server's own default (1 MiB)
#   IMPORT_FALLBACK=1   if the single import call is refused with 413 (body too large), import
#                       in several calls that fit and say so in the summary; 0 = fail instead
#   IMPORT_TIMEOUT_SECS=600  deadline of the import request(s)
#   SETTLE_SECS=2       wait before reading the idle RSS
#   START_DEADLINE_SECS=60  how long the start may take before the run fails
#   SKIP_BUILD=1        use the existing target/release/opsconductor
#   BENCH_BIN=PATH      benchmark this binary instead (implies SKIP_BUILD=1)
#   KEEP_WORK=1         keep the temporary directory (data dir, server log, payloads, wrk outputs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

COUNT=${COUNT:-10000}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-2}
SINGLE_RUNS=${SINGLE_RUNS:-5}
WARMUP=${WARMUP:-10}
SEED=${SEED:-1}
DATABASE_URL=${DATABASE_URL:-}
BODY_LIMIT_BYTES=${BODY_LIMIT_BYTES:-}
IMPORT_FALLBACK=${IMPORT_FALLBACK:-1}
IMPORT_TIMEOUT_SECS=${IMPORT_TIMEOUT_SECS:-600}
SETTLE_SECS=${SETTLE_SECS:-2}
START_DEADLINE_SECS=${START_DEADLINE_SECS:-60}
DEFAULT_BODY_LIMIT=1048576 # HttpConfig::body_limit_bytes default

[[ $COUNT =~ ^[1-9][0-9]*$ ]] || die "COUNT must be a positive integer (got '$COUNT')"
[[ $SINGLE_RUNS =~ ^[1-9][0-9]*$ ]] || die "SINGLE_RUNS must be a positive integer"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer"
if [ -n "$BODY_LIMIT_BYTES" ]; then
    [[ $BODY_LIMIT_BYTES =~ ^[1-9][0-9]*$ ]] || die "BODY_LIMIT_BYTES must be a positive integer"
fi
case "$DATABASE_URL" in
"" | postgres://* | postgresql://*) ;;
*) die "DATABASE_URL must be a postgres:// URL (or unset for SQLite)" ;;
esac
[ -z "$DATABASE_URL" ] || SERVER_ENV+=("OPSCONDUCTOR_DATABASE_URL=$DATABASE_URL")
[ -z "$BODY_LIMIT_BYTES" ] || SERVER_ENV+=("OPSCONDUCTOR_HTTP__BODY_LIMIT_BYTES=$BODY_LIMIT_BYTES")

bench_setup opsconductor-bench-targets

cpu_ticks() { # PID: user + system clock ticks used so far
    local stat
    read -r stat <"/proc/$1/stat"
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}
CLK_TCK=$(getconf CLK_TCK)

host_ticks() { # "busy total" clock ticks of all cores so far (/proc/stat)
    awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat
}

median() { # numbers on stdin -> median
    python3 -c '
import statistics, sys
print("%.2f" % statistics.median(float(x) for x in sys.stdin.read().split()))'
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

# ---------------------------------------------------------------------------------------------
# 1. Server, login, empty inventory

if [ -n "$DATABASE_URL" ]; then
    BACKEND="PostgreSQL $(redact_url "$DATABASE_URL")"
else
    BACKEND="SQLite (default, in the data dir)"
fi
DATA="$WORK/data"
say "starting the server ($BACKEND)"
start_server "$DATA" "$WORK/server.log"
say "server up at https://$ADDR (pid $SERVER_PID) after $START_MS ms; settling ${SETTLE_SECS}s"
sleep "$SETTLE_SECS"
CA="$DATA/tls/ca.pem"
[ -s "$CA" ] || die "no CA certificate at $CA"
BASE="https://$ADDR"

LOGIN_BODY=$(ADMIN_PASSWORD=$ADMIN_PASSWORD python3 -c '
import json, os
print(json.dumps({"username": "admin", "password": os.environ["ADMIN_PASSWORD"]}))')

login() { # prints the access token; fails loudly
    local out code body
    out=$(curl -sS --cacert "$CA" --max-time 30 -H 'Content-Type: application/json' \
        -d "$LOGIN_BODY" -w '\n%{http_code}' "$BASE/api/login") ||
        die "POST /api/login failed (curl, verifying against $CA)"
    code=${out##*$'\n'}
    body=${out%$'\n'*}
    [ "$code" = 200 ] || die "POST /api/login answered $code: $body (a reused database with another admin password?)"
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])' <<<"$body" ||
        die "no access_token in the login answer: $body"
}

# api METHOD PATH BODY-FILE|- OUT-FILE [curl args...]: prints "STATUS SIZE SECONDS"
api() {
    local method=$1 path=$2 body=$3 out=$4
    shift 4
    local data=()
    [ "$body" = - ] || data=(-H 'Content-Type: application/json' --data-binary "@$body")
    curl -sS --cacert "$CA" -X "$method" -H "Authorization: Bearer $TOKEN" "${data[@]}" \
        -o "$out" -w '%{http_code} %{size_download} %{time_total}\n' "$@" "$BASE$path" ||
        die "$method $path failed (curl)"
}

json_field() { # FILE EXPRESSION-ON-d
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

TOKEN=$(login)
AUTH="Authorization: Bearer $TOKEN"

read -r code _ _ < <(api GET '/targets?limit=1' - "$WORK/pre.json" --max-time 30)
[ "$code" = 200 ] || die "GET /targets answered $code: $(head -c 500 "$WORK/pre.json")"
PRE_TOTAL=$(json_field "$WORK/pre.json" 'd["total"]')
[ "$PRE_TOTAL" = 0 ] || die "the inventory already holds $PRE_TOTAL targets: point DATABASE_URL at a fresh, empty database"

RSS_IDLE=$(rss_kib "$SERVER_PID" VmRSS)

# ---------------------------------------------------------------------------------------------
# 2. Credential, generated inventory, import

printf '%s' '{"name":"bench-cred","credential_type":"ssh","credential_data":{"username":"root","password":"x"}}' \
    >"$WORK/cred.json"
read -r code _ _ < <(api POST /credentials "$WORK/cred.json" "$WORK/cred-out.json" --max-time 30)
[ "$code" = 201 ] || die "POST /credentials answered $code: $(head -c 500 "$WORK/cred-out.json")"
CRED_ID=$(json_field "$WORK/cred-out.json" 'd["id"]')

BUDGET=${BODY_LIMIT_BYTES:-$DEFAULT_BODY_LIMIT}
say "generating $COUNT targets (seed $SEED, credential $CRED_ID)"
# Writes import-all.json (one array), import-chunk-N.json (arrays that each fit the body limit,
# used only when the single call is refused), expected.json (what each query must return) and
# mix.txt (the generated distribution).
COUNT=$COUNT SEED=$SEED CRED_ID=$CRED_ID BUDGET=$BUDGET OUT=$WORK python3 - <<'PY'
import json, os, random
from collections import Counter

count = int(os.environ["COUNT"]); cred = int(os.environ["CRED_ID"])
budget = int(os.environ["BUDGET"]); out = os.environ["OUT"]
rng = random.Random(int(os.environ["SEED"]))

def pick(weights):
    x = rng.random()
    for value, w in weights:
        if x < w:
            return value
        x -= w
    return weights[-1][0]

rows = []
for i in range(1, count + 1):
    dc = "dc%d" % rng.randint(1, 4)
    tags = ["env:" + pick([("prod", .60), ("stage", .30), ("dev", .10)]),
            "role:" + rng.choice(["web", "db", "cache", "app"]),
            "dc:" + dc]
    if rng.random() < 0.01:
        tags.append("team:payments")
    rows.append({"name": "t-%05d" % i,
                 "hostname": "host-%05d.%s.example.com" % (i, dc),
                 "protocol": pick([("ssh", .70), ("winrm", .25), ("http", .05)]),
                 "credential_ref": cred,
                 "tags": tags})

dump = lambda v: json.dumps(v, separators=(",", ":"))
with open(os.path.join(out, "import-all.json"), "w") as f:
    f.write(dump(rows))

# Greedy chunks whose JSON stays under the body limit (with some room).
chunks, cur, size = [], [], 2
for r in rows:
    n = len(dump(r)) + 1
    if cur and size + n > budget * 0.95:
        chunks.append(cur); cur, size = [], 2
    cur.append(r); size += n
if cur:
    chunks.append(cur)
for k, c in enumerate(chunks, 1):
    with open(os.path.join(out, "import-chunk-%d.json" % k), "w") as f:
        f.write(dump(c))

def query(tags=(), protocol=None, q=None, skip=0, limit=50):
    hits = [r for r in rows
            if all(t in r["tags"] for t in tags)
            and (protocol is None or r["protocol"] == protocol)
            and (q is None or q.lower() in r["name"].lower() or q.lower() in r["hostname"].lower())]
    hits.reverse()  # newest first: imported in order, so ids grow with the names
    page = hits[skip:skip + limit]
    return {"total": len(hits), "page": len(page), "first": page[0]["name"] if page else None}

expected = {
    "a": query(),
    "b": query(tags=["env:prod", "role:web"]),
    "c": query(tags=["env:prod", "role:web"], protocol="ssh"),
    "d": query(tags=["team:payments"]),
    "e": query(q="host-0123"),
    "f": query(tags=["env:prod"], skip=5000),
}
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f)

def share(counter):
    return ", ".join("%s %.1f%%" % (k, 100.0 * v / count) for k, v in counter.most_common())
tags = Counter(t for r in rows for t in r["tags"])
with open(os.path.join(out, "mix.txt"), "w") as f:
    f.write("protocols: %s\n" % share(Counter(r["protocol"] for r in rows)))
    f.write("env: %s\n" % share(Counter({k: v for k, v in tags.items() if k.startswith("env:")})))
    f.write("role: %s; dc: %s; team:payments %d\n" % (
        share(Counter({k: v for k, v in tags.items() if k.startswith("role:")})),
        share(Counter({k: v for k, v in tags.items() if k.startswith("dc:")})),
        tags["team:payments"]))
PY
IMPORT_BYTES=$(stat -c %s "$WORK/import-all.json")
CHUNKS=$(find "$WORK" -maxdepth 1 -name 'import-chunk-*.json' | wc -l)
sed 's/^/    /' "$WORK/mix.txt" >&2

IMPORT_NOTE=""
t0=0 t1=0
say "POST /targets/import: $COUNT targets in one call ($IMPORT_BYTES bytes)"
TOKEN=$(login)
now_us t0
read -r IMPORT_CODE _ _ < <(api POST /targets/import "$WORK/import-all.json" "$WORK/import-out.json" \
    --max-time "$IMPORT_TIMEOUT_SECS")
now_us t1
IMPORT_MS=$(((t1 - t0 + 500) / 1000))
IMPORT_CALLS=1
if [ "$IMPORT_CODE" = 201 ]; then
    IMPORTED=$(json_field "$WORK/import-out.json" 'd["created"]')
else
    SINGLE_ERR=$(head -c 300 "$WORK/import-out.json" | tr '\n' ' ')
    echo "bench: the single import call answered $IMPORT_CODE after $IMPORT_MS ms: $SINGLE_ERR" >&2
    SINGLE_NOTE="single call of $COUNT targets ($IMPORT_BYTES bytes) answered $IMPORT_CODE after $IMPORT_MS ms"
    if [ "$IMPORT_CODE" != 413 ] || [ "$IMPORT_FALLBACK" != 1 ] || [ "$CHUNKS" -le 1 ]; then
        die "$SINGLE_NOTE: $SINGLE_ERR"
    fi
    read -r code _ _ < <(api GET '/targets?limit=1' - "$WORK/pre.json" --max-time 30)
    [ "$code" = 200 ] || die "GET /targets answered $code: $(head -c 500 "$WORK/pre.json")"
    PRE_TOTAL=$(json_field "$WORK/pre.json" 'd["total"]')
    [ "$PRE_TOTAL" = 0 ] || die "the refused import left $PRE_TOTAL targets behind (it should be all or none)"
    say "413: importing in $CHUNKS calls of at most $((BUDGET * 95 / 100)) bytes instead (IMPORT_FALLBACK=1)"
    IMPORTED=0
    now_us t0
    for k in $(seq "$CHUNKS"); do
        read -r code _ _ < <(api POST /targets/import "$WORK/import-chunk-$k.json" "$WORK/import-out.json" \
            --max-time "$IMPORT_TIMEOUT_SECS")
        [ "$code" = 201 ] || die "import call $k/$CHUNKS answered $code: $(head -c 500 "$WORK/import-out.json")"
        IMPORTED=$((IMPORTED + $(json_field "$WORK/import-out.json" 'd["created"]')))
    done
    now_us t1
    IMPORT_MS=$(((t1 - t0 + 500) / 1000))
    IMPORT_CALLS=$CHUNKS
    IMPORT_NOTE="$SINGLE_NOTE (body limit ${BUDGET} bytes); imported in $CHUNKS calls instead"
fi
[ "$IMPORTED" = "$COUNT" ] || die "import created $IMPORTED targets, expected $COUNT"
say "imported $IMPORTED targets in $IMPORT_MS ms ($IMPORT_CALLS call(s))"
alive "$SERVER_PID" || server_failed "died during the import"
RSS_IMPORT=$(rss_kib "$SERVER_PID" VmRSS)

# ---------------------------------------------------------------------------------------------
# 3. Listing queries

LABELS=(a b c d e f)
declare -A QPATH=(
    [a]='/targets?limit=50'
    [b]='/targets?tag=env:prod&tag=role:web&limit=50'
    [c]='/targets?tag=env:prod&tag=role:web&protocol=ssh&limit=50'
    [d]='/targets?tag=team:payments&limit=50'
    [e]='/targets?q=host-0123&limit=50'
    [f]='/targets?tag=env:prod&skip=5000&limit=50'
)
declare -A QNAME=(
    [a]='first page, no filter'
    [b]='two tags'
    [c]='two tags + protocol'
    [d]='rare tag'
    [e]='substring search'
    [f]='deep page (skip 5000)'
)
declare -A TOTAL PAGE BYTES ONE_MS SRV_MS CHECK CPU HOST_CPU
PROBLEMS=()

for l in "${LABELS[@]}"; do
    path=${QPATH[$l]}
    TOKEN=$(login)
    AUTH="Authorization: Bearer $TOKEN"

    # One fetch: status, filtered total, page size, bytes, checked against the generated data.
    read -r code size _ < <(api GET "$path" - "$WORK/page-$l.json" --max-time 60)
    [ "$code" = 200 ] || die "GET $path answered $code: $(head -c 500 "$WORK/page-$l.json")"
    BYTES[$l]=$size
    read -r "TOTAL[$l]" "PAGE[$l]" "CHECK[$l]" < <(python3 - "$WORK/page-$l.json" "$WORK/expected.json" "$l" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); want = json.load(open(sys.argv[2]))[sys.argv[3]]
got = {"total": d["total"], "page": len(d["targets"]),
       "first": d["targets"][0]["name"] if d["targets"] else None}
bad = [k for k in ("total", "page", "first") if got[k] != want[k]]
print(got["total"], got["page"],
      "ok" if not bad else ";".join("%s=%s(want:%s)" % (k, got[k], want[k]) for k in bad))
PY
    )
    [ "${CHECK[$l]}" = ok ] || PROBLEMS+=("$l. GET $path: wrong answer: ${CHECK[$l]}")

    # Warm-up, then single unloaded requests, each a fresh curl (so a fresh TLS connection):
    # time_total, and the server's share (first byte minus the end of the TLS handshake).
    for _ in $(seq "$WARMUP"); do
        api GET "$path" - /dev/null --max-time 60 >/dev/null
    done
    : >"$WORK/single-$l.txt"
    for _ in $(seq "$SINGLE_RUNS"); do
        curl -sS --cacert "$CA" -H "$AUTH" -o /dev/null --max-time 60 \
            -w '%{http_code} %{time_total} %{time_pretransfer} %{time_starttransfer} %{http_version}\n' \
            "$BASE$path" >>"$WORK/single-$l.txt" || die "GET $path failed (curl)"
    done
    awk '$1 != 200 { bad = 1 } END { exit bad }' "$WORK/single-$l.txt" ||
        die "GET $path: a single request did not answer 200: $(cat "$WORK/single-$l.txt")"
    ONE_MS[$l]=$(awk '{ print $2 * 1000 }' "$WORK/single-$l.txt" | median)
    SRV_MS[$l]=$(awk '{ print ($4 - $3) * 1000 }' "$WORK/single-$l.txt" | median)

    say "$l. GET $path: total ${TOTAL[$l]}, ${BYTES[$l]} bytes, one request ${ONE_MS[$l]} ms; wrk $CONNECTIONS connections, $THREADS threads, $DURATION"
    c0=$(cpu_ticks "$SERVER_PID")
    read -r hb0 ht0 < <(host_ticks)
    now_us t0
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency -H "$AUTH" \
        "$BASE$path" >"$WORK/wrk-$l.txt" 2>&1 &
    BG_PIDS=("$!")
    wait "${BG_PIDS[0]}" || { cat "$WORK/wrk-$l.txt" >&2; die "wrk failed on GET $path"; }
    BG_PIDS=()
    now_us t1
    c1=$(cpu_ticks "$SERVER_PID")
    read -r hb1 ht1 < <(host_ticks)
    # The whole machine (server, wrk, and PostgreSQL when used), in % of all cores.
    HOST_CPU[$l]=$(awk -v b="$((hb1 - hb0))" -v t="$((ht1 - ht0))" 'BEGIN { printf "%.0f", (t > 0 ? b * 100 / t : 0) }')
    # Server CPU during the run, in % of one core.
    CPU[$l]=$(awk -v c="$((c1 - c0))" -v hz="$CLK_TCK" -v us="$((t1 - t0))" 'BEGIN { printf "%.0f", c / hz * 100 / (us / 1e6) }')
    echo "---- $l. GET $path"
    cat "$WORK/wrk-$l.txt"
    alive "$SERVER_PID" || server_failed "died during the load of GET $path"
    n=$(wrk_get "$l" non2xx)
    e=$(wrk_get "$l" errors)
    if [ "$n" -gt 0 ]; then
        read -r code _ _ < <(api GET "$path" - "$WORK/after-$l.json" --max-time 60)
        PROBLEMS+=("$l. GET $path: $n non-2xx answers under load (a request afterwards: $code $(head -c 200 "$WORK/after-$l.json"))")
    fi
    [ "$e" -eq 0 ] || PROBLEMS+=("$l. GET $path: $e socket errors/timeouts under load ($(grep 'Socket errors' "$WORK/wrk-$l.txt" | sed 's/^ *//'))")
done

RSS_AFTER=$(rss_kib "$SERVER_PID" VmRSS)
RSS_PEAK=$(rss_kib "$SERVER_PID" VmHWM)
stop_server
[ "$STOP_STATUS" -eq 0 ] || PROBLEMS+=("the server exited with status $STOP_STATUS after SIGTERM (stopped in $STOP_MS ms)")
LOG_LINES=$(grep -c . "$WORK/server.log" || true)
# A fresh data dir makes the server warn once that it generated the vault master key: expected.
OTHER_LOG_LINES=$(grep -v 'generated a new vault master key' "$WORK/server.log" | grep -c . || true)
[ "$OTHER_LOG_LINES" -eq 0 ] ||
    PROBLEMS+=("the server logged $OTHER_LOG_LINES unexpected lines at OPSCONDUCTOR_LOG=warn (first ones below)")
[ -z "$IMPORT_NOTE" ] || PROBLEMS=("import: $IMPORT_NOTE" "${PROBLEMS[@]}")

# ---------------------------------------------------------------------------------------------
# 4. Summary

{
    echo
    echo "================ OpsConductor targets benchmark ================"
    echo "commit $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "backend: $BACKEND"
    echo "wrk runs of $DURATION, $CONNECTIONS connections / $THREADS threads; one request = median of $SINGLE_RUNS fresh curls after $WARMUP warm-up requests"
    echo
    printf '%-40s %s\n' "inventory" "$COUNT targets, seed $SEED"
    sed 's/^/  /' "$WORK/mix.txt"
    if [ "$IMPORT_CALLS" = 1 ]; then
        printf '%-40s %s\n' "import, one POST /targets/import" "$IMPORT_MS ms ($IMPORT_BYTES bytes of JSON, $(awk -v n="$COUNT" -v ms="$IMPORT_MS" 'BEGIN { printf "%.0f", (ms > 0 ? n * 1000 / ms : 0) }') targets/s)"
    else
        printf '%-40s %s\n' "import, $IMPORT_CALLS POST /targets/import" "$IMPORT_MS ms in all ($IMPORT_BYTES bytes of JSON, $(awk -v n="$COUNT" -v ms="$IMPORT_MS" 'BEGIN { printf "%.0f", (ms > 0 ? n * 1000 / ms : 0) }') targets/s; the single call was refused)"
    fi
    printf '%-40s %s\n' "RSS before import (idle, empty)" "$(mib "$RSS_IDLE")"
    printf '%-40s %s\n' "RSS after import" "$(mib "$RSS_IMPORT")"
    printf '%-40s %s\n' "RSS after the listing loads" "$(mib "$RSS_AFTER") (peak VmHWM $(mib "$RSS_PEAK"))"
    echo
    printf '%-25s %6s %5s %8s %8s %8s %9s %9s %9s %5s %5s %8s %6s %5s\n' \
        "query (limit=50)" "total" "page" "bytes" "1req ms" "srv ms" "req/s" "p50 ms" "p99 ms" "cpu%" "host%" "non-2xx" "errs" "check"
    for l in "${LABELS[@]}"; do
        printf '%-25s %6s %5s %8s %8s %8s %9s %9s %9s %5s %5s %8s %6s %5s\n' "$l. ${QNAME[$l]}" \
            "${TOTAL[$l]}" "${PAGE[$l]}" "${BYTES[$l]}" "${ONE_MS[$l]}" "${SRV_MS[$l]}" \
            "$(wrk_get "$l" rps)" "$(wrk_get "$l" p50)" "$(wrk_get "$l" p99)" "${CPU[$l]}" "${HOST_CPU[$l]}" \
            "$(wrk_get "$l" non2xx)" "$(wrk_get "$l" errors)" \
            "$([ "${CHECK[$l]}" = ok ] && echo ok || echo WRONG)"
    done
    echo
    for l in "${LABELS[@]}"; do
        echo "  $l. GET ${QPATH[$l]}"
    done
    echo "  (1req ms: curl time_total incl. TCP+TLS set-up, HTTP/$(awk '{ print $5 }' "$WORK"/single-*.txt | sort -u | paste -sd /) as curl negotiated it;"
    echo "   srv ms: first byte minus end of TLS handshake; wrk uses HTTP/1.1 keep-alive;"
    echo "   cpu%: server process CPU during the wrk run, % of one core; host%: all $(nproc) cores busy, incl. wrk and the database)"
    echo "server log lines (OPSCONDUCTOR_LOG=warn): $LOG_LINES ($OTHER_LOG_LINES unexpected)"
    echo
    if [ "${#PROBLEMS[@]}" -eq 0 ]; then
        echo "problems: none (all totals match the generated data; no non-2xx, no errors, no unexpected log lines)"
    else
        echo "problems:"
        printf '  - %s\n' "${PROBLEMS[@]}"
    fi
    echo "================================================================"
} | tee "$WORK/summary.txt"

if [ "$OTHER_LOG_LINES" -gt 0 ]; then
    echo "first unexpected server log lines:" >&2
    grep -v 'generated a new vault master key' "$WORK/server.log" | head -n 20 >&2
fi
