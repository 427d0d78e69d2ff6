#!/usr/bin/env python3
"""The HTML report of the 2,000-file benchmark corpus: its size, and how long headless Chromium
takes to open it.

    scripts/bench_report.py                      # release build, corpus in target/bench-corpus
    scripts/bench_report.py --runs 7 --binary target/debug/trailwatch --skip-build

The corpus is bench.py's (../shared/tools/gen_corpus.py --files 2000 --records-per-file 350
--seed 1), generated the same way when target/bench-corpus holds none. The report is written
once with `trailwatch report CORPUS -o FILE` (its time is printed, not benchmarked here: see
bench.py for scan throughput). The page is then opened --runs times, each in a fresh headless
Chromium (Debian's /usr/bin/chromium, driven by /usr/bin/chromedriver over WebDriver on
loopback, a fresh profile each run), and two times are taken per run:

  - ready:  the page's own marker (`data-ready-ms` on <body>: performance.now() when the first
            page of rows is rendered, i.e. from navigation start to a usable page);
  - wall:   from the WebDriver navigation request to the moment a poll sees the marker.

Printed: file size (MB and bytes per finding), its parts (data block and raw events), the
median and range of both times, the first detail view's raw-event time, and the ratios to the
issue's budget (3 s, 10 MB).
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT.parent / "shared" / "tools" / "gen_corpus.py"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BUDGET_S, BUDGET_MB = 3.0, 10.0


class Browser:
    """One headless Chromium behind its own chromedriver, with a fresh profile."""

    def __init__(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.driver = subprocess.Popen([CHROMEDRIVER, f"--port={self.port}", "--allowed-ips=127.0.0.1"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.call("GET", "/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("chromedriver did not answer")
                time.sleep(0.05)
        self.profile = tempfile.TemporaryDirectory(prefix="tw-bench-chromium-")
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": FLAGS + [f"--user-data-dir={self.profile.name}"]},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=300) as resp:
            return json.load(resp)["value"]

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def close(self):
        try:
            self.call("DELETE", f"/session/{self.session}")
        finally:
            self.driver.terminate()
            self.driver.wait()
            self.profile.cleanup()


def wait(b, script, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        v = b.js(script)
        if v:
            return v
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for: {script}")
        time.sleep(0.005)


def one_run(page):
    b = Browser()
    try:
        b.s("POST", "/url", {"url": "about:blank"})
        start = time.monotonic()
        b.s("POST", "/url", {"url": page.as_uri()})
        state = wait(b, "var r = document.body && document.body.dataset.ready;"
                        " return r === 'true' || r === 'error' ? r : null")
        wall = time.monotonic() - start
        if state != "true":
            why = b.js("return document.getElementById('subtitle').textContent")
            sys.exit(f"the page failed to open: {why}")
        ready = float(b.js("return document.body.dataset.readyMs")) / 1000
        errors = [e for e in b.s("POST", "/se/log", {"type": "browser"}) if e.get("level") == "SEVERE"]
        shown = b.js("return document.getElementById('shown').textContent")
        # The first detail view: how long its raw event takes to appear (a part inflated).
        t = time.monotonic()
        b.js("document.querySelector('#findings tbody tr.row').click()")
        wait(b, "var p = document.querySelector('tr.detail pre.raw'); return p && p.dataset.loaded === 'true'")
        detail = time.monotonic() - t
        return ready, wall, detail, errors, shown
    finally:
        b.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT / "target" / "bench-corpus")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--binary", type=Path, help="the trailwatch to run (default: a fresh target/release build)")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--keep", type=Path, help="also keep the report at this path")
    args = ap.parse_args()
    for tool in (CHROMIUM, CHROMEDRIVER):
        if not os.access(tool, os.X_OK):
            sys.exit(f"{tool} is missing (scripts/test.sh installs chromium and chromium-driver)")

    corpus = args.corpus
    if not any(corpus.rglob("*.json.gz")):
        if not GEN.exists():
            sys.exit(f"no corpus in {corpus} and no generator at {GEN}")
        print(f"generating the corpus in {corpus} ...", file=sys.stderr)
        subprocess.run(f"python3 {GEN} --out {corpus} --files 2000 --records-per-file 350 --seed 1 > /dev/null",
                       shell=True, check=True)
    if args.binary:
        tw = args.binary.resolve()
    else:
        if not args.skip_build:
            subprocess.run("cargo build --release --locked -q", shell=True, check=True, cwd=ROOT)
        tw = ROOT / "target" / "release" / "trailwatch"

    with tempfile.TemporaryDirectory(prefix="tw-bench-report-") as work:
        page = Path(work) / "report.html"
        t = time.monotonic()
        out = subprocess.run([tw, "report", corpus, "-o", page], capture_output=True, text=True)
        written = time.monotonic() - t
        if out.returncode not in (0, 1):
            sys.exit(f"trailwatch report failed ({out.returncode}):\n{out.stderr[-2000:]}")
        m = re.search(r"report: (\d+) finding", out.stderr)
        findings = int(m.group(1)) if m else 0
        html = page.read_text()
        size = len(html.encode())
        data = re.search(r'id="data">([^<]*)</script>', html)
        data_len = len(data.group(1)) if data else 0
        if args.keep:
            args.keep.write_bytes(page.read_bytes())

        runs = []
        for i in range(args.runs):
            runs.append(one_run(page))
            print(f"run {i + 1}/{args.runs}: ready {runs[-1][0]:.3f} s, wall {runs[-1][1]:.3f} s", file=sys.stderr)

    errors = [e for r in runs for e in r[3]]
    ready = [r[0] for r in runs]
    wall = [r[1] for r in runs]
    detail = [r[2] for r in runs]
    mb = size / 1e6
    print(f"\n### HTML report of {corpus}\n")
    print(f"{os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}; {findings} findings; "
          f"report written in {written:.1f} s by {tw}; {runs[-1][4]}\n")
    print("| measure | median (min–max) | budget | × budget |")
    print("|---|---|---|---|")
    print(f"| file size | {mb:.2f} MB ({size / max(findings, 1):.0f} bytes per finding; data block "
          f"{data_len / 1e6:.2f} MB, the rest page and raw events) | {BUDGET_MB:.0f} MB | {mb / BUDGET_MB:.2f} |")
    print(f"| open to ready (page's marker) | {statistics.median(ready):.3f} s ({min(ready):.3f}–{max(ready):.3f}) "
          f"| {BUDGET_S:.0f} s | {statistics.median(ready) / BUDGET_S:.2f} |")
    print(f"| navigation request to ready seen (wall) | {statistics.median(wall):.3f} s ({min(wall):.3f}–{max(wall):.3f}) "
          f"| {BUDGET_S:.0f} s | {statistics.median(wall) / BUDGET_S:.2f} |")
    print(f"| first detail view's raw event | {statistics.median(detail):.3f} s ({min(detail):.3f}–{max(detail):.3f}) | – | – |")
    print(f"\n{args.runs} runs, each in a fresh headless Chromium; console errors: {len(errors)}")
    if errors:
        print(json.dumps(errors[:5], indent=1))
        sys.exit(1)


if __name__ == "__main__":
    main()
