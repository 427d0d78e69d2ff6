#!/usr/bin/env python3
"""Measure what an idle `trailwatch watch --dir` costs once it has read a large folder.

A folder of --files small CloudTrail files (in day folders, as a synced trail looks) is read by a
watcher with `--listen`; once `/metrics` says every file is recorded, the watcher's CPU time
(user + system, from /proc/PID/stat) is measured over --idle-secs of doing nothing. Two runs in
the same session:

1. the default: file notifications, and a full walk of the folder every 60 s;
2. the baseline: a full walk every 200 ms (`--dir-rescan 200ms`), the walking cadence of the
   folder source before it had notifications (it also looked every file up in the state store
   at each walk, which this baseline no longer does, so the old cost was higher still).

    scripts/bench_idle.py                       # builds release first
    scripts/bench_idle.py --files 20000 --idle-secs 60 --skip-build

Linux only (reads /proc). Prints one line per run and the ratio.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def record(i):
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/bench",
                         "accountId": "111122223333", "userName": "bench"},
        "eventTime": "2026-11-20T09:05:12Z", "eventSource": "ec2.amazonaws.com",
        "eventName": "DescribeInstances", "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.0",
        "requestParameters": None, "responseElements": None, "eventID": f"idle-{i}",
        "readOnly": True, "eventType": "AwsApiCall", "recipientAccountId": "111122223333",
    }


def make_folder(root, files):
    per_day = 200
    for i in range(files):
        day = root / f"2026/11/{i // per_day:04d}"
        if i % per_day == 0:
            day.mkdir(parents=True, exist_ok=True)
        (day / f"f{i:06d}.json").write_text(json.dumps({"Records": [record(i)]}))


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the whole line (11 and 12 after the name).
    return (int(fields[11]) + int(fields[12])) / TICKS


def recorded(addr):
    text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=10).read().decode()
    m = re.search(r'^trailwatch_inputs_total\{outcome="recorded"\} (\d+)', text, re.M)
    return int(m.group(1)) if m else 0


def run(binary, folder, work, files, idle_secs, extra):
    state = work / "state.db"
    for p in work.glob("state.db*"):
        p.unlink()
    proc = subprocess.Popen(
        [str(binary), "watch", "--dir", str(folder), "--packs", "guide", "--state", str(state),
         "--output", str(work / "out.jsonl"), "--listen", "127.0.0.1:0", "--log", "info", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"})
    addr = None
    for line in proc.stderr:
        m = re.search(r"/readyz on http://(\S+)", line)
        if m:
            addr = m.group(1)
            break
    if addr is None:
        proc.kill()
        sys.exit("the watcher logged no endpoint address")
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    started = time.monotonic()
    while recorded(addr) < files:
        if time.monotonic() - started > 1800:
            proc.kill()
            sys.exit("not every file was recorded within 30 minutes")
        time.sleep(0.5)
    read_secs = time.monotonic() - started
    time.sleep(5)  # the last outputs and the settle timers
    before = cpu_seconds(proc.pid)
    time.sleep(idle_secs)
    used = cpu_seconds(proc.pid) - before
    proc.terminate()
    proc.wait(timeout=60)
    return read_secs, used


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--idle-secs", type=float, default=60)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--bin", default=str(ROOT / "target/release/trailwatch"))
    args = ap.parse_args()
    if not args.skip_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "-q"], cwd=ROOT, check=True)
    work = Path(tempfile.mkdtemp(prefix="tw-idle-"))
    try:
        folder = work / "trail"
        make_folder(folder, args.files)
        load = os.getloadavg()[0]
        print(f"{args.files} files, idle window {args.idle_secs:.0f} s, load average {load:.1f}")
        results = {}
        for label, extra in [("notifications + walk every 60s (default)", []),
                             ("walk every 200 ms (baseline)", ["--dir-rescan", "200ms"])]:
            read_secs, used = run(Path(args.bin), folder, work, args.files, args.idle_secs, extra)
            pct = 100 * used / args.idle_secs
            results[label] = pct
            print(f"{label}: read all in {read_secs:.1f} s; idle CPU {used:.2f} s over "
                  f"{args.idle_secs:.0f} s = {pct:.2f}% of a core")
        a, b = results.values()
        if a > 0:
            print(f"baseline / default idle CPU: {b / a:.0f}x")
        else:
            print("default idle CPU below the clock-tick resolution")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
