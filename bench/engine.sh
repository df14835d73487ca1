#!/usr/bin/env bash
# Run engine benchmark of the `opsconductor` binary ("Jobs, runs and the engine"):
#
#   1. dispatch latency: N runs of a one-step http.request job, one after another (each followed
#      to its end through GET /runs/{id}/events); started_at - queued_at from the server's own
#      timestamps, median and p99;
#   2. runs per second: M runs of the same kind of job queued at once by PARALLEL client
#      connections, timed until all are finished (GET /runs?job_id=&status= polled every 100 ms),
#      once per value of MAX_CONCURRENT_RUNS (engine.max_concurrent_runs; the server restarts
#      between values);
#   3. a fleet of TARGETS SSH targets (t001.., host names 127.0.0.2.., all one private sshd on a
#      free port): one `uname -a` job (maxParallel FORKS) run 1 + FLEET_RUNS times (the first run
#      pins the host keys), every step row checked; then Ansible (ansible-core from PyPI, in a
#      cached venv) `ansible all -m command -a "uname -a" -f FORKS` FLEET_RUNS times on the same
#      inventory, every host's result counted; median wall times and their ratio.
#
# The local HTTP server is Python's ThreadingHTTPServer answering 200 "ok" on any path. Runs on
# Debian as root (the private sshd needs it; TARGETS=0 skips the SSH part); loopback only,
# although sshd listens on 0.0.0.0 (key-only, throw-away keys) because the targets use the
# 127.0.0.x aliases; stops everything it started on exit.
#
#   bench/engine.sh                                   # builds the release binary; ~5 min in all
#   N=50 M=200 TARGETS=50 FLEET_RUNS=1 SKIP_BUILD=1 bench/engine.sh
#   DATABASE_URL=postgres://user@host/emptydb SKIP_BUILD=1 bench/engine.sh
#
# Settings (environment):
#   N=200               dispatch: measured runs (after WARMUP runs that are not counted)
#   WARMUP=5            dispatch: runs before the measured ones
#   M=1000              throughput: runs queued at once (0 skips the part)
#   PARALLEL=16         throughput: client connections that queue them
#   MAX_CONCURRENT_RUNS="16 64"  engine.max_concurrent_runs of the throughput passes (one pass
#                       each; the first value is also the setting of every other part; 16 is the
#                       server's default)
#   THROUGHPUT_TIMEOUT_SECS=600  give up waiting for a pass after this long
#   TARGETS=200         SSH targets (0 skips the SSH part and Ansible)
#   FORKS=50            the job's maxParallel and Ansible's -f
#   FLEET_RUNS=3        timed runs of each side after OpsConductor's first (host-key pinning) run
#   SKIP_ANSIBLE=1      skip the Ansible comparison
#   ANSIBLE_VERSION=    pin ansible-core (pip syntax, e.g. 2.17.7); default: the newest
#   BENCH_CACHE=~/.cache/opsconductor-bench  where the Ansible venv is kept between runs
#   DATABASE_URL=URL    run the server on this PostgreSQL database (must be empty: a fresh
#                       database); default: SQLite in the temporary data dir
#   START_DEADLINE_SECS=60  how long a start may take before the run fails
#   SKIP_BUILD=1        use the existing target/release/opsconductor
#   BENCH_BIN=PATH      benchmark this binary instead (implies SKIP_BUILD=1)
#   KEEP_WORK=1         keep the temporary directory (data dir, logs, client outputs, inventory)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
CLIENT="$ROOT/bench/engine_client.py"

N=${N:-200}
WARMUP=${WARMUP:-5}
M=${M:-1000}
PARALLEL=${PARALLEL:-16}
MAX_CONCURRENT_RUNS=${MAX_CONCURRENT_RUNS:-16 64}
THROUGHPUT_TIMEOUT_SECS=${THROUGHPUT_TIMEOUT_SECS:-600}
TARGETS=${TARGETS:-200}
FORKS=${FORKS:-50}
FLEET_RUNS=${FLEET_RUNS:-3}
SKIP_ANSIBLE=${SKIP_ANSIBLE:-0}
ANSIBLE_VERSION=${ANSIBLE_VERSION:-}
BENCH_CACHE=${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/opsconductor-bench}
DATABASE_URL=${DATABASE_URL:-}
START_DEADLINE_SECS=${START_DEADLINE_SECS:-60}

