#!/usr/bin/env python3
"""pywinrm side of bench/winrm.sh: the same work as crates/winrm/examples/winrm_bench.rs.

One winrm.Protocol (transport ntlm, message_encryption="always": one NTLM context, every body
sealed), then
  - "per-shell":  N x `echo hi` the way pywinrm's Session.run_cmd does it (open_shell,
                  run_command, get_command_output, cleanup_command, close_shell), i.e. a shell per
                  command like our client (which sends Create, Command, Receive(s), Delete);
  - "per-shell-keep": the same, but close_shell(close_session=False): the HTTP connection and its
                  NTLM context are kept (run_cmd's default close_session=True drops them, so every
                  run_cmd pays a new TCP connection and NTLM handshake);
  - "reuse":      N x `echo hi` in ONE shell (run_command, get_command_output, cleanup_command);
  - copy:         K copies of one random S MiB file through stdin, exactly as our client copies:
                  the same sh program (sent as `powershell.exe -EncodedCommand`, as ours), the same
                  stdin framing (base64 lines of 48 KiB of data, 4 lines per Send) with
                  Protocol.send_command_input (a WS-Man Send; End=true on the last), then
                  get_command_output. pywinrm has no copy API; this is the fastest route it offers.
Prints one JSON line. Settings come from the environment (see winrm.sh).
"""
import base64
import hashlib
import json
import os
import sys
import time

import winrm

LINE_BYTES = 48 * 1024
LINES_PER_SEND = 4

SH_COPY = r"""set -u
umask 077
dest='{dest}'; want='{want}'; overwrite=1
case "$dest" in */*) dir=${{dest%/*}}; dir=${{dir:-/}};; *) dir=.;; esac
fail() {{ printf '%s\n' "$2" >&2; exit "$1"; }}
tmp=$(mktemp "$dir/.pywinrm-copy.XXXXXXXX") || fail 1 "cannot create a temporary file in $dir"
trap 'rm -f -- "$tmp"' EXIT
base64 -d > "$tmp" || fail 1 "cannot decode or write $tmp"
sum=$(sha256sum < "$tmp") || fail 1 "sha256 failed"
case "$sum" in "$want "*) ;; *) fail 1 "damaged";; esac
mv -f -- "$tmp" "$dest" || fail 1 "cannot move the file into place"
"""


def pieces(data):
    step = LINE_BYTES * LINES_PER_SEND
    for off in range(0, len(data), step):
        piece = data[off:off + step]
        yield b"".join(base64.b64encode(piece[i:i + LINE_BYTES]) + b"\n"
                       for i in range(0, len(piece), LINE_BYTES))


def copy(p, dest, content):
    script = SH_COPY.format(dest=dest, want=hashlib.sha256(content).hexdigest())
    line = "powershell.exe -NoProfile -NonInteractive -EncodedCommand " + \
        base64.b64encode(script.encode("utf-16-le")).decode()
    shell = p.open_shell()
    try:
        cid = p.run_command(shell, line, console_mode_stdin=False, skip_cmd_shell=True)
        chunks = list(pieces(content)) or [b""]
        for i, chunk in enumerate(chunks):
            p.send_command_input(shell, cid, chunk, end=(i == len(chunks) - 1))
        out, err, rc = p.get_command_output(shell, cid)
        p.cleanup_command(shell, cid)
    finally:
        p.close_shell(shell, close_session=False)
    if rc != 0:
        raise RuntimeError("copy failed (rc %s): %r" % (rc, err[:300]))


def main():
    env = os.environ
    host = env.get("WINRM_HOST", "127.0.0.1")
    port = int(env["WINRM_PORT"])
    n = int(env.get("BENCH_N", "300"))
    copy_mib = int(env.get("BENCH_COPY_MIB", "8"))
    copy_times = int(env.get("BENCH_COPY_TIMES", "3"))
    dest = env.get("BENCH_COPY_DEST", "/tmp/pywinrm-bench.bin")
    modes = env.get("PYWINRM_MODES", "per-shell per-shell-keep reuse").split()

    t0 = time.perf_counter()
    p = winrm.Protocol(endpoint="http://%s:%d/wsman" % (host, port), transport="ntlm",
                       username=env.get("WINRM_USER", "WINTEST\\Administrator"),
                       password=env["WINRM_PASSWORD"], message_encryption="always",
                       operation_timeout_sec=20, read_timeout_sec=30)
    # pywinrm authenticates on its first request; open and close a shell so that connect_s
    # covers the handshake, as the Rust side's connect does.
    p.close_shell(p.open_shell(), close_session=False)
    result = {"client": "pywinrm " + getattr(winrm, "__version__", "?"),
              "connect_s": time.perf_counter() - t0, "commands": n}

    def check(out, err, rc, i):
        if rc != 0 or out.strip() != b"hi":
            raise RuntimeError("command %d: rc %s out %r err %r" % (i, rc, out, err))

    if "per-shell" in modes:
        t0 = time.perf_counter()
        for i in range(n):
            shell = p.open_shell()
            cid = p.run_command(shell, "echo hi")
            check(*p.get_command_output(shell, cid), i)
            p.cleanup_command(shell, cid)
            p.close_shell(shell)
        s = time.perf_counter() - t0
        result["per_shell_commands_s"] = s
        result["per_shell_commands_per_s"] = n / s
    if "per-shell-keep" in modes:
        t0 = time.perf_counter()
        for i in range(n):
            shell = p.open_shell()
            cid = p.run_command(shell, "echo hi")
            check(*p.get_command_output(shell, cid), i)
            p.cleanup_command(shell, cid)
            p.close_shell(shell, close_session=False)
        s = time.perf_counter() - t0
        result["per_shell_keep_commands_s"] = s
        result["per_shell_keep_commands_per_s"] = n / s
    if "reuse" in modes:
        t0 = time.perf_counter()
        shell = p.open_shell()
        for i in range(n):
            cid = p.run_command(shell, "echo hi")
            check(*p.get_command_output(shell, cid), i)
            p.cleanup_command(shell, cid)
        p.close_shell(shell, close_session=False)
        s = time.perf_counter() - t0
        result["reuse_commands_s"] = s
        result["reuse_commands_per_s"] = n / s

    if copy_times > 0:
        content = os.urandom(copy_mib * 1024 * 1024)
        t0 = time.perf_counter()
        for _ in range(copy_times):
            copy(p, dest, content)
        s = time.perf_counter() - t0
        with open(dest, "rb") as f:  # the server is local: check the file arrived intact
            if hashlib.sha256(f.read()).digest() != hashlib.sha256(content).digest():
                raise RuntimeError("copied file differs")
        result.update(copy_mib=copy_mib, copy_times=copy_times, copy_s=s,
                      copy_mib_per_s=copy_mib * copy_times / s)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
