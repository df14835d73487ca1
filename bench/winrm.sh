#!/usr/bin/env bash
# WinRM client benchmark: commands per second and copy MiB/s of crates/winrm
# (examples/winrm_bench.rs) and of pywinrm 0.5 (bench/winrm_pywinrm.py), side by side against ONE
# WS-Man test server (testing/wsman-server/server.py: strict mode, NTLM only, every body sealed,
# commands run by /bin/sh). Both sides use one NTLM context, run N `echo hi` one after another and
# copy one random COPY_MIB MiB file COPY_TIMES times through stdin (same sh receiving program, same
# 256 KiB Sends). pywinrm's commands are measured three ways (see winrm_pywinrm.py): a shell per
# command as Session.run_cmd does (new connection + NTLM handshake per command), the same keeping
# the connection, and one shell reused. Each phase is its own process run; the repetitions
# alternate the sides; medians are reported, with the CPU the server (Python + its /bin/sh
# children) and the client used during the phase.
#
#   bench/winrm.sh                                    # release build of the example; ~6 min in all
#   N=100 COPY_MIB=4 REPS=1 SKIP_BUILD=1 bench/winrm.sh
#
# Settings (environment):
#   N=300                commands per run (each side, each pywinrm mode)
#   COPY_MIB=8           size of the copied file
#   COPY_TIMES=3         copies per run
#   REPS=3               repetitions of every phase (median)
#   PYWINRM_MODES="per-shell per-shell-keep reuse"   pywinrm command modes to measure
#   SKIP_PYWINRM=1       measure only our client
#   SKIP_BUILD=1         use the existing target/release/examples/winrm_bench
#   KEEP_WORK=1          keep the temporary directory (server log, stats, per-run JSON)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

N=${N:-300}
COPY_MIB=${COPY_MIB:-8}
COPY_TIMES=${COPY_TIMES:-3}
REPS=${REPS:-3}
PYWINRM_MODES=${PYWINRM_MODES:-per-shell per-shell-keep reuse}
SKIP_PYWINRM=${SKIP_PYWINRM:-0}
for v in N COPY_MIB COPY_TIMES REPS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
BENCH_EXAMPLE="$TARGET_DIR/release/examples/winrm_bench"
PASSWORD='bench-Passw0rd!'
USER_NAME='WINTEST\Administrator'

need_tool python3 python3
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    say "cargo build --release -p opsconductor-winrm --example winrm_bench"
    cargo build --release -p opsconductor-winrm --example winrm_bench
fi
[ -x "$BENCH_EXAMPLE" ] || die "no binary at $BENCH_EXAMPLE (build it, or unset SKIP_BUILD)"
say "testing/wsman-server/setup.sh"
PY=$(bash testing/wsman-server/setup.sh) || die "testing/wsman-server/setup.sh failed"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/opsconductor-bench-winrm.XXXXXX")
SERVER_PID=""
SERVER_LOG="$WORK/server.log"
BG_PIDS=()
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One server for everything (strict: no --allow-unencrypted; NTLM only).
"$PY" testing/wsman-server/server.py --port 0 --auth ntlm --user "$USER_NAME:$PASSWORD" \
    --stats-file "$WORK/stats.json" >"$WORK/server.out" 2>"$SERVER_LOG" &
SERVER_PID=$!
PORT=""
for _ in $(seq 300); do
    PORT=$(awk '$1 == "LISTENING" { print $2; exit }' "$WORK/server.out")
    [ -n "$PORT" ] && break
    alive "$SERVER_PID" || server_failed "exited before printing LISTENING"
    sleep 0.1
done
[ -n "$PORT" ] || server_failed "printed no LISTENING line within 30 s"
say "WS-Man server on 127.0.0.1:$PORT (pid $SERVER_PID)"

export WINRM_HOST=127.0.0.1 WINRM_PORT=$PORT WINRM_USER=$USER_NAME WINRM_PASSWORD=$PASSWORD
export BENCH_COPY_MIB=$COPY_MIB