for v in N WARMUP M TARGETS FLEET_RUNS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
for v in PARALLEL FORKS THROUGHPUT_TIMEOUT_SECS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
read -r -a MCR_VALUES <<<"$MAX_CONCURRENT_RUNS"
[ "${#MCR_VALUES[@]}" -ge 1 ] || die "MAX_CONCURRENT_RUNS must list at least one value"
for v in "${MCR_VALUES[@]}"; do
    if ! [[ $v =~ ^[1-9][0-9]*$ ]] || [ "$v" -gt 1000 ]; then
        die "MAX_CONCURRENT_RUNS values must be 1..1000 (got '$v')"
    fi
done
[ "$TARGETS" -le 60000 ] || die "TARGETS must be at most 60000"
case "$DATABASE_URL" in
"" | postgres://* | postgresql://*) ;;
*) die "DATABASE_URL must be a postgres:// URL (or unset for SQLite)" ;;
esac
if [ "$TARGETS" -gt 0 ] && [ "$(id -u)" -ne 0 ]; then
    die "the SSH part runs a private sshd that logs in as root: run as root, or set TARGETS=0"
fi

BASE_ENV=()
[ -z "$DATABASE_URL" ] || BASE_ENV+=("OPSCONDUCTOR_DATABASE_URL=$DATABASE_URL")

bench_setup opsconductor-bench-engine
need_tool jq jq
if [ "$TARGETS" -gt 0 ]; then
    need_tool sshd openssh-server
    need_tool ssh openssh-client
    need_tool ssh-keygen openssh-client
fi

if [ -n "$DATABASE_URL" ]; then
    BACKEND="PostgreSQL $(redact_url "$DATABASE_URL")"
else
    BACKEND="SQLite (default, in the data dir)"
fi
DATA="$WORK/data"
CA="$DATA/tls/ca.pem"
PROBLEMS=()
NOTES=()
MCR_NOW=""

server_up() { # MAX_CONCURRENT_RUNS: (re)start the server with that setting
    [ -z "$SERVER_PID" ] || stop_server
    [ "${STOP_STATUS:-0}" -eq 0 ] || PROBLEMS+=("the server exited with status $STOP_STATUS after SIGTERM")
    SERVER_ENV=("${BASE_ENV[@]}" "OPSCONDUCTOR_ENGINE__MAX_CONCURRENT_RUNS=$1")
    say "starting the server ($BACKEND, engine.max_concurrent_runs=$1)"
    start_server "$DATA" "$WORK/server.log"
    MCR_NOW=$1
    say "server up at https://$ADDR (pid $SERVER_PID) after $START_MS ms"
    [ -s "$CA" ] || die "no CA certificate at $CA"
    TOKEN=$(login_token)
}

client() { # MODE ARGS...: engine_client.py with the current server and a fresh token
    TOKEN=$(login_token)
    BENCH_TOKEN=$TOKEN python3 "$CLIENT" "$1" --base "https://$ADDR" --ca "$CA" "${@:2}"
}

jget() { jq -r "$2" "$1"; } # FILE FILTER

# ---------------------------------------------------------------------------------------------
# Local HTTP server (the http.request steps' peer)

cat >"$WORK/httpd.py" <<'PY'
import http.server, sys

class Ok(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are written separately
    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_POST = do_GET
    def log_message(self, *args):
        pass

class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024

srv = Server(("127.0.0.1", 0), Ok)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
PY
python3 "$WORK/httpd.py" "$WORK/httpd.port" 2>"$WORK/httpd.log" &
BG_PIDS+=("$!")
for _ in $(seq 200); do
    [ -s "$WORK/httpd.port" ] && break
    alive "${BG_PIDS[-1]}" || die "the local HTTP server died: $(cat "$WORK/httpd.log")"
    sleep 0.05
done
HTTP_PORT=$(cat "$WORK/httpd.port")
HTTP_URL="http://127.0.0.1:$HTTP_PORT/ok"
curl -sf "$HTTP_URL" >/dev/null || die "the local HTTP server does not answer on $HTTP_URL"
say "local HTTP server on $HTTP_URL"

http_job() { # NAME: creates a one-step http.request job, prints its id
    jq -n --arg name "$1" --arg url "$HTTP_URL" \
        '{name: $name, definition: {name: $name, version: 1,
          steps: [{type: "http.request", method: "GET", url: $url}]}}' >"$WORK/job-$1.json"
    api_json POST /jobs "$WORK/job-$1.json" 201 | jq -r .id
}

