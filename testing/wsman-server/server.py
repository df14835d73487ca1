#!/usr/bin/env python3
"""WS-Management (WinRM) test server: a protocol-faithful stand-in for a Windows WinRM listener.

NOT Windows. It speaks the WinRM wire protocol (HTTP/1.1 on /wsman, NTLM via the Negotiate scheme,
MS-WSMV message sealing, WS-Man shell resource) closely enough that pywinrm, and our own Rust client,
cannot tell the difference for the operations it implements. Commands run under /bin/sh.

The NTLM acceptor and the sealing (wrap_winrm / unwrap_winrm) come from pyspnego, an implementation
independent from the Rust `sspi` crate our client uses. Response shapes (envelopes, faults, HTTP
status lines and headers) are copied from captures of real Windows hosts; see README.md.

Run `server.py --help` for the options. Prints `LISTENING <port>` on stdout once bound.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import codecs
import collections
import email.utils
import json
import logging
import os
import queue
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape as _xml_escape

import spnego
import spnego.exceptions
from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1  # pinned pyspnego==0.12.4

log = logging.getLogger("wsman-server")

# --------------------------------------------------------------------------------------------------
# Protocol constants
# --------------------------------------------------------------------------------------------------

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_MSWSMAN = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
NS_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
NS_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
NS_WSMANFAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
RESOURCE_CMD = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"

ACTION_CREATE = NS_TRANSFER + "/Create"
ACTION_DELETE = NS_TRANSFER + "/Delete"
ACTION_COMMAND = NS_SHELL + "/Command"
ACTION_SEND = NS_SHELL + "/Send"
ACTION_RECEIVE = NS_SHELL + "/Receive"
ACTION_SIGNAL = NS_SHELL + "/Signal"
ACTION_FAULT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"

SIGNAL_TERMINATE = NS_SHELL + "/signal/terminate"
SIGNAL_CTRL_C = NS_SHELL + "/signal/ctrl_c"
SIGNAL_CTRL_BREAK = NS_SHELL + "/signal/ctrl_break"

STATE_RUNNING = NS_SHELL + "/CommandState/Running"
STATE_DONE = NS_SHELL + "/CommandState/Done"

SEAL_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
SEALED_CONTENT_TYPE = 'multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"' % SEAL_PROTOCOL
SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
BOUNDARY = b"--Encrypted Boundary"
SEALED_PREFIX_RE = re.compile(
    rb"\A--Encrypted Boundary\r\n"
    rb"\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
    rb"\tOriginalContent: type=application/soap\+xml;charset=UTF-8;Length=(\d+)\r\n"
    rb"--Encrypted Boundary\r\n"
    rb"\tContent-Type: application/octet-stream\r\n",
    re.IGNORECASE,
)
SEALED_SUFFIX = b"--Encrypted Boundary--\r\n"

# Windows' WS-Man service (HTTP.sys) answers with this Server header and an empty reason phrase.
SERVER_HEADER = "Microsoft-HTTPAPI/2.0"

DEFAULT_OPERATION_TIMEOUT = 60.0  # Windows MaxTimeoutms default (60000)
DEFAULT_MAX_ENVELOPE = 153600
MAX_REQUEST_BODY = 64 * 1024 * 1024
MAX_BUFFERED_OUTPUT = 4 * 1024 * 1024  # per command; readers block above this (back-pressure)
RECEIVE_LINGER = 0.025  # after the first output arrives, wait this long for more / for exit
EXIT_GRACE = 1.0  # after the process exits, wait this long for its pipes to reach EOF

# Windows reports a console process stopped by ctrl_c with STATUS_CONTROL_C_EXIT.
STATUS_CONTROL_C_EXIT = 0xC000013A


def xml_escape(text: str) -> str:
    return _xml_escape(text, {'"': "&quot;"})


def new_uuid() -> str:
    return str(uuid.uuid4()).upper()


# --------------------------------------------------------------------------------------------------
# Windows faults. Texts and codes are those seen from real hosts (pywinrm/pypsrp fixtures recorded
# against Server 2016-2022); faults marked "approximate" use the documented WSMAN error code but the
# exact Reason text of Windows was not available.
# --------------------------------------------------------------------------------------------------


class WSManFault(Exception):
    def __init__(self, code, subcode, reason, wsman_code, message, fault_detail=None, http_status=500):
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.reason = reason
        self.wsman_code = wsman_code
        self.message = message
        self.fault_detail = fault_detail
        self.http_status = http_status


def fault_timed_out() -> WSManFault:
    text = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  "
    return WSManFault("s:Receiver", "w:TimedOut", text, 2150858793, text)


def fault_shell_not_found(shell_id: str) -> WSManFault:
    return WSManFault(
        "s:Sender",
        "w:InvalidSelectors",
        "The WS-Management service cannot process the request because the request contained invalid selectors for the resource. ",
        2150858843,
        "The request for the Windows Remote Shell with ShellId %s failed because the shell was not found on the server. "
        "Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. "
        "Provide the correct ShellId or create a new shell and retry the operation. " % shell_id,
        fault_detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
    )


def fault_command_not_found() -> WSManFault:
    return WSManFault(
        "s:Sender",
        "w:InvalidSelectors",
        "The WS-Management service cannot process the request because the request contained invalid selectors for the resource. ",
        2150858843,
        "The Windows Remote Shell received a request to perform an operation on a command identifier that does not exist. "
        "Either the command has completed execution or the client specified an invalid command identifier. ",
        fault_detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
    )


def fault_action_not_supported(action: str) -> WSManFault:  # approximate
    text = "The WS-Management service does not support the action specified in the request. "
    return WSManFault("s:Sender", "a:ActionNotSupported", text, 2150858771, text + "Action: %s" % action)


def fault_invalid_xml(detail: str) -> WSManFault:  # approximate
    text = "The WS-Management service cannot process the request because the XML is invalid. "
    return WSManFault("s:Sender", "w:SchemaValidationError", text, 2150858819, text + detail)


def fault_bad_resource(resource_uri: str) -> WSManFault:  # approximate
    text = "The WS-Management service cannot process the request. The resource URI is not valid or not found. "
    return WSManFault("s:Sender", "w:DestinationUnreachable", text, 2150858770, text + "ResourceURI: %s" % resource_uri)


def fault_invalid_stream(name: str) -> WSManFault:  # approximate
    text = "The WS-Management service cannot process the request because the request contained an invalid stream name. "
    return WSManFault("s:Sender", "w:InvalidParameter", text, 2150858810, text + "Stream: %s" % name)


# --------------------------------------------------------------------------------------------------
# Stats
# --------------------------------------------------------------------------------------------------

STAT_KEYS = (
    "connections",
    "http_requests",
    "auth_only_requests",
    "sealed_requests",
    "plaintext_requests",
    "rejected_plaintext",
    "rejected_basic_unencrypted",
    "ntlm_auth_ok",
    "basic_auth_ok",
    "auth_failures",
    "anonymous_401",
    "bad_framing",
    "bad_seal",
    "bad_requests",
    "soap_faults",
    "shells_created",
    "shells_open",
    "shells_deleted",
    "shells_expired",
    "commands_run",
    "commands_running",
    "receives",
    "receive_timeouts",
    "sends",
    "signals",
    "dropped_connections",
)


class Stats:
    def __init__(self, path: str | None):
        self.path = path
        self.lock = threading.Lock()
        self.counters = {k: 0 for k in STAT_KEYS}
        self.started = time.time()

    def inc(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counters[key] = self.counters.get(key, 0) + n

    def set(self, key: str, value: int) -> None:
        with self.lock:
            self.counters[key] = value

    def snapshot(self) -> dict:
        with self.lock:
            data = dict(self.counters)
        data["pid"] = os.getpid()
        data["uptime_seconds"] = round(time.time() - self.started, 3)
        return data

    def write(self) -> None:
        if not self.path:
            return
        with self.lock:
            data = dict(self.counters)
            data["pid"] = os.getpid()
            data["uptime_seconds"] = round(time.time() - self.started, 3)
            tmp = "%s.tmp.%d" % (self.path, os.getpid())
            with open(tmp, "w", encoding="utf-8") as fd:
                json.dump(data, fd, indent=2, sort_keys=True)
                fd.write("\n")
            os.replace(tmp, self.path)


# --------------------------------------------------------------------------------------------------
# Users
# --------------------------------------------------------------------------------------------------


class UserDB:
    """Accounts as (domain, user, password). The NTLM side is handed to pyspnego through the
    NTLM_USER_FILE credential store (smbpasswd format, so passwords may contain ':')."""

    def __init__(self):
        self.entries: list[tuple[str, str, str]] = []

    @staticmethod
    def parse_spec(spec: str) -> tuple[str, str, str]:
        # DOMAIN\USER:PASSWORD  (or USER:PASSWORD for a local account). The password is everything
        # after the first ':' so it may itself contain ':'.
        if ":" not in spec:
            raise ValueError("user spec must be DOMAIN\\USER:PASSWORD, got %r" % spec)
        name, password = spec.split(":", 1)
        if "\\" in name:
            domain, user = name.split("\\", 1)
        else:
            domain, user = "", name
        if not user:
            raise ValueError("empty user name in %r" % spec)
        return domain, user, password

    def add(self, spec: str) -> None:
        self.entries.append(self.parse_spec(spec))

    def load_file(self, path: str) -> None:
        with open(path, encoding="utf-8") as fd:
            for line in fd:
                line = line.rstrip("\r\n")
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                self.add(line)

    def write_ntlm_store(self, path: str) -> None:
        lines = []
        for domain, user, password in self.entries:
            lm = binascii.hexlify(lmowfv1(password)).decode().upper()
            nt = binascii.hexlify(ntowfv1(password)).decode().upper()
            names = [("%s\\%s" % (domain, user)) if domain else user]
            if domain:
                names.append("%s@%s" % (user, domain))  # UPN form: user=user@domain, empty NTLM domain
            for name in names:
                lines.append("%s:1000:%s:%s:[U]:LCT-00000000" % (name, lm, nt))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")

    def check_basic(self, username: str, password: str) -> str | None:
        if "\\" in username:
            dom, usr = username.split("\\", 1)
        elif "@" in username:
            usr, dom = username.split("@", 1)
        else:
            dom, usr = None, username
        for domain, user, pw in self.entries:
            if usr.lower() != user.lower() or pw != password:
                continue
            if dom is None or dom.lower() == domain.lower():
                return ("%s\\%s" % (domain, user)) if domain else user
        return None


# --------------------------------------------------------------------------------------------------
# Output transformation (codepage, PowerShell CLIXML stderr)
# --------------------------------------------------------------------------------------------------


class PassThrough:
    def feed(self, data: bytes) -> bytes:
        return data

    def finish(self) -> bytes:
        return b""


class Transcode:
    """UTF-8 (what the Linux processes write) to the shell's WINRS_CODEPAGE, as a Windows console
    would present it."""

    def __init__(self, codec: str):
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.codec = codec

    def feed(self, data: bytes) -> bytes:
        return self.decoder.decode(data).encode(self.codec, errors="replace")

    def finish(self) -> bytes:
        return self.decoder.decode(b"", final=True).encode(self.codec, errors="replace")


def clixml_escape(text: str) -> str:
    out = []
    for i, ch in enumerate(text):
        o = ord(ch)
        if ch == "_" and text[i + 1 : i + 2] in ("x", "X"):
            out.append("_x005F_")
        elif o < 0x20 or 0x7F <= o <= 0x9F or 0xD800 <= o <= 0xDFFF:
            out.append("_x%04X_" % o)
        elif o > 0xFFFF:  # PowerShell escapes each UTF-16 surrogate of a non-BMP character
            o -= 0x10000
            out.append("_x%04X__x%04X_" % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF)))
        elif ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        else:
            out.append(ch)
    return "".join(out)


class CliXmlStderr:
    """Mimics powershell.exe run non-interactively with redirected stderr: the error stream is
    serialised as `#< CLIXML\\r\\n<Objs ...><S S="Error">line_x000D__x000A_</S>...</Objs>`, written as
    the errors happen (streamed line by line)."""

    HEADER = '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'

    def __init__(self, codec: str | None):
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.codec = codec or "utf-8"
        self.pending = ""
        self.started = False

    def _emit(self, lines: list[str]) -> bytes:
        if not lines:
            return b""
        out = []
        if not self.started:
            out.append(self.HEADER)
            self.started = True
        for line in lines:
            out.append('<S S="Error">%s</S>' % clixml_escape(line))
        return "".join(out).encode(self.codec, errors="replace")

    def feed(self, data: bytes) -> bytes:
        self.pending += self.decoder.decode(data)
        lines = []
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            if line.endswith("\r"):
                line = line[:-1]
            lines.append(line + "\r\n")
        return self._emit(lines)

    def finish(self) -> bytes:
        self.pending += self.decoder.decode(b"", final=True)
        out = self._emit([self.pending] if self.pending else [])
        self.pending = ""
        if self.started:
            out += b"</Objs>"
        return out


def codec_for_codepage(codepage: int) -> str | None:
    """None means pass bytes through untouched (65001 = UTF-8, or unknown codepage)."""
    if codepage in (65001, 0):
        return None
    name = "cp%d" % codepage
    try:
        codecs.lookup(name)
        return name
    except LookupError:
        return None


# --------------------------------------------------------------------------------------------------
# Command line translation (Windows command line -> /bin/sh)
# --------------------------------------------------------------------------------------------------


def split_windows_cmdline(line: str) -> list[str]:
    """Tokenise like a Windows command line (double quotes group; no backslash escapes needed here)."""
    tokens, cur, in_q, have = [], [], False, False
    for ch in line:
        if ch == '"':
            in_q = not in_q
            have = True
        elif ch in " \t" and not in_q:
            if have or cur:
                tokens.append("".join(cur))
            cur, have = [], False
        else:
            cur.append(ch)
    if have or cur:
        tokens.append("".join(cur))
    return tokens


def _exe_name(token: str) -> str:
    name = re.split(r"[\\/]", token)[-1].lower()
    return name[:-4] if name.endswith(".exe") else name


_PS_PARAMS_WITH_VALUE = {
    "executionpolicy", "ex", "ep", "outputformat", "o", "of", "inputformat", "if", "inp", "windowstyle", "w",
    "configurationname", "config", "psconsolefile", "version", "v", "workingdirectory", "wd",
}


def translate_command(command: str, arguments: list[str]) -> tuple[list[str], str, str]:
    """Returns (argv, kind, description). kind is 'powershell' or 'cmd'."""
    line = command.strip()
    if arguments:
        line = line + " " + " ".join(arguments)
    tokens = split_windows_cmdline(line)
    exe = _exe_name(tokens[0]) if tokens else ""

    if exe in ("powershell", "pwsh"):
        i = 1
        while i < len(tokens):
            tok = tokens[i]
            low = tok.lower()
            if low == "-":
                return ["/bin/sh", "-s"], "powershell", "powershell (script from stdin)"
            if low.startswith(("-", "/")) and len(low) > 1:
                name = low[1:]
                if name == "ec" or (name.startswith("e") and "encodedcommand".startswith(name) and name not in ("ex",)):
                    if i + 1 >= len(tokens):
                        break
                    try:
                        script = base64.b64decode(tokens[i + 1] + "=" * (-len(tokens[i + 1]) % 4)).decode("utf-16-le")
                    except (binascii.Error, UnicodeDecodeError):
                        script = ""
                    return ["/bin/sh", "-c", script], "powershell", "powershell -EncodedCommand"
                if name in ("command", "c") or ("command".startswith(name) and len(name) >= 1 and name.startswith("c")
                                                 and name not in ("config", "configurationname")):
                    rest = " ".join(tokens[i + 1 :])
                    if rest.strip() == "-":
                        return ["/bin/sh", "-s"], "powershell", "powershell -Command - (stdin)"
                    return ["/bin/sh", "-c", rest], "powershell", "powershell -Command"
                if name in ("file", "f"):
                    rest = tokens[i + 1 :]
                    if rest and rest[0] == "-":
                        return ["/bin/sh", "-s"], "powershell", "powershell -File - (stdin)"
                    return ["/bin/sh"] + rest, "powershell", "powershell -File"
                if name in _PS_PARAMS_WITH_VALUE:
                    i += 2
                    continue
                i += 1
                continue
            # A bare argument: PowerShell treats the remainder as a command.
            return ["/bin/sh", "-c", " ".join(tokens[i:])], "powershell", "powershell <command>"
        return ["/bin/sh", "-s"], "powershell", "powershell (stdin)"

    # `cmd /c X` is what Windows runs anyway; the stand-in runs X with /bin/sh.
    m = re.match(r'^\s*"?(?:[^"\s]*[\\/])?cmd(?:\.exe)?"?((?:\s+/[a-zA-Z](?::\S*)?)*?)\s+/[cCkK]\s*(.*)$', line, re.S)
    if m:
        return ["/bin/sh", "-c", m.group(2)], "cmd", "cmd /c"
    return ["/bin/sh", "-c", line], "cmd", "command line"


# --------------------------------------------------------------------------------------------------
# Shells and commands
# --------------------------------------------------------------------------------------------------


class DropConnection(Exception):
    """Close the TCP connection without answering (fault injection)."""


class Command:
    def __init__(self, app: "App", shell: "Shell", command_id: str, argv: list[str], kind: str):
        self.app = app
        self.shell = shell
        self.id = command_id
        self.kind = kind
        self.cond = threading.Condition()
        self.chunks: collections.deque[tuple[str, bytes]] = collections.deque()
        self.buffered = 0
        self.eof = {"stdout": False, "stderr": False}
        self.exit_code: int | None = None
        self.done_delivered = False
        self.terminated = False
        self.receive_count = 0
        self.stdin_queue: queue.Queue = queue.Queue()
        self.stdin_closed = False

        codec = codec_for_codepage(shell.codepage)
        self.stdin_codec = codec
        env = dict(os.environ)
        env.pop("NTLM_USER_FILE", None)
        env.update(shell.environment)
        env["WSMAN_TEST_SHELL_ID"] = shell.id
        env["WSMAN_TEST_COMMAND_ID"] = command_id
        cwd = shell.working_directory if shell.working_directory and os.path.isdir(shell.working_directory) else None
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,  # own process group: Signal terminate / ctrl_c hit the whole tree
            bufsize=0,
            close_fds=True,
        )
        self.pid = self.proc.pid
        out_tf = Transcode(codec) if codec else PassThrough()
        err_tf = CliXmlStderr(codec) if kind == "powershell" else (Transcode(codec) if codec else PassThrough())
        self.readers = [
            threading.Thread(target=self._reader, args=("stdout", self.proc.stdout, out_tf), daemon=True),
            threading.Thread(target=self._reader, args=("stderr", self.proc.stderr, err_tf), daemon=True),
        ]
        for t in self.readers:
            t.start()
        threading.Thread(target=self._waiter, daemon=True).start()
        threading.Thread(target=self._stdin_writer, daemon=True).start()

    # -- process side ---------------------------------------------------------------------------

    def _push(self, stream: str, data: bytes) -> None:
        if not data:
            return
        with self.cond:
            while self.buffered > MAX_BUFFERED_OUTPUT and not self.terminated:
                self.cond.wait(0.5)
            if self.terminated:
                return
            self.chunks.append((stream, data))
            self.buffered += len(data)
            self.cond.notify_all()

    def _reader(self, stream: str, pipe, transform) -> None:
        fd = pipe.fileno()
        try:
            while True:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                self._push(stream, transform.feed(data))
            self._push(stream, transform.finish())
        finally:
            try:
                pipe.close()
            except OSError:
                pass
            with self.cond:
                self.eof[stream] = True
                self.cond.notify_all()

    def _waiter(self) -> None:
        rc = self.proc.wait()
        deadline = time.monotonic() + EXIT_GRACE
        for t in self.readers:
            t.join(max(0.0, deadline - time.monotonic()))
        if rc < 0:
            sig = -rc
            code = STATUS_CONTROL_C_EXIT if sig == signal.SIGINT else 128 + sig
        else:
            code = rc
        with self.cond:
            self.exit_code = code
            self.cond.notify_all()
        self.app.command_finished(self)

    def _stdin_writer(self) -> None:
        stdin = self.proc.stdin
        while True:
            item = self.stdin_queue.get()
            try:
                if item is None:
                    stdin.close()
                    return
                stdin.write(item)
            except (BrokenPipeError, OSError, ValueError):
                # Process gone or stdin closed: drain silently like a console would.
                if item is None:
                    return

    # -- WS-Man side ----------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.exit_code is not None

    def send_stdin(self, data: bytes, end: bool) -> None:
        if self.stdin_closed:
            return
        if data:
            if self.stdin_codec:
                data = data.decode(self.stdin_codec, errors="replace").encode("utf-8")
            self.stdin_queue.put(data)
        if end:
            self.stdin_closed = True
            self.stdin_queue.put(None)

    def signal(self, code: str) -> None:
        if code == SIGNAL_TERMINATE:
            self.kill(signal.SIGKILL)
            with self.cond:
                self.terminated = True
                self.chunks.clear()
                self.buffered = 0
                self.cond.notify_all()
        elif code in (SIGNAL_CTRL_C, SIGNAL_CTRL_BREAK):
            self.kill(signal.SIGINT)

    def kill(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def receive(self, desired: set[str], timeout: float, max_bytes: int):
        """Returns (list of (stream, bytes), done, exit_code) or raises fault_timed_out()."""
        with self.cond:
            deadline = time.monotonic() + timeout
            while not self.chunks and not self.done:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise fault_timed_out()
                self.cond.wait(remaining)
            if self.chunks and not self.done:
                linger_until = time.monotonic() + RECEIVE_LINGER
                while not self.done and self.buffered < max_bytes:
                    remaining = linger_until - time.monotonic()
                    if remaining <= 0:
                        break
                    self.cond.wait(remaining)
            out: list[tuple[str, bytes]] = []
            taken = 0
            while self.chunks and taken < max_bytes:
                stream, data = self.chunks.popleft()
                room = max_bytes - taken
                if len(data) > room:
                    self.chunks.appendleft((stream, data[room:]))
                    data = data[:room]
                self.buffered -= len(data)
                taken += len(data)
                if stream not in desired:
                    continue  # not asked for: dropped (Windows only sends what DesiredStream names)
                if out and out[-1][0] == stream and len(out[-1][1]) < 65536:
                    out[-1] = (stream, out[-1][1] + data)
                else:
                    out.append((stream, data))
            self.cond.notify_all()
            finished = self.done and not self.chunks
            if finished:
                self.done_delivered = True
            return out, finished, self.exit_code


class Shell:
    def __init__(self, shell_id, owner, client_ip, codepage, input_streams, output_streams, environment,
                 working_directory, idle_timeout):
        self.id = shell_id
        self.owner = owner
        self.client_ip = client_ip
        self.codepage = codepage
        self.input_streams = input_streams
        self.output_streams = output_streams
        self.environment = environment
        self.working_directory = working_directory
        self.idle_timeout = idle_timeout
        self.created = time.time()
        self.last_used = time.monotonic()
        self.lock = threading.Lock()
        self.commands: dict[str, Command] = {}
        self.finished_ids: collections.OrderedDict[str, None] = collections.OrderedDict()

    def forget_command(self, cmd: Command) -> None:
        with self.lock:
            self.last_used = time.monotonic()
            if self.commands.pop(cmd.id, None) is not None:
                self.finished_ids[cmd.id] = None
                while len(self.finished_ids) > 4096:
                    self.finished_ids.popitem(last=False)


# --------------------------------------------------------------------------------------------------
# SOAP request parsing
# --------------------------------------------------------------------------------------------------

_DURATION_RE = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str | None) -> float | None:
    if not text:
        return None
    m = _DURATION_RE.match(text.strip())
    if not m:
        return None
    parts = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def _q(ns: str, name: str) -> str:
    return "{%s}%s" % (ns, name)


def _text(el) -> str:
    return (el.text or "").strip() if el is not None else ""


class SoapRequest:
    def __init__(self, data: bytes):
        try:
            root = ET.fromstring(data)
        except ET.ParseError as e:
            raise fault_invalid_xml(str(e))
        if root.tag != _q(NS_SOAP, "Envelope"):
            raise fault_invalid_xml("root element is %s, expected a SOAP 1.2 Envelope" % root.tag)
        header = root.find(_q(NS_SOAP, "Header"))
        body = root.find(_q(NS_SOAP, "Body"))
        if header is None or body is None:
            raise fault_invalid_xml("SOAP Header and Body are required")
        self.header = header
        self.body = body
        self.action = _text(header.find(_q(NS_WSA, "Action")))
        self.message_id = _text(header.find(_q(NS_WSA, "MessageID")))
        self.to = _text(header.find(_q(NS_WSA, "To")))
        self.resource_uri = _text(header.find(_q(NS_WSMAN, "ResourceURI")))
        self.selectors = {}
        sset = header.find(_q(NS_WSMAN, "SelectorSet"))
        if sset is not None:
            for sel in sset.findall(_q(NS_WSMAN, "Selector")):
                self.selectors[sel.get("Name", "")] = _text(sel)
        self.options = {}
        oset = header.find(_q(NS_WSMAN, "OptionSet"))
        if oset is not None:
            for opt in oset.findall(_q(NS_WSMAN, "Option")):
                self.options[opt.get("Name", "").upper()] = _text(opt)
        self.operation_timeout = parse_duration(_text(header.find(_q(NS_WSMAN, "OperationTimeout"))))
        try:
            self.max_envelope = int(_text(header.find(_q(NS_WSMAN, "MaxEnvelopeSize"))) or DEFAULT_MAX_ENVELOPE)
        except ValueError:
            self.max_envelope = DEFAULT_MAX_ENVELOPE

    @property
    def shell_id(self) -> str:
        return self.selectors.get("ShellId", "")


# --------------------------------------------------------------------------------------------------
# Response envelopes (shapes copied from real Windows responses)
# --------------------------------------------------------------------------------------------------

_ENV_NS = (
    'xmlns:s="%s" xmlns:a="%s" xmlns:x="%s" xmlns:w="%s" xmlns:rsp="%s" xmlns:p="%s"'
    % (NS_SOAP, NS_WSA, NS_TRANSFER, NS_WSMAN, NS_SHELL, NS_MSWSMAN)
)
_FAULT_NS = (
    'xmlns:s="%s" xmlns:a="%s" xmlns:x="%s" xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" '
    'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="%s" xmlns:p="%s"'
    % (NS_SOAP, NS_WSA, NS_TRANSFER, NS_WSMAN, NS_MSWSMAN)
)


def _header(action: str, relates_to: str) -> str:
    h = "<s:Header><a:Action>%s</a:Action><a:MessageID>uuid:%s</a:MessageID><a:To>%s</a:To>" % (
        action, new_uuid(), ANONYMOUS)
    if relates_to:
        h += "<a:RelatesTo>%s</a:RelatesTo>" % xml_escape(relates_to)
    return h + "</s:Header>"


def envelope(action: str, relates_to: str, body: str) -> bytes:
    return ('<s:Envelope xml:lang="en-US" %s>%s<s:Body>%s</s:Body></s:Envelope>'
            % (_ENV_NS, _header(action, relates_to), body)).encode("utf-8")


def fault_envelope(fault: WSManFault, relates_to: str, machine: str) -> bytes:
    detail = ""
    if fault.fault_detail:
        detail += "<w:FaultDetail>%s</w:FaultDetail>" % fault.fault_detail
    detail += '<f:WSManFault xmlns:f="%s" Code="%d" Machine="%s"><f:Message>%s</f:Message></f:WSManFault>' % (
        NS_WSMANFAULT, fault.wsman_code, xml_escape(machine), xml_escape(fault.message))
    body = ('<s:Fault><s:Code><s:Value>%s</s:Value><s:Subcode><s:Value>%s</s:Value></s:Subcode></s:Code>'
            '<s:Reason><s:Text xml:lang="en-US">%s</s:Text></s:Reason><s:Detail>%s</s:Detail></s:Fault>'
            % (fault.code, fault.subcode, xml_escape(fault.reason), detail))
    return ('<s:Envelope xml:lang="en-US" %s>%s<s:Body>%s</s:Body></s:Envelope>'
            % (_FAULT_NS, _header(ACTION_FAULT, relates_to), body)).encode("utf-8")


# --------------------------------------------------------------------------------------------------
# The WS-Man application
# --------------------------------------------------------------------------------------------------


class App:
    def __init__(self, cfg, stats: Stats):
        self.cfg = cfg
        self.stats = stats
        self.lock = threading.Lock()
        self.shells: dict[str, Shell] = {}
        self.running = 0
        self.machine = cfg.machine_name

    # -- bookkeeping ----------------------------------------------------------------------------

    def _update_gauges(self) -> None:
        with self.lock:
            self.stats.set("shells_open", len(self.shells))
            self.stats.set("commands_running", self.running)

    def command_finished(self, cmd: Command) -> None:
        with self.lock:
            self.running -= 1
        self._update_gauges()
        self.stats.write()

    def get_shell(self, shell_id: str) -> Shell:
        """The shell, unless it is unknown or has been idle (no running command, no request) for
        longer than --shell-idle-timeout, as Windows removes idle shells after Shell/IdleTimeout."""
        limit = self.cfg.shell_idle_timeout
        expired = False
        with self.lock:
            shell = self.shells.get(shell_id.upper())
            if shell is not None and limit is not None:
                with shell.lock:
                    idle = not shell.commands and time.monotonic() - shell.last_used > limit
                if idle:
                    del self.shells[shell.id]
                    expired = True
            if shell is not None and not expired:
                shell.last_used = time.monotonic()
        if expired:
            self.stats.inc("shells_expired")
            self._update_gauges()
            raise fault_shell_not_found(shell_id)
        if shell is None:
            raise fault_shell_not_found(shell_id)
        return shell

    def shutdown(self) -> None:
        with self.lock:
            shells = list(self.shells.values())
            self.shells.clear()
        for shell in shells:
            with shell.lock:
                cmds = list(shell.commands.values())
            for cmd in cmds:
                cmd.kill(signal.SIGKILL)

    # -- dispatch -------------------------------------------------------------------------------

    def handle_soap(self, data: bytes, principal: str, client_ip: str) -> tuple[int, bytes]:
        relates_to = ""
        try:
            req = SoapRequest(data)
            relates_to = req.message_id
            if req.action in (ACTION_CREATE, ACTION_DELETE, ACTION_COMMAND, ACTION_SEND, ACTION_RECEIVE, ACTION_SIGNAL):
                if req.resource_uri.lower() != RESOURCE_CMD:
                    raise fault_bad_resource(req.resource_uri)
            if req.action == ACTION_CREATE:
                body = self.create(req, principal, client_ip)
                return 200, envelope(NS_TRANSFER + "/CreateResponse", relates_to, body)
            if req.action == ACTION_DELETE:
                self.delete(req)
                return 200, envelope(NS_TRANSFER + "/DeleteResponse", relates_to, "")
            if req.action == ACTION_COMMAND:
                body = self.command(req)
                return 200, envelope(NS_SHELL + "/CommandResponse", relates_to, body)
            if req.action == ACTION_SEND:
                self.send(req)
                return 200, envelope(NS_SHELL + "/SendResponse", relates_to, "<rsp:SendResponse/>")
            if req.action == ACTION_RECEIVE:
                body = self.receive(req)
                return 200, envelope(NS_SHELL + "/ReceiveResponse", relates_to, body)
            if req.action == ACTION_SIGNAL:
                self.signal(req)
                return 200, envelope(NS_SHELL + "/SignalResponse", relates_to, "<rsp:SignalResponse/>")
            raise fault_action_not_supported(req.action)
        except WSManFault as f:
            self.stats.inc("soap_faults")
            return f.http_status, fault_envelope(f, relates_to, self.machine)

    # -- operations -----------------------------------------------------------------------------

    def create(self, req: SoapRequest, principal: str, client_ip: str) -> str:
        shell_el = req.body.find(_q(NS_SHELL, "Shell"))
        if shell_el is None:
            raise fault_invalid_xml("Create needs an rsp:Shell body")
        input_streams = _text(shell_el.find(_q(NS_SHELL, "InputStreams"))) or "stdin"
        output_streams = _text(shell_el.find(_q(NS_SHELL, "OutputStreams"))) or "stdout stderr"
        working_dir = _text(shell_el.find(_q(NS_SHELL, "WorkingDirectory"))) or None
        idle = _text(shell_el.find(_q(NS_SHELL, "IdleTimeOut")))
        env = {}
        env_el = shell_el.find(_q(NS_SHELL, "Environment"))
        if env_el is not None:
            for var in env_el.findall(_q(NS_SHELL, "Variable")):
                env[var.get("Name", "")] = var.text or ""
        try:
            codepage = int(req.options.get("WINRS_CODEPAGE", "437") or 437)
        except ValueError:
            codepage = 437
        shell_id = (shell_el.get("ShellId") or new_uuid()).upper()
        idle_timeout = "PT7200.000S"
        if idle:
            secs = parse_duration(idle)
            if secs is None:
                try:
                    secs = float(idle) / 1000.0  # pywinrm may send milliseconds
                except ValueError:
                    secs = 7200.0
            idle_timeout = "PT%.3fS" % secs
        shell = Shell(shell_id, principal, client_ip, codepage, input_streams.split(), output_streams.split(), env,
                      working_dir, idle_timeout)
        with self.lock:
            self.shells[shell_id] = shell
        self.stats.inc("shells_created")
        self._update_gauges()
        address = xml_escape(req.to or "http://localhost:5985/wsman")
        return (
            "<x:ResourceCreated><a:Address>%s</a:Address><a:ReferenceParameters><w:ResourceURI>%s</w:ResourceURI>"
            '<w:SelectorSet><w:Selector Name="ShellId">%s</w:Selector></w:SelectorSet></a:ReferenceParameters>'
            '</x:ResourceCreated><rsp:Shell xmlns:rsp="%s"><rsp:ShellId>%s</rsp:ShellId>'
            "<rsp:ResourceUri>%s</rsp:ResourceUri><rsp:Owner>%s</rsp:Owner><rsp:ClientIP>%s</rsp:ClientIP>"
            "<rsp:IdleTimeOut>%s</rsp:IdleTimeOut><rsp:InputStreams>%s</rsp:InputStreams>"
            "<rsp:OutputStreams>%s</rsp:OutputStreams><rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime>"
            "<rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>"
            % (address, RESOURCE_CMD, shell_id, NS_SHELL, shell_id, RESOURCE_CMD, xml_escape(principal),
               xml_escape(client_ip), idle_timeout, xml_escape(" ".join(shell.input_streams)),
               xml_escape(" ".join(shell.output_streams)))
        )

    def delete(self, req: SoapRequest) -> None:
        shell = self.get_shell(req.shell_id)
        with self.lock:
            self.shells.pop(shell.id, None)
        with shell.lock:
            cmds = list(shell.commands.values())
            shell.commands.clear()
        for cmd in cmds:
            cmd.signal(SIGNAL_TERMINATE)
        self.stats.inc("shells_deleted")
        self._update_gauges()

    def command(self, req: SoapRequest) -> str:
        shell = self.get_shell(req.shell_id)
        cl = req.body.find(_q(NS_SHELL, "CommandLine"))
        if cl is None:
            raise fault_invalid_xml("Command needs an rsp:CommandLine body")
        command_text = (cl.findtext(_q(NS_SHELL, "Command")) or "").strip()
        arguments = [a.text or "" for a in cl.findall(_q(NS_SHELL, "Arguments"))]
        if not command_text:
            raise fault_invalid_xml("empty rsp:Command")
        argv, kind, desc = translate_command(command_text, arguments)
        command_id = (cl.get("CommandId") or new_uuid()).upper()
        log.info("shell %s command %s: %s -> %s", shell.id, command_id, desc, argv[:2])
        with self.lock:
            self.running += 1  # before the process starts: its waiter thread decrements
        try:
            cmd = Command(self, shell, command_id, argv, kind)
        except OSError as e:
            with self.lock:
                self.running -= 1
            raise WSManFault("s:Receiver", "w:InternalError", "The command could not be started. ", 2150858752,
                             "The command could not be started: %s" % e)
        with shell.lock:
            shell.commands[command_id] = cmd
        self.stats.inc("commands_run")
        self._update_gauges()
        return "<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId></rsp:CommandResponse>" % command_id

    def _get_command(self, shell: Shell, command_id: str) -> Command:
        with shell.lock:
            cmd = shell.commands.get(command_id.upper())
        if cmd is None:
            raise fault_command_not_found()
        return cmd

    def send(self, req: SoapRequest) -> None:
        shell = self.get_shell(req.shell_id)
        send_el = req.body.find(_q(NS_SHELL, "Send"))
        if send_el is None:
            raise fault_invalid_xml("Send needs an rsp:Send body")
        self.stats.inc("sends")
        for stream in send_el.findall(_q(NS_SHELL, "Stream")):
            name = stream.get("Name", "stdin")
            if name not in shell.input_streams:
                raise fault_invalid_stream(name)
            cmd = self._get_command(shell, stream.get("CommandId", ""))
            try:
                data = base64.b64decode((stream.text or "").strip())
            except binascii.Error:
                raise fault_invalid_xml("stream data is not base64")
            cmd.send_stdin(data, (stream.get("End", "false").lower() == "true"))

    def receive(self, req: SoapRequest) -> str:
        shell = self.get_shell(req.shell_id)
        recv_el = req.body.find(_q(NS_SHELL, "Receive"))
        desired_el = recv_el.find(_q(NS_SHELL, "DesiredStream")) if recv_el is not None else None
        if desired_el is None:
            raise fault_invalid_xml("Receive needs rsp:Receive/rsp:DesiredStream")
        cmd = self._get_command(shell, desired_el.get("CommandId", ""))
        desired = set((desired_el.text or "stdout stderr").split()) & set(shell.output_streams)
        self.stats.inc("receives")
        cmd.receive_count += 1
        if "drop-mid-command" in self.cfg.fault and cmd.receive_count == 2:
            raise DropConnection()
        requested = req.operation_timeout if req.operation_timeout is not None else DEFAULT_OPERATION_TIMEOUT
        timeout = min(requested, self.cfg.operation_timeout_cap)
        # Leave room for the base64 (4/3) and the envelope around it.
        max_bytes = max(4096, int((req.max_envelope - 4096) * 3 / 4))
        try:
            chunks, finished, exit_code = cmd.receive(desired, timeout, max_bytes)
        except WSManFault:
            self.stats.inc("receive_timeouts")
            raise
        parts = ["<rsp:ReceiveResponse>"]
        cid = cmd.id
        for stream, data in chunks:
            parts.append('<rsp:Stream Name="%s" CommandId="%s">%s</rsp:Stream>'
                         % (stream, cid, base64.b64encode(data).decode("ascii")))
        if finished:
            for stream in shell.output_streams:
                parts.append('<rsp:Stream Name="%s" CommandId="%s" End="true"></rsp:Stream>' % (stream, cid))
            parts.append('<rsp:CommandState CommandId="%s" State="%s"><rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState>'
                         % (cid, STATE_DONE, exit_code))
            shell.forget_command(cmd)
        else:
            parts.append('<rsp:CommandState CommandId="%s" State="%s"/>' % (cid, STATE_RUNNING))
        parts.append("</rsp:ReceiveResponse>")
        return "".join(parts)

    def signal(self, req: SoapRequest) -> None:
        shell = self.get_shell(req.shell_id)
        sig_el = req.body.find(_q(NS_SHELL, "Signal"))
        if sig_el is None:
            raise fault_invalid_xml("Signal needs an rsp:Signal body")
        code = _text(sig_el.find(_q(NS_SHELL, "Code")))
        command_id = (sig_el.get("CommandId") or "").upper()
        self.stats.inc("signals")
        if not command_id:
            return  # shell-level signal: nothing to do for a cmd shell
        with shell.lock:
            cmd = shell.commands.get(command_id)
            known = cmd is not None or command_id in shell.finished_ids
        if not known:
            raise fault_command_not_found()
        if cmd is None:
            return  # already finished and collected (pywinrm's cleanup_command after Done): accepted
        cmd.signal(code)
        if code == SIGNAL_TERMINATE:
            shell.forget_command(cmd)


# --------------------------------------------------------------------------------------------------
# HTTP layer
# --------------------------------------------------------------------------------------------------


class HttpError(Exception):
    def __init__(self, status: int, stat: str | None = None, close: bool = True):
        super().__init__(status)
        self.status = status
        self.stat = stat
        self.close = close


def parse_sealed(body: bytes) -> tuple[int, bytes, bytes]:
    """Strict MS-WSMV 2.2.9.1.1 framing as Windows accepts it. Returns (length, signature, ciphertext)."""
    m = SEALED_PREFIX_RE.match(body)
    if not m:
        raise ValueError("sealed body does not start with the expected MIME headers")
    length = int(m.group(1))
    rest = body[m.end():]
    if len(rest) < 4:
        raise ValueError("truncated signature length")
    sig_len = struct.unpack("<I", rest[:4])[0]
    if sig_len != 16:
        raise ValueError("NTLM signature length must be 16, got %d" % sig_len)
    signature = rest[4:4 + sig_len]
    ciphertext = rest[4 + sig_len:4 + sig_len + length]
    tail = rest[4 + sig_len + length:]
    if len(ciphertext) != length:
        raise ValueError("ciphertext shorter than OriginalContent Length")
    if tail != SEALED_SUFFIX:
        raise ValueError("expected the closing boundary right after the ciphertext, got %r" % tail[:32])
    return length, signature, ciphertext


def build_sealed(signature: bytes, ciphertext: bytes, plain_len: int) -> bytes:
    return (
        BOUNDARY + b"\r\n"
        b"\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
        b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + str(plain_len).encode() + b"\r\n"
        + BOUNDARY + b"\r\n"
        b"\tContent-Type: application/octet-stream\r\n"
        + struct.pack("<I", len(signature)) + signature + ciphertext + SEALED_SUFFIX
    )


def _is_new_negotiation(token: bytes) -> bool:
    if token.startswith(b"NTLMSSP\x00") and len(token) >= 12:
        return struct.unpack("<I", token[8:12])[0] == 1
    return token[:1] == b"\x60"  # SPNEGO NegTokenInit (GSS-API InitialContextToken)


class WSManHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 600  # idle keep-alive connections are dropped after this

    server: "WSManHTTPServer"

    # -- connection lifecycle -------------------------------------------------------------------

    def setup(self):
        sock = self.request
        if isinstance(sock, ssl.SSLSocket):
            sock.settimeout(15)
            sock.do_handshake()
        super().setup()
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.ntlm = None  # one NTLM (Negotiate) context per TCP connection, as HTTP.sys does
        self.ntlm_authenticated = False
        self.ntlm_principal = ""
        self.server.stats.inc("connections")

    def version_string(self):
        return SERVER_HEADER

    def log_message(self, fmt, *args):
        log.debug("%s %s", self.client_address[0], fmt % args)

    # -- responses ------------------------------------------------------------------------------

    def _respond(self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None,
                 close: bool = False) -> None:
        lines = ["HTTP/1.1 %d " % status]  # Windows sends an empty reason phrase
        for k, v in headers or []:
            lines.append("%s: %s" % (k, v))
        lines.append("Server: " + SERVER_HEADER)
        lines.append("Date: " + email.utils.formatdate(usegmt=True))
        if close:
            lines.append("Connection: close")
            self.close_connection = True
        lines.append("Content-Length: %d" % len(body))
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.server.stats.write()  # before the reply leaves: a client that reads the file next sees it
        self.wfile.write(head + body)
        log.debug("%s -> %d (%d bytes)%s", self.requestline, status, len(body), " close" if close else "")

    def _challenge_headers(self) -> list[tuple[str, str]]:
        h = []
        if self.server.cfg.auth in ("ntlm", "both"):
            h.append(("WWW-Authenticate", "Negotiate"))
        if self.server.cfg.auth in ("basic", "both"):
            h.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
        return h

    def _unauthorized(self, stat: str | None) -> None:
        if stat:
            self.server.stats.inc(stat)
        self.ntlm = None
        self.ntlm_authenticated = False
        self._respond(401, headers=self._challenge_headers(), close=True)

    # -- request --------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                size_line = self.rfile.readline(1024)
                if not size_line:
                    raise HttpError(400, "bad_requests")
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(8)
                if len(out) > MAX_REQUEST_BODY:
                    raise HttpError(413, "bad_requests")
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
        except ValueError:
            raise HttpError(400, "bad_requests")
        if n < 0 or n > MAX_REQUEST_BODY:
            raise HttpError(413, "bad_requests")
        data = self.rfile.read(n)
        if len(data) != n:
            raise HttpError(400, "bad_requests")
        return data

    def do_POST(self):
        stats = self.server.stats
        stats.inc("http_requests")
        try:
            self._handle_post()
        except HttpError as e:
            if e.stat:
                stats.inc(e.stat)
            self._respond(e.status, close=e.close)

    def do_GET(self):
        self.server.stats.inc("http_requests")
        self._respond(405, headers=[("Allow", "POST")])

    def _handle_post(self) -> None:
        cfg = self.server.cfg
        stats = self.server.stats
        body = self._read_body()
        if self.path.split("?", 1)[0].rstrip("/").lower() != "/wsman":
            raise HttpError(404, close=False)

        principal = self.ntlm_principal if self.ntlm_authenticated else ""
        final_token: bytes | None = None
        via_basic = False
        authz = self.headers.get("Authorization")
        if authz:
            scheme, _, token = authz.strip().partition(" ")
            scheme = scheme.lower()
            if scheme == "negotiate" and cfg.auth in ("ntlm", "both"):
                try:
                    raw = base64.b64decode(token.strip(), validate=True)
                except (binascii.Error, ValueError):
                    return self._unauthorized("auth_failures")
                if self.ntlm is None or self.ntlm.complete or _is_new_negotiation(raw):
                    self.ntlm = spnego.server(protocol="negotiate")
                    self.ntlm_authenticated = False
                try:
                    out = self.ntlm.step(raw)
                except spnego.exceptions.SpnegoError as e:
                    log.info("NTLM authentication failed: %s", e)
                    return self._unauthorized("auth_failures")
                if not self.ntlm.complete:
                    headers = [("WWW-Authenticate", "Negotiate " + base64.b64encode(out or b"").decode())]
                    return self._respond(401, headers=headers)
                self.ntlm_authenticated = True
                self.ntlm_principal = self.ntlm.client_principal or ""
                principal = self.ntlm_principal
                final_token = out
                stats.inc("ntlm_auth_ok")
            elif scheme == "basic" and cfg.auth in ("basic", "both"):
                if not self.tls and not cfg.allow_unencrypted:
                    # Windows refuses Basic over HTTP unless AllowUnencrypted=true.
                    return self._unauthorized("rejected_basic_unencrypted")
                try:
                    user, _, password = base64.b64decode(token.strip()).decode("utf-8").partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    return self._unauthorized("auth_failures")
                principal = self.server.users.check_basic(user, password) or ""
                if not principal:
                    return self._unauthorized("auth_failures")
                via_basic = True
                stats.inc("basic_auth_ok")
            else:
                return self._unauthorized("auth_failures")
        elif not self.ntlm_authenticated:
            return self._unauthorized("anonymous_401")

        extra_headers = []
        if final_token:
            extra_headers.append(("WWW-Authenticate", "Negotiate " + base64.b64encode(final_token).decode()))

        if not body:
            stats.inc("auth_only_requests")
            return self._respond(200, headers=extra_headers)

        ctype = (self.headers.get("Content-Type") or "").lower()
        sealed = False
        if ctype.startswith("multipart/encrypted"):
            if SEAL_PROTOCOL.lower() not in ctype or via_basic or not self.ntlm_authenticated:
                raise HttpError(400, "bad_requests")
            try:
                length, signature, ciphertext = parse_sealed(body)
            except ValueError as e:
                log.info("bad sealed framing: %s", e)
                raise HttpError(400, "bad_framing")
            try:
                plaintext = self.ntlm.unwrap_winrm(signature, ciphertext)
            except spnego.exceptions.SpnegoError as e:
                log.info("unwrap failed: %s", e)
                self.ntlm = None
                self.ntlm_authenticated = False
                raise HttpError(400, "bad_seal")
            stats.inc("sealed_requests")
            sealed = True
        elif ctype.startswith("application/soap+xml"):
            stats.inc("plaintext_requests")
            if not self.tls and not cfg.allow_unencrypted:
                # Seen from Windows (AllowUnencrypted=false, HTTP listener): 401 with the challenge
                # headers, Connection: close, empty body, even though the NTLM handshake succeeded.
                return self._unauthorized("rejected_plaintext")
            plaintext = body
        else:
            raise HttpError(415, "bad_requests")

        try:
            status, reply = self.server.app.handle_soap(plaintext, principal, self.client_address[0])
        except DropConnection:
            stats.inc("dropped_connections")
            stats.write()
            log.info("fault injection: dropping the connection on a Receive")
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return

        if sealed:
            res = self.ntlm.wrap_winrm(reply)
            payload = build_sealed(res.header, res.data, len(reply))
            self._respond(status, payload, [("Content-Type", SEALED_CONTENT_TYPE)] + extra_headers)
        else:
            self._respond(status, reply, [("Content-Type", SOAP_CONTENT_TYPE)] + extra_headers)


class WSManHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, cfg, app: App, stats: Stats, users: UserDB, ssl_ctx):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.cfg = cfg
        self.app = app
        self.stats = stats
        self.users = users
        self.ssl_ctx = ssl_ctx
        super().__init__(address, WSManHandler)

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ssl_ctx is not None:
            # Handshake happens in the connection's own thread (WSManHandler.setup).
            sock = self.ssl_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, TimeoutError)):
            log.debug("connection from %s ended: %r", client_address, exc)
        else:
            log.exception("error while serving %s", client_address)


# --------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="WS-Management (WinRM) test server: a Linux stand-in for a Windows host.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default 0)")
    p.add_argument("--users", metavar="FILE", help="file of DOMAIN\\USER:PASSWORD lines ('#' comments)")
    p.add_argument("--user", action="append", default=[], metavar="DOMAIN\\USER:PASSWORD",
                   help="an account (repeatable); a name without DOMAIN\\ is a local account")
    p.add_argument("--auth", choices=("ntlm", "basic", "both"), default="both",
                   help="auth schemes offered: Negotiate (NTLM), Basic, or both (default, as Windows with Basic on)")
    p.add_argument("--allow-unencrypted", action="store_true",
                   help="accept plaintext SOAP (and Basic) over plain HTTP, like AllowUnencrypted=true")
    p.add_argument("--tls-cert", help="PEM certificate (chain) to serve HTTPS")
    p.add_argument("--tls-key", help="PEM private key for --tls-cert")
    p.add_argument("--stats-file", help="JSON counters, rewritten after every request")
    p.add_argument("--fault", action="append", default=[], choices=("drop-mid-command",),
                   help="fault injection: drop-mid-command closes the TCP connection without a response on the "
                        "second Receive of every command")
    p.add_argument("--operation-timeout-cap", type=float, default=DEFAULT_OPERATION_TIMEOUT, metavar="SECS",
                   help="longest a Receive waits for output before the w:TimedOut fault (default 60, Windows' "
                        "MaxTimeoutms)")
    p.add_argument("--shell-idle-timeout", type=float, default=None, metavar="SECS",
                   help="remove shells idle (no command running, no request) for longer than this, "
                        "as Windows does after Shell/IdleTimeout (default: never)")
    p.add_argument("--machine-name", default=socket.gethostname(), help="Machine attribute in WSManFault details")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log to stderr (-v info, -vv debug)")
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if not args.user and not args.users:
        p.error("at least one --user or --users is required")
    if args.operation_timeout_cap <= 0:
        p.error("--operation-timeout-cap must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose >= 2 else logging.INFO if args.verbose == 1 else logging.WARNING,
        format="%(asctime)s wsman-server[%(process)d] %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    users = UserDB()
    if args.users:
        users.load_file(args.users)
    for spec in args.user:
        users.add(spec)

    store_dir = tempfile.mkdtemp(prefix="wsman-server-")
    store = os.path.join(store_dir, "ntlm-users")
    users.write_ntlm_store(store)
    os.environ["NTLM_USER_FILE"] = store  # pyspnego's NTLM acceptor reads its accounts from here

    ssl_ctx = None
    if args.tls_cert:
        ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_ctx.load_cert_chain(args.tls_cert, args.tls_key)

    stats = Stats(args.stats_file)
    app = App(args, stats)
    server = WSManHTTPServer((args.host, args.port), args, app, stats, users, ssl_ctx)
    stats.write()

    def _stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    port = server.server_address[1]
    print("LISTENING %d" % port, flush=True)
    log.info("listening on %s:%d (%s, auth=%s, allow_unencrypted=%s)", args.host, port,
             "https" if ssl_ctx else "http", args.auth, args.allow_unencrypted)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        app.shutdown()
        server.server_close()
        try:
            os.unlink(store)
            os.rmdir(store_dir)
        except OSError:
            pass
        stats.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