# phase NAME N COPY_TIMES COMMAND...: runs one client process, appends its JSON line plus wall
# time and CPU (client, server process, server + its reaped /bin/sh children, whole host) to
# $WORK/runs.jsonl.
phase() {
    local name=$1 n=$2 copies=$3 out c0 c1 s0 s1 t0 t1 h0 h1 w0 w1
    shift 3
    children_cpu_s c0
    s0=$(cpu_ticks "$SERVER_PID")
    t0=$(tree_ticks "$SERVER_PID")
    h0=$(host_ticks)
    now_us w0
    out=$(BENCH_N=$n BENCH_COPY_TIMES=$copies BENCH_COPY_DEST="$WORK/copy-$name.bin" "$@") ||
        die "$name failed: $out"
    now_us w1
    children_cpu_s c1
    s1=$(cpu_ticks "$SERVER_PID")
    t1=$(tree_ticks "$SERVER_PID")
    h1=$(host_ticks)
    alive "$SERVER_PID" || server_failed "died during $name"
    python3 -c '
import json, sys
r = json.loads(sys.argv[1])
name = sys.argv[2]
us, c0, c1, s0, s1, t0, t1, hz = map(float, sys.argv[3:11])
h0, h1 = sys.argv[11].split(), sys.argv[12].split()
wall = us / 1e6
r.update(phase=name, wall_s=wall, client_cpu_pct=100 * (c1 - c0) / wall,
         server_cpu_pct=100 * (s1 - s0) / hz / wall, server_tree_cpu_pct=100 * (t1 - t0) / hz / wall,
         host_busy_pct=100 * (float(h1[0]) - float(h0[0])) / max(1.0, float(h1[1]) - float(h0[1])))
print(json.dumps(r))' "$out" "$name" "$((w1 - w0))" "$c0" "$c1" "$s0" "$s1" "$t0" "$t1" "$CLK_TCK" \
        "$h0" "$h1" >>"$WORK/runs.jsonl"
    say "$name: $(tail -n 1 "$WORK/runs.jsonl" | python3 -c '
import json, sys
r = json.load(sys.stdin)
v = r.get("copy_mib_per_s") if r["phase"].endswith("copy") else next(
    r[k] for k in r if k.endswith("commands_per_s"))
unit = "MiB/s" if r["phase"].endswith("copy") else "commands/s"
print("%.2f %s (wall %.1f s, server %.0f%% of a core, with its sh children %.0f%%, client %.0f%%, host busy %.0f%%)" % (
    v, unit, r["wall_s"], r["server_cpu_pct"], r["server_tree_cpu_pct"], r["client_cpu_pct"], r["host_busy_pct"]))')"
}

for rep in $(seq "$REPS"); do
    say "repetition $rep of $REPS"
    phase rust-commands "$N" 0 "$BENCH_EXAMPLE"
    phase rust-copy 0 "$COPY_TIMES" "$BENCH_EXAMPLE"
    if [ "$SKIP_PYWINRM" != 1 ]; then
        for mode in $PYWINRM_MODES; do
            PYWINRM_MODES=$mode phase "pywinrm-$mode" "$N" 0 "$PY" bench/winrm_pywinrm.py
        done
        PYWINRM_MODES="" phase pywinrm-copy 0 "$COPY_TIMES" "$PY" bench/winrm_pywinrm.py
    fi
done
cp "$WORK/stats.json" "$WORK/stats-final.json"

python3 - "$WORK/runs.jsonl" "$WORK/stats-final.json" "$N" "$COPY_MIB" "$COPY_TIMES" "$REPS" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
stats = json.load(open(sys.argv[2]))
n, mib, times, reps = sys.argv[3:7]
def med(phase, key):
    vals = [r[key] for r in runs if r["phase"] == phase]
    return statistics.median(vals) if vals else None
rows = []
def row(label, phase, key):
    v = med(phase, key)
    if v is not None:
        rows.append((label, phase, v))
row("opsconductor-winrm commands/s (one shell reused, Signal after each)", "rust-commands", "commands_per_s")
row("pywinrm commands/s, run_cmd way (shell + connection per command)", "pywinrm-per-shell", "per_shell_commands_per_s")
row("pywinrm commands/s, shell per command, connection kept", "pywinrm-per-shell-keep", "per_shell_keep_commands_per_s")
row("pywinrm commands/s, one shell reused", "pywinrm-reuse", "reuse_commands_per_s")
row("opsconductor-winrm copy MiB/s", "rust-copy", "copy_mib_per_s")
row("pywinrm copy MiB/s (stdin Sends)", "pywinrm-copy", "copy_mib_per_s")
print()
print("WinRM benchmark: N=%s commands, copy %s MiB x %s, median of %s, one server (strict, NTLM, sealed)" % (n, mib, times, reps))
print("%-68s %10s %8s %8s %8s %8s" % ("", "median", "ratio", "server%", "+sh%", "client%"))
ours = {"c": med("rust-commands", "commands_per_s"), "m": med("rust-copy", "copy_mib_per_s")}
for label, phase, v in rows:
    base = ours["m"] if phase.endswith("copy") else ours["c"]
    ratio = "" if phase.startswith("rust") else "%.2fx" % (base / v)
    print("%-68s %10.2f %8s %8.0f %8.0f %8.0f" % (label, v, ratio, med(phase, "server_cpu_pct"),
          med(phase, "server_tree_cpu_pct"), med(phase, "client_cpu_pct")))
print("(ratio = ours / that row; CPU in %% of one core during the phase: server.py alone, with its"
      " reaped /bin/sh children, the client process; host busy median %.0f%%)"
      % statistics.median(r["host_busy_pct"] for r in runs))
print("server counters: plaintext_requests=%d sealed_requests=%d ntlm_auth_ok=%d soap_faults=%d" % (
    stats["plaintext_requests"], stats["sealed_requests"], stats["ntlm_auth_ok"], stats["soap_faults"]))
PY