# ---------------------------------------------------------------------------------------------
# 1. Dispatch latency

server_up "${MCR_VALUES[0]}"
TOTAL_JOBS=$(api_json GET '/jobs?limit=1&active_only=false' - 200 | jq -r .total)
[ "$TOTAL_JOBS" = 0 ] || die "the database already holds $TOTAL_JOBS jobs: point DATABASE_URL at a fresh, empty database"

if [ "$N" -gt 0 ]; then
    JOB_D=$(http_job bench-dispatch)
    say "dispatch: $WARMUP warm-up + $N runs of job $JOB_D, one after another"
    client dispatch --job "$JOB_D" --n "$N" --warmup "$WARMUP" >"$WORK/dispatch.json"
    alive "$SERVER_PID" || server_failed "died during the dispatch runs"
    D_MED=$(jget "$WORK/dispatch.json" '.dispatch_ms.median | . * 100 | round / 100')
    D_P99=$(jget "$WORK/dispatch.json" '.dispatch_ms.p99 | . * 100 | round / 100')
    say "dispatch: median $D_MED ms, p99 $D_P99 ms"
    n=$(jget "$WORK/dispatch.json" .not_succeeded)
    [ "$n" = 0 ] || PROBLEMS+=("dispatch: $n runs did not succeed: $(jq -c .not_succeeded_first "$WORK/dispatch.json")")
    n=$(jget "$WORK/dispatch.json" .started_before_queued)
    [ "$n" = 0 ] || NOTES+=("dispatch: in $n of $N runs the server's started_at is earlier than its queued_at (lowest started_at - queued_at: $(jget "$WORK/dispatch.json" '.dispatch_ms.min | . * 1000 | round / 1000') ms)")
    n=$(jget "$WORK/dispatch.json" .streams_ended_early)
    [ "$n" = 0 ] || PROBLEMS+=("dispatch: $n event streams ended before the run's final status")
fi

# ---------------------------------------------------------------------------------------------
# 2. Runs per second

declare -A TP_CPU TP_HOST
if [ "$M" -gt 0 ]; then
    for v in "${MCR_VALUES[@]}"; do
        [ "$v" = "$MCR_NOW" ] || server_up "$v"
        job=$(http_job "bench-throughput-$v")
        say "throughput: $M runs of job $job queued by $PARALLEL connections (max_concurrent_runs=$v)"
        c0=$(cpu_ticks "$SERVER_PID")
        read -r hb0 ht0 < <(host_ticks)
        now_us t0
        client throughput --job "$job" --m "$M" --parallel "$PARALLEL" \
            --timeout "$THROUGHPUT_TIMEOUT_SECS" >"$WORK/throughput-$v.json"
        now_us t1
        c1=$(cpu_ticks "$SERVER_PID")
        read -r hb1 ht1 < <(host_ticks)
        alive "$SERVER_PID" || server_failed "died during the throughput pass"
        TP_CPU[$v]=$(cpu_pct "$((c1 - c0))" "$((t1 - t0))")
        TP_HOST[$v]=$(awk -v b="$((hb1 - hb0))" -v t="$((ht1 - ht0))" 'BEGIN { printf "%.0f", (t > 0 ? b * 100 / t : 0) }')
        f="$WORK/throughput-$v.json"
        say "throughput (max_concurrent_runs=$v): $(jget "$f" '.succeeded') succeeded, $(jget "$f" '.failed') failed in $(jget "$f" '.wall_s | . * 100 | round / 100') s = $(jget "$f" '.runs_per_s_client | round') runs/s"
        n=$(jget "$f" .started_before_queued)
        [ "$n" = 0 ] || NOTES+=("throughput (max_concurrent_runs=$v): in $n of $M runs the server's started_at is earlier than its queued_at (lowest: $(jget "$f" '.queued_to_started_ms.min | . * 1000 | round / 1000') ms)")
        [ "$(jget "$f" .succeeded)" = "$M" ] ||
            PROBLEMS+=("throughput (max_concurrent_runs=$v): $(jget "$f" .succeeded) of $M succeeded; failed $(jget "$f" .failed), canceled $(jget "$f" .canceled), POST errors $(jget "$f" .post_errors), timed out: $(jget "$f" .timed_out); first: $(jq -c '.failures_first + .post_errors_first' "$f" | head -c 600)")
    done
fi

# ---------------------------------------------------------------------------------------------
# 3. SSH fleet, then Ansible

