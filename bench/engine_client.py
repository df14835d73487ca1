#!/usr/bin/env python3
"""API client of bench/engine.sh (standard library only): queues runs over kept-alive HTTPS
connections, follows them to their end through GET /runs/{id}/events (the stream ends after the
run's final status) and reads the server's timestamps. Prints one JSON object on stdout.

  engine_client.py dispatch   --n N --warmup W            one run after another
  engine_client.py throughput --m M --parallel P          M runs queued at once, then waited for
  engine_client.py fleet      --expect-targets T          one run, then its step rows checked

Common options: --base https://ADDR --ca CA.pem --job JOB_ID; the access token comes from the
environment (BENCH_TOKEN) so that it does not show in the process list.
"""

import argparse
import datetime
import http.client
import json
import os
import ssl
import statistics
import sys
import threading
import time
import urllib.parse

TERMINAL = ("succeeded", "failed", "canceled")


def ts(value):
    """RFC 3339 (the server writes microseconds and a Z) -> seconds since the epoch."""
    if value is None:
        return None
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(value).timestamp()


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    xs = sorted(values)
    k = max(0, min(len(xs) - 1, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def summary(values):
    if not values:
        return None
    return {
        "n": len(values),
        "median": statistics.median(values),
        "p90": pct(values, 90),
        "p99": pct(values, 99),
        "min": min(values),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


class Api:
    """One kept-alive HTTPS connection; reconnects once if the server closed it."""

    def __init__(self, base, ca, token, timeout=120):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port or 443
        self.ctx = ssl.create_default_context(cafile=ca)
        self.token = token
        self.timeout = timeout
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPSConnection(
            self.host, self.port, context=self.ctx, timeout=self.timeout)

    def request(self, method, path, body=None):
        """-> (status, raw body bytes); reads the whole answer (an SSE stream: to its end)."""
        headers = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                if resp.will_close:
                    self.conn.close()
                    self.conn = None
                return resp.status, raw
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def json(self, method, path, body=None, want=(200,)):
        status, raw = self.request(method, path, body)
        if status not in want:
            raise SystemExit("bench: %s %s answered %d: %s" % (method, path, status, raw[:500].decode(errors="replace")))
        return json.loads(raw)


def start_run(api, job):
    return api.json("POST", "/jobs/%d/run" % job, {}, want=(201,))


def follow(api, run_id):
    """Reads the run's event stream to its end, then returns the run."""
    status, raw = api.request("GET", "/runs/%d/events" % run_id)
    if status != 200:
        raise SystemExit("bench: GET /runs/%d/events answered %d: %s" % (run_id, status, raw[:300]))
    run = api.json("GET", "/runs/%d" % run_id)
    if run["status"] not in TERMINAL:
        # The stream ended early (it should not): poll until the run is over.
        deadline = time.monotonic() + 600
        while run["status"] not in TERMINAL and time.monotonic() < deadline:
            time.sleep(0.01)
            run = api.json("GET", "/runs/%d" % run_id)
        run["_stream_ended_early"] = True
    return run


def run_times(run):
    q, s, f = ts(run["queued_at"]), ts(run.get("started_at")), ts(run.get("finished_at"))
    return {
        "dispatch_ms": (s - q) * 1000 if s is not None else None,
        "exec_ms": (f - s) * 1000 if f is not None and s is not None else None,
        "total_ms": (f - q) * 1000 if f is not None else None,
    }


def cmd_dispatch(a, api):
    dispatch, execs, totals, client, bad, early = [], [], [], [], [], 0
    for i in range(a.warmup + a.n):
        t0 = time.perf_counter()
        run = start_run(api, a.job)
        run = follow(api, run["id"])
        t1 = time.perf_counter()
        early += bool(run.get("_stream_ended_early"))
        if run["status"] != "succeeded":
            bad.append({"id": run["id"], "status": run["status"], "error": run.get("error")})
        if i < a.warmup:
            continue
        t = run_times(run)
        if t["dispatch_ms"] is not None:
            dispatch.append(t["dispatch_ms"])
        if t["exec_ms"] is not None:
            execs.append(t["exec_ms"])
        if t["total_ms"] is not None:
            totals.append(t["total_ms"])
        client.append((t1 - t0) * 1000)
    return {
        "runs": a.n, "warmup": a.warmup,
        "dispatch_ms": summary(dispatch), "exec_ms": summary(execs),
        "total_ms": summary(totals), "client_ms": summary(client),
        "not_succeeded": len(bad), "not_succeeded_first": bad[:5],
        "streams_ended_early": early,
        "started_before_queued": sum(1 for d in dispatch if d < 0),
    }


def count(api, job, status):
    return api.json("GET", "/runs?job_id=%d&status=%s&limit=1" % (job, status))["total"]


def all_runs(api, job):
    runs, skip = [], 0
    while True:
        page = api.json("GET", "/runs?job_id=%d&skip=%d&limit=100" % (job, skip))
        runs.extend(page["runs"])
        skip += len(page["runs"])
        if not page["runs"] or skip >= page["total"]:
            return runs


def cmd_throughput(a, api):
    lock = threading.Lock()
    next_i = [0]
    posted, errors = [], []

    def poster():
        mine = Api(a.base, a.ca, api.token)
        while True:
            with lock:
                if next_i[0] >= a.m:
                    return
                next_i[0] += 1
            try:
                status, raw = mine.request("POST", "/jobs/%d/run" % a.job, {})
                if status == 201:
                    with lock:
                        posted.append(json.loads(raw)["id"])
                else:
                    with lock:
                        errors.append("HTTP %d: %s" % (status, raw[:200].decode(errors="replace")))
            except Exception as e:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(repr(e))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=poster) for _ in range(a.parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_posted = time.perf_counter()

    deadline = t0 + a.timeout
    polls = 0
    while True:
        polls += 1
        ok, failed, canceled = (count(api, a.job, s) for s in TERMINAL)
        if ok + failed + canceled >= len(posted):
            break
        if time.perf_counter() > deadline:
            break
        time.sleep(a.poll)
    t_done = time.perf_counter()

    runs = all_runs(api, a.job)
    queued = [ts(r["queued_at"]) for r in runs]
    finished = [ts(r["finished_at"]) for r in runs if r.get("finished_at")]
    dispatch = [run_times(r)["dispatch_ms"] for r in runs if r.get("started_at")]
    totals = [run_times(r)["total_ms"] for r in runs if r.get("finished_at")]
    failures = [{"id": r["id"], "status": r["status"], "error": r.get("error")}
                for r in runs if r["status"] in ("failed", "canceled")]
    server_span = (max(finished) - min(queued)) if finished and queued else None
    wall = t_done - t0
    return {
        "requested": a.m, "posted": len(posted), "post_errors": len(errors),
        "post_errors_first": errors[:5], "parallel": a.parallel,
        "post_wall_s": t_posted - t0, "wall_s": wall,
        "timed_out": ok + failed + canceled < len(posted),
        "succeeded": ok, "failed": failed, "canceled": canceled,
        "runs_per_s_client": ok / wall if wall > 0 else None,
        "server_span_s": server_span,
        "runs_per_s_server": (len(finished) / server_span) if server_span else None,
        "queued_to_started_ms": summary(dispatch), "queued_to_finished_ms": summary(totals),
        "failures_first": failures[:5], "polls": polls,
        "started_before_queued": sum(1 for d in dispatch if d < 0),
    }


def cmd_fleet(a, api):
    t0 = time.perf_counter()
    run = start_run(api, a.job)
    run = follow(api, run["id"])
    t1 = time.perf_counter()
    steps = api.json("GET", "/runs/%d/steps" % run["id"])
    by_status = {}
    for s in steps:
        by_status[s["status"]] = by_status.get(s["status"], 0) + 1
    names = {s.get("target_name") for s in steps}
    bad = [{"target": s.get("target_name"), "status": s["status"], "exit_code": s.get("exit_code"),
            "error": s.get("error"), "stderr": (s.get("stderr") or "")[:200]}
           for s in steps if s["status"] != "succeeded" or "Linux" not in (s.get("stdout") or "")]
    step_secs = [ts(s["finished_at"]) - ts(s["started_at"]) for s in steps
                 if s.get("started_at") and s.get("finished_at")]
    t = run_times(run)
    return {
        "run_id": run["id"], "status": run["status"], "error": run.get("error"),
        "client_s": t1 - t0,
        "server_s": t["total_ms"] / 1000 if t["total_ms"] is not None else None,
        "dispatch_ms": t["dispatch_ms"],
        "steps": len(steps), "distinct_targets": len(names), "by_status": by_status,
        "ok_with_output": sum(1 for s in steps if s["status"] == "succeeded" and "Linux" in (s.get("stdout") or "")),
        "expected": a.expect_targets,
        "step_s": summary(step_secs),
        "bad_first": bad[:5], "stream_ended_early": bool(run.get("_stream_ended_early")),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("dispatch", "throughput", "fleet"))
    p.add_argument("--base", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--job", type=int, required=True)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--m", type=int, default=1000)
    p.add_argument("--parallel", type=int, default=16)
    p.add_argument("--poll", type=float, default=0.1)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--expect-targets", type=int, default=0)
    a = p.parse_args()
    token = os.environ.get("BENCH_TOKEN") or sys.exit("bench: BENCH_TOKEN is not set")
    api = Api(a.base, a.ca, token)
    out = {"dispatch": cmd_dispatch, "throughput": cmd_throughput, "fleet": cmd_fleet}[a.mode](a, api)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
