#!/usr/bin/env python3
"""Noise report: findings per 10,000 records by severity, for one or more trailwatch binaries.

Runs `BIN scan CORPUS --format jsonl` (default packs unless --packs is given) for every binary on
every corpus and prints a markdown table: records read, findings, findings per 10k records at each
severity, distinct flagged events and findings per flagged event (aggregate findings, which stand
for many records, are counted apart). With --background LABELS (the Invictus corpus's
`meta/labels.derived.json`), it also gives the share of records labelled `background` that raise a
high or critical finding.

    scripts/noise.py --bin target/release/trailwatch ../shared/corpus/invictus-aws-dataset/records \\
        --background ../shared/corpus/invictus-aws-dataset/meta/labels.derived.json
    scripts/noise.py --bin OLD --name before --bin NEW --name after CORPUS_DIR
"""

import argparse
import json
import re
import subprocess
import sys
from collections import Counter

SEVERITIES = ["critical", "high", "medium", "low", "info"]


def scan(binary, corpus, packs):
    cmd = [binary, "scan", corpus, "--format", "jsonl", "--color", "never"]
    if packs:
        cmd += ["--packs", packs]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode not in (0, 1):
        sys.exit(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-2000:]}")
    m = re.search(r"^\s*records\s+(\d+)", out.stderr, re.M)
    if not m:
        sys.exit(f"no record count in the summary of {' '.join(cmd)}:\n{out.stderr[-2000:]}")
    findings = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return int(m.group(1)), findings


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="+", help="folders or files to scan")
    ap.add_argument("--bin", action="append", required=True, help="a trailwatch binary (repeat)")
    ap.add_argument("--name", action="append", default=[], help="a name for each --bin, in order")
    ap.add_argument("--packs", help="--packs for every scan (default: the binary's default packs)")
    ap.add_argument("--background", help="labels.derived.json: report high/critical on `background` records")
    args = ap.parse_args()
    names = args.name + args.bin[len(args.name):]

    background = set()
    if args.background:
        labels = json.load(open(args.background))
        background = {r["eventID"] for r in labels["records"] if r.get("label") == "background"}

    head = ["corpus", "binary", "records", "findings", *(f"{s} /10k" for s in SEVERITIES),
            "flagged events", "findings / event", "aggregates"]
    if background:
        head.append("background high+critical")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for corpus in args.corpus:
        for binary, name in zip(args.bin, names):
            records, findings = scan(binary, corpus, args.packs)
            # Builds without the `aggregate` key mark thresholds by `group` or `count` only.
            events = [f for f in findings if not (f.get("aggregate") or f.get("group") is not None)]
            aggregates = len(findings) - len(events)
            by_sev = Counter(f["severity"] for f in findings)
            ids = {f.get("event_id") or f.get("location") for f in events}
            per = lambda n: f"{n * 10000 / records:.1f}" if records else "–"
            row = [corpus, name, str(records), str(len(findings)), *(per(by_sev[s]) for s in SEVERITIES),
                   str(len(ids)), f"{len(events) / len(ids):.2f}" if ids else "–", str(aggregates)]
            if background:
                loud = {f.get("event_id") for f in events
                        if f["severity"] in ("high", "critical") and f.get("event_id") in background}
                row.append(f"{len(loud)} of {len(background)} ({100 * len(loud) / len(background):.2f}%)")
            print("| " + " | ".join(row) + " |")
            if background:
                # The same counts over the background records only (findings that point at one).
                mine = [f for f in findings if f.get("event_id") in background]
                mine_events = [f for f in mine if not (f.get("aggregate") or f.get("group") is not None)]
                sev = Counter(f["severity"] for f in mine)
                mine_ids = {f.get("event_id") for f in mine_events}
                n = len(background)
                row = [corpus + " (background)", name, str(n), str(len(mine)),
                       *(f"{sev[s] * 10000 / n:.1f}" for s in SEVERITIES), str(len(mine_ids)),
                       f"{len(mine_events) / len(mine_ids):.2f}" if mine_ids else "–",
                       str(len(mine) - len(mine_events)), ""]
                print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