ssh_addr() { # INDEX (1-based) -> 127.0.x.y, starting at 127.0.0.2
    local k=$(($1 + 1))
    printf '127.0.%d.%d' $((k / 256)) $((k % 256))
}

close_ansible_masters() { # ends the ssh ControlPersist masters Ansible left (by their sockets)
    local sock
    for sock in "$WORK"/ansible-cp-*/*; do
        [ -S "$sock" ] || continue
        ssh -o ControlPath="$sock" -O exit bench-host >/dev/null 2>&1 || true
    done
}

OC_CLIENT=() OC_SERVER=() A_WALL=() A_CPU=() A_SSHD=() A_HOST=() A_OK=()
if [ "$TARGETS" -gt 0 ]; then
    SSHD_DIR="$WORK/sshd"
    mkdir -p "$SSHD_DIR" /run/sshd
    ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$SSHD_DIR/host_ed25519"
    ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$SSHD_DIR/client_ed25519"
    cp "$SSHD_DIR/client_ed25519.pub" "$SSHD_DIR/authorized_keys"
    chmod 600 "$SSHD_DIR/authorized_keys" "$SSHD_DIR"/*_ed25519
    SSH_PORT=$(free_port)
    cat >"$SSHD_DIR/sshd_config" <<EOF
ListenAddress 0.0.0.0
Port $SSH_PORT
HostKey $SSHD_DIR/host_ed25519
PidFile $SSHD_DIR/sshd.pid
AuthorizedKeysFile $SSHD_DIR/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
MaxStartups 500
MaxSessions 50
PrintMotd no
PrintLastLog no
UseDNS no
EOF
    /usr/sbin/sshd -t -f "$SSHD_DIR/sshd_config" || die "sshd refuses the config $SSHD_DIR/sshd_config"
    /usr/sbin/sshd -D -f "$SSHD_DIR/sshd_config" -E "$SSHD_DIR/sshd.log" &
    BG_PIDS+=("$!")
    SSHD_PID=$!
    for _ in $(seq 100); do
        banner=$(python3 -c '
import socket, sys
try:
    s = socket.create_connection(("127.0.0.2", int(sys.argv[1])), timeout=1)
    print(s.recv(64).decode(errors="replace").strip())
except OSError:
    pass' "$SSH_PORT")
        [[ $banner == SSH-* ]] && break
        alive "$SSHD_PID" || die "sshd died: $(tail -n 20 "$SSHD_DIR/sshd.log")"
        sleep 0.1
    done
    [[ $banner == SSH-* ]] || die "sshd does not answer on 127.0.0.2:$SSH_PORT: $(tail -n 20 "$SSHD_DIR/sshd.log")"
    say "private sshd (pid $SSHD_PID) on 0.0.0.0:$SSH_PORT: $banner"

    # Credential, inventory, job.
    jq -n --rawfile key "$SSHD_DIR/client_ed25519" \
        '{name: "bench-fleet-key", credential_type: "ssh", credential_data: {username: "root", private_key: $key}}' \
        >"$WORK/cred.json"
    TOKEN=$(login_token)
    CRED_ID=$(api_json POST /credentials "$WORK/cred.json" 201 | jq -r .id)
    width=$((${#TARGETS} > 3 ? ${#TARGETS} : 3))
    : >"$WORK/fleet.tsv"
    for i in $(seq "$TARGETS"); do
        printf "t%0${width}d\t%s\n" "$i" "$(ssh_addr "$i")" >>"$WORK/fleet.tsv"
    done
    jq -R -s --argjson port "$SSH_PORT" --argjson cred "$CRED_ID" '
        split("\n") | map(select(length > 0) | split("\t")
          | {name: .[0], hostname: .[1], protocol: "ssh", port: $port,
             credential_ref: $cred, tags: ["bench:fleet"]})' "$WORK/fleet.tsv" >"$WORK/import.json"
    now_us t0
    created=$(api_json POST /targets/import "$WORK/import.json" 201 | jq -r .created)
    now_us t1
    [ "$created" = "$TARGETS" ] || die "POST /targets/import created $created targets, expected $TARGETS"
    IMPORT_MS=$(((t1 - t0 + 500) / 1000))
    say "imported $TARGETS SSH targets ($(head -n1 "$WORK/fleet.tsv" | cut -f2) .. $(tail -n1 "$WORK/fleet.tsv" | cut -f2), port $SSH_PORT) in $IMPORT_MS ms"
    jq -n --argjson forks "$FORKS" \
        '{name: "uname", definition: {name: "uname", version: 1, maxParallel: $forks,
          steps: [{type: "ssh.exec", target: "tag:bench:fleet", command: "uname -a"}]}}' >"$WORK/job-uname.json"
    JOB_F=$(api_json POST /jobs "$WORK/job-uname.json" 201 | jq -r .id)

    host_pct() { # BUSY0 TOTAL0 BUSY1 TOTAL1
        awk -v b="$(($3 - $1))" -v t="$(($4 - $2))" 'BEGIN { printf "%.0f", (t > 0 ? b * 100 / t : 0) }'
    }
    ticks_s() { awk -v c="$1" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", c / hz }'; }

    fleet_run() { # LABEL: one run of the uname job; appends to OC_CLIENT / OC_SERVER
        local f="$WORK/fleet-$1.json" c0 c1 s0 s1 hb0 ht0 hb1 ht1 t0 t1 ok
        c0=$(cpu_ticks "$SERVER_PID")
        s0=$(tree_ticks "$SSHD_PID")
        read -r hb0 ht0 < <(host_ticks)
        now_us t0
        client fleet --job "$JOB_F" --expect-targets "$TARGETS" >"$f"
        now_us t1
        read -r hb1 ht1 < <(host_ticks)
        c1=$(cpu_ticks "$SERVER_PID")
        sleep 0.5 # let sshd reap the closed sessions, whose CPU it then counts
        s1=$(tree_ticks "$SSHD_PID")
        alive "$SERVER_PID" || server_failed "died during the fleet run"
        jq --arg cpu "$(cpu_pct "$((c1 - c0))" "$((t1 - t0))")" --arg scpu "$(ticks_s "$((c1 - c0))")" \
            --arg sshd "$(ticks_s "$((s1 - s0))")" --arg host "$(host_pct "$hb0" "$ht0" "$hb1" "$ht1")" \
            '. + {server_cpu_pct: ($cpu | tonumber), server_cpu_s: ($scpu | tonumber),
                  sshd_cpu_s: ($sshd | tonumber), host_pct: ($host | tonumber)}' "$f" >"$f.tmp"
        mv "$f.tmp" "$f"
        ok=$(jget "$f" .ok_with_output)
        say "fleet run $1 (run $(jget "$f" .run_id)): $(jget "$f" .status), $ok/$TARGETS steps succeeded with output; client $(jget "$f" '.client_s | . * 1000 | round / 1000') s, server finished-queued $(jget "$f" '.server_s // "-" | if type == "number" then . * 1000 | round / 1000 else . end') s; CPU: server $(jget "$f" .server_cpu_s) s, sshd side $(jget "$f" .sshd_cpu_s) s, host $(jget "$f" .host_pct)%"
        if [ "$ok" != "$TARGETS" ] || [ "$(jget "$f" .status)" != succeeded ] || [ "$(jget "$f" .steps)" != "$TARGETS" ]; then
            PROBLEMS+=("fleet run $1 (run $(jget "$f" .run_id)): status $(jget "$f" .status), $(jget "$f" .steps) step rows, $ok succeeded with output, by status $(jq -c .by_status "$f"), run error: $(jget "$f" '.error // "none"' | head -c 300); first bad rows: $(jq -c .bad_first "$f" | head -c 900)")
        fi
        OC_CLIENT+=("$(jget "$f" .client_s)")
        OC_SERVER+=("$(jget "$f" '.server_s // 0')")
    }

    say "fleet: first run of 'uname -a' on $TARGETS targets (pins the host keys), maxParallel $FORKS"
    fleet_run first
    PINNED=0
    for ((skip = 0; skip < TARGETS; skip += 1000)); do
        PINNED=$((PINNED + $(api_json GET "/targets?tag=bench:fleet&skip=$skip&limit=1000" - 200 |
            jq '[.targets[] | select(.host_key_fingerprint != null)] | length')))
    done
    [ "$PINNED" = "$TARGETS" ] || PROBLEMS+=("after the first fleet run $PINNED of $TARGETS targets have a pinned host key")
    for i in $(seq "$FLEET_RUNS"); do
        fleet_run "$i"
    done

    if [ "$SKIP_ANSIBLE" != 1 ] && [ "$FLEET_RUNS" -gt 0 ]; then
        VENV="$BENCH_CACHE/ansible-venv"
        if [ ! -x "$VENV/bin/ansible" ] || [ -n "$ANSIBLE_VERSION" ]; then
            mkdir -p "$BENCH_CACHE"
            [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV" || {
                apt_install python3-venv
                python3 -m venv "$VENV"
            }
            say "pip install ansible-core${ANSIBLE_VERSION:+==$ANSIBLE_VERSION} into $VENV"
            "$VENV/bin/pip" install -q "ansible-core${ANSIBLE_VERSION:+==$ANSIBLE_VERSION}" ||
                die "pip install ansible-core failed"
        fi
        "$VENV/bin/ansible" --version >"$WORK/ansible-version.txt" 2>&1 || die "ansible --version failed: $(cat "$WORK/ansible-version.txt")"
        ANSIBLE_V=$(head -n1 "$WORK/ansible-version.txt")
        {
            echo "[fleet]"
            while IFS=$'\t' read -r name host; do
                echo "$name ansible_host=$host"
            done <"$WORK/fleet.tsv"
            echo
            echo "[fleet:vars]"
            echo "ansible_port=$SSH_PORT"
            echo "ansible_user=root"
            echo "ansible_ssh_private_key_file=$SSHD_DIR/client_ed25519"
            echo "ansible_python_interpreter=/usr/bin/python3"
        } >"$WORK/inventory.ini"
        : >"$WORK/ansible.cfg"
        CLEANUP_HOOKS+=(close_ansible_masters)
        mkdir -p "$WORK/ansible-home" "$WORK/ansible-local-tmp"
        # Ansible's own ssh arguments (ControlMaster=auto, ControlPersist=60s), plus a throw-away
        # known_hosts so root's stays untouched; a fresh control directory per run keeps each
        # run cold, as each OpsConductor run opens new sessions.
        A_SSH_ARGS="-C -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
        for i in $(seq "$FLEET_RUNS"); do
            say "ansible run $i: ansible all -i inventory -m command -a 'uname -a' -f $FORKS"
            s0=$(tree_ticks "$SSHD_PID")
            children_cpu_s a0
            read -r hb0 ht0 < <(host_ticks)
            now_us t0
            set +e
            ANSIBLE_CONFIG="$WORK/ansible.cfg" ANSIBLE_HOME="$WORK/ansible-home" \
                ANSIBLE_LOCAL_TEMP="$WORK/ansible-local-tmp" ANSIBLE_REMOTE_TEMP="$WORK/ansible-remote-tmp" \
                ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 \
                ANSIBLE_SSH_ARGS="$A_SSH_ARGS" ANSIBLE_SSH_CONTROL_PATH_DIR="$WORK/ansible-cp-$i" \
                "$VENV/bin/ansible" all -i "$WORK/inventory.ini" -m command -a "uname -a" -f "$FORKS" \
                >"$WORK/ansible-$i.txt" 2>&1
            rc=$?
            set -e
            now_us t1
            read -r hb1 ht1 < <(host_ticks)
            children_cpu_s a1
            A_WALL+=("$(awk -v us="$((t1 - t0))" 'BEGIN { printf "%.3f", us / 1e6 }')")
            close_ansible_masters
            sleep 0.5
            s1=$(tree_ticks "$SSHD_PID")
            A_CPU+=("$(awk -v a="$a0" -v b="$a1" 'BEGIN { printf "%.2f", b - a }')")
            A_SSHD+=("$(ticks_s "$((s1 - s0))")")
            A_HOST+=("$(host_pct "$hb0" "$ht0" "$hb1" "$ht1")")
            okc=$(grep -cE '^[^ ]+ \| (CHANGED|SUCCESS) ' "$WORK/ansible-$i.txt" || true)
            badc=$(grep -cE '^[^ ]+ \| (FAILED|UNREACHABLE)' "$WORK/ansible-$i.txt" || true)
            linux=$(grep -c '^Linux ' "$WORK/ansible-$i.txt" || true)
            A_OK+=("$okc")
            say "ansible run $i: exit $rc, $okc CHANGED/SUCCESS, $badc FAILED/UNREACHABLE, $linux 'Linux' lines, ${A_WALL[-1]} s; CPU: ansible ${A_CPU[-1]} s, sshd side ${A_SSHD[-1]} s, host ${A_HOST[-1]}%"
            if [ "$rc" -ne 0 ] || [ "$okc" != "$TARGETS" ] || [ "$linux" != "$TARGETS" ]; then
                PROBLEMS+=("ansible run $i: exit $rc, $okc of $TARGETS hosts CHANGED/SUCCESS, $badc FAILED/UNREACHABLE: $(grep -m3 -E '\| (FAILED|UNREACHABLE)' "$WORK/ansible-$i.txt" | head -c 600)")
            fi
        done
    fi
    ssh_sessions=$(grep -c 'Accepted publickey' "$SSHD_DIR/sshd.log" || true)
fi

# ---------------------------------------------------------------------------------------------
# 4. Stop, log check, summary

stop_server
[ "$STOP_STATUS" -eq 0 ] || PROBLEMS+=("the server exited with status $STOP_STATUS after SIGTERM (stopped in $STOP_MS ms)")
LOG_LINES=$(grep -c . "$WORK/server.log" || true)
OTHER_LOG_LINES=$(grep -v 'generated a new vault master key' "$WORK/server.log" | grep -c . || true)
[ "$OTHER_LOG_LINES" -eq 0 ] ||
    PROBLEMS+=("the server logged $OTHER_LOG_LINES unexpected lines at OPSCONDUCTOR_LOG=warn (first ones below)")

med() { printf '%s\n' "$@" | python3 -c 'import statistics, sys; print("%.3f" % statistics.median(float(x) for x in sys.stdin.read().split()))'; }
f1() { jq -r "$2 | if . == null then \"-\" else (. * 10 | round / 10 | tostring) end" "$1"; }
f2() { jq -r "$2 | if . == null then \"-\" else (. * 100 | round / 100 | tostring) end" "$1"; }

{
    echo
    echo "================ OpsConductor engine benchmark ================"
    echo "commit $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "binary: $BIN (built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M UTC'))"
    echo "backend: $BACKEND; engine.max_parallel_targets: server default (100)"
    echo "local HTTP peer: Python ThreadingHTTPServer (200 \"ok\"); client: bench/engine_client.py (kept-alive HTTPS)"
    if [ "$N" -gt 0 ]; then
        f="$WORK/dispatch.json"
        echo
        echo "1. dispatch, one-step http.request job, $N runs one after another (+$WARMUP warm-up), max_concurrent_runs=${MCR_VALUES[0]}"
        printf '   %-44s %8s %8s %8s %8s %8s\n' "" median p90 p99 min max
        for row in "queued -> started (started_at - queued_at):dispatch_ms" \
            "started -> finished (the step, its writes):exec_ms" "queued -> finished:total_ms" \
            "client: POST -> event stream ended:client_ms"; do
            k=${row##*:}
            printf '   %-44s %8s %8s %8s %8s %8s\n' "${row%:*} ms" "$(f2 "$f" ".$k.median")" "$(f2 "$f" ".$k.p90")" \
                "$(f2 "$f" ".$k.p99")" "$(f2 "$f" ".$k.min")" "$(f2 "$f" ".$k.max")"
        done
        echo "   not succeeded: $(jget "$f" .not_succeeded)   (aim: median dispatch under 5 ms)"
    fi
    if [ "$M" -gt 0 ]; then
        echo
        echo "2. throughput, $M one-step http.request runs queued by $PARALLEL connections"
        printf '   %-8s %9s %8s %8s %7s %9s %8s %8s %12s %12s %5s %5s\n' \
            "max_runs" "succeeded" "failed" "wall s" "runs/s" "queue s" "srv s" "srv r/s" "q->start p50" "q->start p99" "cpu%" "host%"
        for v in "${MCR_VALUES[@]}"; do
            f="$WORK/throughput-$v.json"
            printf '   %-8s %9s %8s %8s %7s %9s %8s %8s %12s %12s %5s %5s\n' "$v" \
                "$(jget "$f" .succeeded)" "$(jq -r '.failed + .canceled + .post_errors' "$f")" "$(f2 "$f" .wall_s)" \
                "$(f1 "$f" .runs_per_s_client)" "$(f2 "$f" .post_wall_s)" "$(f2 "$f" .server_span_s)" \
                "$(f1 "$f" .runs_per_s_server)" "$(f1 "$f" .queued_to_started_ms.median)" \
                "$(f1 "$f" .queued_to_started_ms.p99)" "${TP_CPU[$v]}" "${TP_HOST[$v]}"
        done
        echo "   (wall: first POST to all finished seen by the 100 ms poll; runs/s = succeeded / wall; queue s: all POSTs answered;"
        echo "    srv: first queued_at to last finished_at; q->start in ms; cpu%: server, % of one core; host%: all $(nproc) cores)"
    fi
    if [ "$TARGETS" -gt 0 ]; then
        echo
        echo "3. ssh.exec 'uname -a' on $TARGETS SSH targets (one sshd, ${banner#SSH-2.0-}), maxParallel / forks $FORKS"
        printf '   %-34s %9s %9s %9s %9s %8s %8s %6s\n' "" "client s" "server s" "steps ok" "step p50" "srv cpu" "sshd cpu" "host%"
        for label in first $(seq "$FLEET_RUNS"); do
            f="$WORK/fleet-$label.json"
            printf '   %-34s %9s %9s %9s %9s %8s %8s %6s\n' "OpsConductor run $label$([ "$label" = first ] && echo ' (pins keys)')" \
                "$(jq -r '.client_s * 1000 | round / 1000' "$f")" "$(jq -r '.server_s // 0 | . * 1000 | round / 1000' "$f")" \
                "$(jget "$f" .ok_with_output)/$TARGETS" "$(jq -r '.step_s.median // 0 | . * 1000 | round | tostring + " ms"' "$f")" \
                "$(jget "$f" .server_cpu_s) s" "$(jget "$f" .sshd_cpu_s) s" "$(jget "$f" .host_pct)"
        done
        OC_REP_CLIENT=("${OC_CLIENT[@]:1}")
        OC_REP_SERVER=("${OC_SERVER[@]:1}")
        if [ "${#OC_REP_CLIENT[@]}" -gt 0 ]; then
            OC_MED=$(med "${OC_REP_CLIENT[@]}")
            printf '   %-34s %9s %9s\n' "OpsConductor median of repeats" "$OC_MED" "$(med "${OC_REP_SERVER[@]}")"
        fi
        if [ "${#A_WALL[@]}" -gt 0 ]; then
            printf '   %-34s %9s %9s %9s %9s %8s %8s %6s\n' "" "wall s" "" "hosts ok" "" "ansible" "sshd cpu" "host%"
            for i in "${!A_WALL[@]}"; do
                printf '   %-34s %9s %9s %9s %9s %8s %8s %6s\n' "Ansible run $((i + 1))" "${A_WALL[$i]}" "" \
                    "${A_OK[$i]}/$TARGETS" "" "${A_CPU[$i]} s" "${A_SSHD[$i]} s" "${A_HOST[$i]}"
            done
            A_MED=$(med "${A_WALL[@]}")
            printf '   %-34s %9s\n' "Ansible median" "$A_MED"
            echo "   ratio Ansible / OpsConductor (medians, client wall): $(awk -v a="$A_MED" -v o="$OC_MED" 'BEGIN { printf "%.1fx", a / o }') (first OpsConductor run: $(awk -v a="$A_MED" -v o="${OC_CLIENT[0]}" 'BEGIN { printf "%.1fx", a / o }'); aim: at least 5x)"
            echo "   $ANSIBLE_V; ansible all -m command -a 'uname -a' -f $FORKS; ssh args: $A_SSH_ARGS;"
            echo "   ansible_python_interpreter=/usr/bin/python3 (no discovery); fresh ControlPath dir per run; host key checking off"
        fi
        echo "   (client s: POST to end of the event stream; server s: finished_at - queued_at; srv cpu: OpsConductor process;"
        echo "    sshd cpu: sshd and its reaped sessions incl. the remote commands; ansible: the ansible process tree, without"
        echo "    the detached ssh ControlPersist masters; host%: all $(nproc) cores busy, whoever used them)"
        echo "   import of $TARGETS targets: $IMPORT_MS ms; sshd accepted $ssh_sessions public-key logins in all"
    fi
    echo
    echo "server log lines (OPSCONDUCTOR_LOG=warn): $LOG_LINES ($OTHER_LOG_LINES unexpected)"
    if [ "${#NOTES[@]}" -gt 0 ]; then
        echo "notes:"
        printf '  - %s\n' "${NOTES[@]}"
    fi
    if [ "${#PROBLEMS[@]}" -eq 0 ]; then
        echo "problems: none"
    else
        echo "problems:"
        printf '  - %s\n' "${PROBLEMS[@]}"
    fi
    echo "==============================================================="
} | tee "$WORK/summary.txt"

if [ "$OTHER_LOG_LINES" -gt 0 ]; then
    echo "first unexpected server log lines:" >&2
    grep -v 'generated a new vault master key' "$WORK/server.log" | head -n 20 >&2
fi
