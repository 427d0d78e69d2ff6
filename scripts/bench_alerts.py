#!/usr/bin/env python3
"""Measure alert delivery to a local webhook (or PagerDuty stand-in): latency and alerts per second.

A Python HTTP server on 127.0.0.1 stands in for the webhook and records arrival times; with
`--sink pagerduty` it stands in for the PagerDuty Events API v2 (`POST /v2/enqueue`, answered 202)
and the sink is `type = "pagerduty"`.
1. Latency: a warm `trailwatch watch --dir` gets one delivery file at a time (one critical
   finding each); the time from the file appearing (atomic rename) to the webhook request.
2. Throughput: one file with --findings findings; the time from the file appearing to the last
   webhook request. Baseline measured in the same run: a Python client posting the same number
   of JSON bodies to the same server over one keep-alive connection.

    scripts/bench_alerts.py [--findings 2000] [--latency-samples 30] [--sink webhook|pagerduty]
"""

import argparse
import gzip
import http.client
import http.server
import json
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
arrivals = {}
lock = threading.Lock()


class Hook(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        now = time.perf_counter()
        try:
            doc = json.loads(body)
            key = doc.get("event_id") or doc.get("payload", {}).get("custom_details", {}).get("event_id", "")
        except (ValueError, AttributeError):
            key = ""
        with lock:
            arrivals[key] = now
        pd = self.path == "/v2/enqueue"
        answer = b'{"status":"success","message":"Event processed"}' if pd else b"ok"
        self.send_response(202 if pd else 200)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def record(i):
    return {"eventVersion": "1.09", "eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging",
            "eventTime": "2026-11-20T09:05:12Z", "eventID": f"e-{i}", "awsRegion": "us-east-1",
            "recipientAccountId": "111122223333", "sourceIPAddress": "198.51.100.7",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/bench"},
            "requestParameters": {"name": "trail"}}


def drop(inbox, name, recs):
    tmp = inbox.parent / (name + ".tmp")
    tmp.write_bytes(gzip.compress(json.dumps({"Records": recs}).encode(), mtime=0))
    os.replace(tmp, inbox / name)
    return time.perf_counter()


def wait(keys, timeout=120):
    t = time.perf_counter()
    while time.perf_counter() - t < timeout:
        with lock:
            if all(k in arrivals for k in keys):
                return True
        time.sleep(0.001)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=2000)
    ap.add_argument("--latency-samples", type=int, default=30)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--sink", choices=["webhook", "pagerduty"], default="webhook")
    args = ap.parse_args()
    if not args.skip_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "-q"], cwd=ROOT, check=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    work = Path(tempfile.mkdtemp(prefix="tw-alert-bench-"))
    inbox = work / "in"
    inbox.mkdir()
    if args.sink == "pagerduty":
        sink = (f'type = "pagerduty"\nrouting_key = "{"b" * 32}"\n'
                f'url = "http://127.0.0.1:{port}/v2/enqueue"\n')
    else:
        sink = f'type = "webhook"\nurl = "http://127.0.0.1:{port}/hook"\n'
    (work / "c.toml").write_text(f'[sinks.hook]\n{sink}[alerts]\ndefault = ["hook"]\n')
    proc = subprocess.Popen([str(ROOT / "target/release/trailwatch"), "watch", "--config", str(work / "c.toml"),
                             "--dir", str(inbox), "--packs", "guide", "--state", str(work / "s.db"),
                             "-o", str(work / "out.jsonl"), "--log", "warn"])
    time.sleep(1)
    lat = []
    for i in range(args.latency_samples):
        t0 = drop(inbox, f"lat-{i}.json.gz", [record(f"lat{i}")])
        if wait([f"e-lat{i}"], 30):
            lat.append((arrivals[f"e-lat{i}"] - t0) * 1000)
        time.sleep(0.1)
    n = args.findings
    t0 = drop(inbox, "bulk.json.gz", [record(i) for i in range(n)])
    ok = wait([f"e-{i}" for i in range(n)], 600)
    bulk = max(arrivals[f"e-{i}"] for i in range(n)) - t0 if ok else float("nan")
    proc.terminate()
    proc.wait()

    # Baseline: the HTTP work alone, one keep-alive connection, sequential.
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = json.dumps({"event_id": "baseline", "title": "x" * 900}).encode()
    t = time.perf_counter()
    for _ in range(n):
        conn.request("POST", "/hook", body, {"content-type": "application/json"})
        conn.getresponse().read()
    base = time.perf_counter() - t
    server.shutdown()

    print(f"\n{os.cpu_count()} cores; {args.sink} sink to 127.0.0.1 (Python ThreadingHTTPServer)\n")
    print("| measurement | value |")
    print("|---|---|")
    print(f"| finding → webhook, file dropped in a watched folder ({len(lat)}/{args.latency_samples}) | "
          f"median {statistics.median(lat):.0f} ms, p95 {sorted(lat)[int(len(lat) * 0.95) - 1]:.0f} ms, max {max(lat):.0f} ms |")
    print(f"| {n} findings delivered | {bulk:.2f} s: {n / bulk:.0f} alerts/s |")
    print(f"| baseline: Python posting {n} bodies on one connection | {base:.2f} s: {n / base:.0f} requests/s; "
          f"trailwatch takes {bulk / base:.2f}× |")


if __name__ == "__main__":
    main()
