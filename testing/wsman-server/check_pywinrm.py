#!/usr/bin/env python3
"""Prove the WS-Management test server faithful with an independent client: pywinrm 0.5.

Starts server.py as subprocesses on free loopback ports and drives them with pywinrm
(transport="ntlm", message_encryption="always") plus a small hand-written client built on
pyspnego + http.client for the byte-level checks (framing, sealed faults, spec-style XML).

Run with the venv from setup.sh:

    PY="$(testing/wsman-server/setup.sh)" && "$PY" testing/wsman-server/check_pywinrm.py

Exits non-zero if any check fails; the last line is "N passed, N failed".
"""

from __future__ import annotations

import base64
import http.client
import importlib.metadata
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

import requests
import spnego
import winrm
import xmltodict
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WSManFaultError
from winrm.protocol import Protocol

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.py")
USER = "WINTEST\\Administrator"
PASSWORD = "Passw0rd:with-colon!"

NS_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
RESOURCE_CMD = NS_SHELL + "/cmd"


# --------------------------------------------------------------------------------------------------
# harness
# --------------------------------------------------------------------------------------------------


class Server:
    """server.py in a subprocess; stop() ends exactly that process."""

    def __init__(self, workdir: str, name: str, *extra: str):
        self.name = name
        self.stats_path = os.path.join(workdir, name + "-stats.json")
        self.log_path = os.path.join(workdir, name + "-server.log")
        self.log = open(self.log_path, "wb")
        cmd = [sys.executable, SERVER, "--port", "0", "--user", "%s:%s" % (USER, PASSWORD),
               "--stats-file", self.stats_path, "-v", *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL)
        line = self._read_line(10.0)
        m = re.match(rb"LISTENING (\d+)", line or b"")
        if not m:
            self.stop()
            raise RuntimeError("%s did not start (got %r); see %s" % (name, line, self.log_path))
        self.port = int(m.group(1))

    def _read_line(self, timeout: float):
        out = []
        t = threading.Thread(target=lambda: out.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        return out[0] if out else None

    def stats(self) -> dict:
        with open(self.stats_path, encoding="utf-8") as fd:
            return json.load(fd)

    def url(self, scheme: str = "http") -> str:
        return "%s://127.0.0.1:%d/wsman" % (scheme, self.port)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


RESULTS: list[tuple[str, bool, str]] = []


def check(name: str, fn) -> None:
    start = time.monotonic()
    try:
        detail = fn() or ""
        ok = True
    except Exception as e:  # noqa: BLE001 - report every failure and keep going
        ok = False
        detail = "%s: %s" % (type(e).__name__, e)
        if os.environ.get("WSMAN_CHECK_TRACEBACK"):
            traceback.print_exc()
    took = time.monotonic() - start
    RESULTS.append((name, ok, detail))
    print("%-4s %-48s %5.2fs  %s" % ("ok" if ok else "FAIL", name, took, detail), flush=True)


def expect(cond: bool, msg: str) -> None:
    if not cond:
        raise AssertionError(msg)


def session(url: str, password: str = PASSWORD, **kw) -> winrm.Session:
    kw.setdefault("transport", "ntlm")
    kw.setdefault("message_encryption", "always")
    return winrm.Session(url, auth=(USER, password), **kw)


def protocol(url: str, **kw) -> Protocol:
    kw.setdefault("transport", "ntlm")
    kw.setdefault("message_encryption", "always")
    return Protocol(url, username=USER, password=PASSWORD, **kw)


def drain(p: Protocol, shell_id: str, command_id: str):
    """Like Protocol.get_command_output but counting Receives and TimedOut faults."""
    out, err, receives, timeouts = [], [], 0, 0
    while True:
        receives += 1
        try:
            o, e, rc, done = p.get_command_output_raw(shell_id, command_id)
        except WinRMOperationTimeoutError:
            timeouts += 1
            continue
        out.append(o)
        err.append(e)
        if done:
            return b"".join(out), b"".join(err), rc, receives, timeouts


def ps_encode(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode()


# --------------------------------------------------------------------------------------------------
# a minimal independent WinRM client (pyspnego + http.client) for byte-level checks
# --------------------------------------------------------------------------------------------------


def spec_envelope(action: str, body: str, shell_id: str | None = None, timeout: str = "PT5S") -> bytes:
    """Spec-style XML with prefixes unlike pywinrm's (s/wsa/wsman/rsp, as pypsrp writes them)."""
    selector = ""
    if shell_id:
        selector = '<wsman:SelectorSet><wsman:Selector Name="ShellId">%s</wsman:Selector></wsman:SelectorSet>' % shell_id
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
        'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">'
        "<s:Header>"
        '<wsa:Action s:mustUnderstand="true">%s</wsa:Action>'
        '<wsman:MaxEnvelopeSize s:mustUnderstand="true">153600</wsman:MaxEnvelopeSize>'
        "<wsa:MessageID>uuid:%s</wsa:MessageID>"
        "<wsman:OperationTimeout>%s</wsman:OperationTimeout>"
        '<wsa:ReplyTo><wsa:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>'
        '<wsman:ResourceURI s:mustUnderstand="true">%s</wsman:ResourceURI>'
        "<wsa:To>http://127.0.0.1/wsman</wsa:To>%s"
        "</s:Header><s:Body>%s</s:Body></s:Envelope>"
        % (action, str(uuid.uuid4()).upper(), timeout, RESOURCE_CMD, selector, body)
    ).encode("utf-8")


class RawClient:
    """One TCP connection = one NTLM context, sealed per MS-WSMV 2.2.9.1.1."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        self.ctx = spnego.client(USER, PASSWORD, hostname="127.0.0.1", service="HTTP", protocol="ntlm")

    def post(self, body: bytes, headers: dict) -> http.client.HTTPResponse:
        headers = dict(headers)
        headers.setdefault("Content-Length", str(len(body)))
        self.conn.request("POST", "/wsman", body=body, headers=headers)
        resp = self.conn.getresponse()
        resp.body = resp.read()
        return resp

    def negotiate(self) -> bytes:
        """Type 1 on an empty POST; returns the type 3 token to send with the next request."""
        t1 = self.ctx.step()
        resp = self.post(b"", {"Authorization": "Negotiate " + base64.b64encode(t1).decode()})
        expect(resp.status == 401, "type 1 should get 401, got %d" % resp.status)
        challenge = resp.getheader("WWW-Authenticate", "")
        expect(challenge.startswith("Negotiate "), "no NTLM challenge: %r" % challenge)
        return self.ctx.step(base64.b64decode(challenge.split(" ", 1)[1]))

    def seal(self, xml: bytes, stray_crlf: bool = False) -> bytes:
        res = self.ctx.wrap_winrm(xml)
        return (
            b"--Encrypted Boundary\r\n"
            b"\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + str(len(xml)).encode() + b"\r\n"
            b"--Encrypted Boundary\r\n"
            b"\tContent-Type: application/octet-stream\r\n"
            + struct.pack("<I", len(res.header)) + res.header + res.data
            + (b"\r\n" if stray_crlf else b"") + b"--Encrypted Boundary--\r\n"
        )

    def sealed_post(self, xml: bytes, auth_token: bytes | None = None, stray_crlf: bool = False):
        headers = {"Content-Type": 'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";'
                                   'boundary="Encrypted Boundary"'}
        if auth_token:
            headers["Authorization"] = "Negotiate " + base64.b64encode(auth_token).decode()
        resp = self.post(self.seal(xml, stray_crlf), headers)
        return resp, self.unseal(resp)

    def unseal(self, resp) -> bytes | None:
        if "multipart/encrypted" not in (resp.getheader("Content-Type") or ""):
            return None
        body = resp.body
        m = re.search(rb"Length=(\d+)\r\n", body)
        i = body.index(b"application/octet-stream\r\n") + len(b"application/octet-stream\r\n")
        n = int(m.group(1))
        sig_len = struct.unpack("<I", body[i:i + 4])[0]
        sig = body[i + 4:i + 4 + sig_len]
        data = body[i + 4 + sig_len:i + 4 + sig_len + n]
        expect(body[i + 4 + sig_len + n:] == b"--Encrypted Boundary--\r\n",
               "response framing: closing boundary must follow the ciphertext directly")
        return self.ctx.unwrap_winrm(sig, data)

    def close(self):
        self.conn.close()


# --------------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------------


def run(workdir: str) -> None:
    strict = Server(workdir, "strict", "--operation-timeout-cap", "0.5")
    servers = [strict]
    try:
        url = strict.url()

        def anonymous_probe():
            conn = http.client.HTTPConnection("127.0.0.1", strict.port, timeout=5)
            conn.request("POST", "/wsman", body=b"", headers={"Content-Length": "0",
                                                              "Content-Type": "application/soap+xml;charset=UTF-8"})
            r = conn.getresponse()
            r.read()
            conn.close()
            auth = r.msg.get_all("WWW-Authenticate") or []
            expect(r.status == 401, "status %d" % r.status)
            expect(auth == ["Negotiate", 'Basic realm="WSMAN"'], "WWW-Authenticate %r" % auth)
            expect(r.getheader("Connection") == "close", "Windows closes after the anonymous 401")
            expect(r.getheader("Server") == "Microsoft-HTTPAPI/2.0", "Server %r" % r.getheader("Server"))
            expect(r.reason == "", "Windows sends an empty reason phrase, got %r" % r.reason)
            return "401, %s" % " + ".join(auth)

        check("anonymous request -> 401 challenge", anonymous_probe)

        def cmd_run():
            r = session(url).run_cmd("echo out; echo err >&2; exit 3")
            expect((r.std_out, r.std_err, r.status_code) == (b"out\n", b"err\n", 3),
                   "got %r %r %r" % (r.std_out, r.std_err, r.status_code))
            return "stdout/stderr/exit 3 over sealed NTLM"

        check("cmd: stdout + stderr + exit code", cmd_run)

        def ps_run():
            script = 'echo "ps-out"; echo "first error" >&2; echo "second <error> & more" >&2; exit 0'
            r = session(url).run_ps(script)
            expect(r.std_out == b"ps-out\n", "stdout %r" % r.std_out)
            expect(r.std_err == b"first error\nsecond <error> & more", "decoded stderr %r" % r.std_err)
            # The raw stream as a client sees it before decoding (PowerShell's string escaping:
            # control characters and "_x" become _xHHHH_; pywinrm itself only decodes _x000D__x000A_).
            raw_script = 'printf "tab\\there_x1\\n" >&2; exit 4'
            p = protocol(url)
            shell = p.open_shell()
            cid = p.run_command(shell, "powershell.exe -NoProfile -NonInteractive -EncodedCommand " + ps_encode(raw_script))
            out, err, rc = p.get_command_output(shell, cid)
            p.cleanup_command(shell, cid)
            p.close_shell(shell)
            expect(err == b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
                          b'<S S="Error">tab_x0009_here_x005F_x1_x000D__x000A_</S></Objs>', "raw stderr %r" % err)
            expect(rc == 4, "rc %r" % rc)
            return "CLIXML stderr decoded by pywinrm; raw escaping as PowerShell's"

        check("powershell run_ps: CLIXML stderr", ps_run)

        def stdin_send():
            p = protocol(url)
            shell = p.open_shell()
            cid = p.run_command(shell, "cat")
            p.send_command_input(shell, cid, b"line1\n")
            p.send_command_input(shell, cid, "line2 \u00e9\n", end=True)  # pywinrm encodes str as cp437
            out, err, rc = p.get_command_output(shell, cid)
            p.cleanup_command(shell, cid)
            p.close_shell(shell)
            expect(out == "line1\nline2 \u00e9\n".encode("cp437"), "stdout %r" % out)
            expect(rc == 0, "rc %r" % rc)
            return "2 Sends (End=true closes stdin), codepage 437 round trip"

        check("stdin via Send", stdin_send)

        def long_running():
            before = strict.stats()
            p = protocol(url, operation_timeout_sec=1, read_timeout_sec=10)
            shell = p.open_shell()
            cid = p.run_command(shell, "for i in 1 2 3; do echo tick$i; sleep 0.8; done")
            t0 = time.monotonic()
            out, err, rc, receives, timeouts = drain(p, shell, cid)
            took = time.monotonic() - t0
            p.cleanup_command(shell, cid)
            p.close_shell(shell)
            after = strict.stats()
            expect(out == b"tick1\ntick2\ntick3\n" and rc == 0, "got %r rc %r" % (out, rc))
            expect(receives - timeouts >= 3, "output should arrive over several Receives (%d)" % (receives - timeouts))
            expect(timeouts >= 1, "expected w:TimedOut faults while the command was silent")
            expect(after["receive_timeouts"] - before["receive_timeouts"] == timeouts, "stats receive_timeouts")
            return "%d Receives, %d TimedOut polls (cap 0.5 s < requested 1 s), %.1fs" % (receives, timeouts, took)

        check("long-running command: streaming + TimedOut", long_running)

        def signal_terminate():
            p = protocol(url, operation_timeout_sec=2, read_timeout_sec=10)
            shell = p.open_shell()
            cid = p.run_command(shell, "echo $$; sleep 30; echo never")
            out = b""
            while not out.strip():
                try:
                    o, _, _, _ = p.get_command_output_raw(shell, cid)
                    out += o
                except WinRMOperationTimeoutError:
                    pass
            pid = int(out.strip())
            p.cleanup_command(shell, cid)  # Signal terminate
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("process %d still alive after terminate" % pid)
            try:
                p.get_command_output_raw(shell, cid)
                raise AssertionError("Receive after terminate should fault")
            except WSManFaultError as e:
                expect(e.wsman_fault_code == 2150858843, "fault code %r" % e.wsman_fault_code)
            p.close_shell(shell)
            return "process group killed; later Receive -> 2150858843"

        check("Signal terminate", signal_terminate)

        def signal_ctrl_c():
            p = protocol(url, operation_timeout_sec=2, read_timeout_sec=10)
            shell = p.open_shell()
            cid = p.run_command(shell, "trap 'echo got-int; exit 7' INT; echo ready; while :; do sleep 0.1; done")
            out = b""
            while b"ready" not in out:
                try:
                    out += p.get_command_output_raw(shell, cid)[0]
                except WinRMOperationTimeoutError:
                    pass
            req = {"env:Envelope": p.build_wsman_header(resource_uri=RESOURCE_CMD, action=NS_SHELL + "/Signal",
                                                        shell_id=shell)}
            sig = req["env:Envelope"].setdefault("env:Body", {}).setdefault("rsp:Signal", {})
            sig["@CommandId"] = cid
            sig["rsp:Code"] = NS_SHELL + "/signal/ctrl_c"
            p.send_message(xmltodict.unparse(req))
            rest, _, rc, _, _ = drain(p, shell, cid)
            p.close_shell(shell)
            expect(b"got-int" in rest and rc == 7, "got %r rc %r" % (rest, rc))
            return "SIGINT to the process group, exit 7 from the trap"

        check("Signal ctrl_c", signal_ctrl_c)

        def unknown_shell():
            p = protocol(url)
            try:
                p.run_command("11111111-2222-3333-4444-555555555555", "echo")
                raise AssertionError("expected a WSManFault")
            except WSManFaultError as e:
                expect(e.code == 500, "HTTP %r" % e.code)
                expect(e.wsman_fault_code == 2150858843, "code %r" % e.wsman_fault_code)
                expect(e.fault_subcode == "w:InvalidSelectors", "subcode %r" % e.fault_subcode)
                expect("shell was not found" in e.response, "message")
            return "HTTP 500 w:InvalidSelectors 2150858843 (sealed, decrypted by pywinrm)"

        check("unknown shell -> Windows fault", unknown_shell)

        def concurrency():
            n = 6
            results = [None] * n

            def one(i):
                results[i] = session(url).run_cmd("sleep 1; echo n%d" % i)

            t0 = time.monotonic()
            threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            took = time.monotonic() - t0
            for i, r in enumerate(results):
                expect(r is not None and r.std_out == b"n%d\n" % i, "session %d: %r" % (i, r and r.std_out))
            expect(took < 3.5, "6 x 1 s commands took %.1fs: not concurrent" % took)
            return "%d sessions x `sleep 1` in %.1fs" % (n, took)

        check("concurrent shells and commands", concurrency)

        def large_output():
            before = strict.stats()
            size = 1_500_000
            t0 = time.monotonic()
            r = session(url).run_cmd("head -c %d /dev/zero | tr '\\0' x" % size)
            took = time.monotonic() - t0
            receives = strict.stats()["receives"] - before["receives"]
            expect(len(r.std_out) == size and r.std_out.count(b"x") == size, "got %d bytes" % len(r.std_out))
            expect(receives > 5, "expected output split over many Receives (%d)" % receives)
            return "%d bytes in %d Receives, %.1fs" % (size, receives, took)

        check("large output streams over many Receives", large_output)

        def wrong_password():
            before = strict.stats()["auth_failures"]
            try:
                session(url, password="not-the-password").run_cmd("echo hi")
                raise AssertionError("expected InvalidCredentialsError")
            except InvalidCredentialsError:
                pass
            expect(strict.stats()["auth_failures"] == before + 1, "auth_failures not counted")
            return "InvalidCredentialsError (HTTP 401)"

        check("wrong password -> 401", wrong_password)

        def raw_spec_client():
            c = RawClient(strict.port)
            try:
                t3 = c.negotiate()
                create = spec_envelope(
                    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
                    "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>"
                    "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>")
                # Type 3 rides on the first sealed request (one round trip fewer than pywinrm).
                resp, xml = c.sealed_post(create, auth_token=t3)
                expect(resp.status == 200 and xml is not None, "Create: %d" % resp.status)
                shell_id = re.search(rb'<w:Selector Name="ShellId">([^<]+)<', xml).group(1).decode()
                cmd = spec_envelope(
                    NS_SHELL + "/Command",
                    "<rsp:CommandLine><rsp:Command>cmd.exe</rsp:Command><rsp:Arguments>/c</rsp:Arguments>"
                    "<rsp:Arguments>echo</rsp:Arguments><rsp:Arguments>spec-ok</rsp:Arguments></rsp:CommandLine>",
                    shell_id)
                resp, xml = c.sealed_post(cmd)
                command_id = re.search(rb"<rsp:CommandId>([^<]+)<", xml).group(1).decode()
                out = b""
                while True:
                    recv = spec_envelope(
                        NS_SHELL + "/Receive",
                        '<rsp:Receive><rsp:DesiredStream CommandId="%s">stdout stderr</rsp:DesiredStream></rsp:Receive>'
                        % command_id, shell_id)
                    resp, xml = c.sealed_post(recv)
                    expect(resp.status == 200, "Receive %d" % resp.status)
                    for m in re.finditer(rb'<rsp:Stream Name="stdout"[^>]*>([^<]*)<', xml):
                        out += base64.b64decode(m.group(1))
                    if b"CommandState/Done" in xml:
                        break
                expect(out == b"spec-ok\n", "stdout %r" % out)
                # A fault to a sealed request is sealed too (HTTP 500).
                bad = spec_envelope(
                    NS_SHELL + "/Receive",
                    '<rsp:Receive><rsp:DesiredStream CommandId="%s">stdout</rsp:DesiredStream></rsp:Receive>'
                    % command_id, "00000000-0000-0000-0000-000000000000")
                resp, xml = c.sealed_post(bad)
                expect(resp.status == 500 and xml is not None and b'Code="2150858843"' in xml,
                       "fault: %d sealed=%s" % (resp.status, xml is not None))
                resp, xml = c.sealed_post(spec_envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete", "",
                                                        shell_id))
                expect(resp.status == 200 and b"DeleteResponse" in xml, "Delete %d" % resp.status)
                return "spec prefixes, 3 rsp:Arguments, type 3 on the sealed Create, sealed 500 fault"
            finally:
                c.close()

        check("independent raw client (pyspnego + http.client)", raw_spec_client)

        def bad_framing():
            before = strict.stats()["bad_framing"]
            c = RawClient(strict.port)
            try:
                t3 = c.negotiate()
                resp = c.post(b"", {"Authorization": "Negotiate " + base64.b64encode(t3).decode()})
                expect(resp.status == 200, "empty auth POST %d" % resp.status)
                create = spec_envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
                                       "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>"
                                       "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>")
                resp, _ = c.sealed_post(create, stray_crlf=True)
                expect(resp.status == 400, "stray CRLF should give 400, got %d" % resp.status)
            finally:
                c.close()
            expect(strict.stats()["bad_framing"] == before + 1, "bad_framing not counted")
            return "CRLF before the closing boundary -> HTTP 400"

        check("sealed framing: stray CRLF refused", bad_framing)

        def spnego_final_token():
            # sspi::Negotiate / SSPI clients wrap NTLM in SPNEGO; their context only completes when the
            # 200 carries the accept-complete token (mechListMIC), as Windows sends it.
            c = RawClient(strict.port)
            c.ctx = spnego.client(USER, PASSWORD, hostname="127.0.0.1", service="HTTP", protocol="negotiate",
                                  options=spnego.NegotiateOptions.use_negotiate)
            try:
                init = c.ctx.step()
                expect(init[:1] == b"\x60", "not a SPNEGO NegTokenInit")
                resp = c.post(b"", {"Authorization": "Negotiate " + base64.b64encode(init).decode()})
                expect(resp.status == 401, "init: %d" % resp.status)
                t3 = c.ctx.step(base64.b64decode(resp.getheader("WWW-Authenticate").split(" ", 1)[1]))
                resp = c.post(b"", {"Authorization": "Negotiate " + base64.b64encode(t3).decode()})
                final = resp.getheader("WWW-Authenticate") or ""
                expect(resp.status == 200 and final.startswith("Negotiate "), "200 without final token: %r" % final)
                expect(not c.ctx.complete, "client should still wait for the mechListMIC")
                c.ctx.step(base64.b64decode(final.split(" ", 1)[1]))
                expect(c.ctx.complete, "client context not complete after the final token")
                create = spec_envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
                                       "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>"
                                       "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>")
                resp, xml = c.sealed_post(create)
                expect(resp.status == 200 and b"CreateResponse" in xml, "sealed Create %d" % resp.status)
                shell_id = re.search(rb'<w:Selector Name="ShellId">([^<]+)<', xml).group(1).decode()
                resp, xml = c.sealed_post(spec_envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete", "",
                                                        shell_id))
                expect(resp.status == 200, "Delete %d" % resp.status)
            finally:
                c.close()
            return "200 carries the accept-complete token; sealing works after it"

        check("SPNEGO-wrapped NTLM: final token on the 200", spnego_final_token)

        def all_sealed():
            s = strict.stats()
            expect(s["plaintext_requests"] == 0, "plaintext_requests = %d" % s["plaintext_requests"])
            expect(s["sealed_requests"] > 0, "no sealed requests")
            return "plaintext_requests=0 sealed_requests=%d" % s["sealed_requests"]

        check("stats: every SOAP body was sealed", all_sealed)

        def plaintext_refused():
            before = strict.stats()
            try:
                session(url, message_encryption="never").run_cmd("echo hi")
                raise AssertionError("plaintext SOAP over HTTP was accepted")
            except InvalidCredentialsError:
                pass
            try:
                session(url, transport="basic", message_encryption="auto").run_cmd("echo hi")
                raise AssertionError("Basic over HTTP was accepted")
            except InvalidCredentialsError:
                pass
            after = strict.stats()
            expect(after["rejected_plaintext"] == before["rejected_plaintext"] + 1, "rejected_plaintext")
            expect(after["rejected_basic_unencrypted"] == before["rejected_basic_unencrypted"] + 1, "basic")
            expect(after["commands_run"] == before["commands_run"], "a command ran")
            return "NTLM+plaintext -> 401 (as Windows), Basic over HTTP -> 401"

        check("strict: plaintext and Basic over HTTP refused", plaintext_refused)

        # ---- --allow-unencrypted ----
        loose = Server(workdir, "allow-unencrypted", "--allow-unencrypted")
        servers.append(loose)

        def allow_unencrypted():
            r = session(loose.url(), message_encryption="never").run_cmd("echo plain")
            expect(r.std_out == b"plain\n", "ntlm plaintext %r" % r.std_out)
            r = session(loose.url(), transport="basic", message_encryption="auto").run_cmd("echo basic")
            expect(r.std_out == b"basic\n", "basic %r" % r.std_out)
            s = loose.stats()
            expect(s["plaintext_requests"] > 0 and s["rejected_plaintext"] == 0, "stats %r" % s)
            return "NTLM plaintext and Basic accepted (%d plaintext requests)" % s["plaintext_requests"]

        check("--allow-unencrypted accepts plaintext", allow_unencrypted)

        # ---- HTTPS ----
        cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tls = Server(workdir, "tls", "--tls-cert", cert, "--tls-key", key)
        servers.append(tls)

        def https():
            turl = tls.url("https")
            kw = dict(server_cert_validation="validate", ca_trust_path=cert)
            r = session(turl, message_encryption="auto", **kw).run_cmd("echo tls-plain")
            expect(r.std_out == b"tls-plain\n", "ntlm over https %r" % r.std_out)
            r = session(turl, transport="basic", message_encryption="auto", **kw).run_cmd("echo tls-basic")
            expect(r.std_out == b"tls-basic\n", "basic over https %r" % r.std_out)
            r = session(turl, message_encryption="always", **kw).run_cmd("echo tls-sealed")
            expect(r.std_out == b"tls-sealed\n", "sealed over https %r" % r.std_out)
            s = tls.stats()
            expect(s["plaintext_requests"] > 0 and s["rejected_plaintext"] == 0 and s["sealed_requests"] > 0,
                   "stats %r" % s)
            return "plaintext NTLM, Basic and sealed NTLM all accepted over TLS (cert validated)"

        check("HTTPS with a self-signed certificate", https)

        # ---- fault injection ----
        flaky = Server(workdir, "drop", "--fault", "drop-mid-command")
        servers.append(flaky)

        def drop_mid_command():
            p = protocol(flaky.url(), operation_timeout_sec=2, read_timeout_sec=10)
            shell = p.open_shell()
            cid = p.run_command(shell, "echo a; sleep 0.3; echo b")
            first = p.get_command_output_raw(shell, cid)[0]
            try:
                p.get_command_output_raw(shell, cid)
                raise AssertionError("second Receive should lose its connection")
            except requests.exceptions.ConnectionError:
                pass
            expect(flaky.stats()["dropped_connections"] == 1, "dropped_connections")
            # A new connection (new NTLM context) picks the command up where it was.
            p2 = protocol(flaky.url(), operation_timeout_sec=2, read_timeout_sec=10)
            rest, _, rc, _, _ = drain(p2, shell, cid)
            p2.close_shell(shell)
            expect(first + rest == b"a\nb\n" and rc == 0, "got %r + %r rc %r" % (first, rest, rc))
            return "2nd Receive: connection closed, no response; output kept for a new connection"

        check("--fault drop-mid-command", drop_mid_command)
    finally:
        for s in servers:
            s.stop()


def main() -> int:
    workdir = tempfile.mkdtemp(prefix="wsman-check-")
    t0 = time.monotonic()
    try:
        try:
            run(workdir)
        except Exception as e:  # harness failure (a server did not start, ...)
            RESULTS.append(("harness", False, "%s: %s" % (type(e).__name__, e)))
            print("FAIL harness: %s: %s" % (type(e).__name__, e), flush=True)
    finally:
        failed = [r for r in RESULTS if not r[1]]
        if failed:
            print("server logs kept in %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    passed = len(RESULTS) - len(failed)
    print("pywinrm %s, pyspnego %s, %.1fs" % (importlib.metadata.version("pywinrm"),
                                               importlib.metadata.version("pyspnego"), time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
