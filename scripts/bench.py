#!/usr/bin/env python3
"""End-to-end benchmark: trailwatch against zcat, libdeflate, a Python baseline and DuckDB.

Generates the issue's corpus (2000 files, 704k records, 1.05 GB JSON, 185 MB gzip) with
../shared/tools/gen_corpus.py unless --corpus names an existing folder, then times every tool on
the same files in interleaved rounds and prints a markdown table of medians, ratios to trailwatch
and to libdeflate, peak memory, and each tool's match count (they must agree).

All tools use every core: single-threaded decompressors get the file list split across
processes (xargs -P), the Python baseline a process pool, DuckDB its own threads.

    scripts/bench.py                 # corpus in target/bench-corpus, 5 rounds
    scripts/bench.py --duckdb        # also install DuckDB (pinned) into target/bench-venv
    scripts/bench.py --rounds 3 --corpus DIR
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT.parent / "shared" / "tools" / "gen_corpus.py"
DUCKDB_VERSION = "1.4.2"

PY_BASELINE = r"""
import gzip, json, sys
from multiprocessing import Pool
pairs = {tuple(p) for p in json.load(open(sys.argv[1]))}
def count(path):
    with open(path, 'rb') as f:
        data = f.read()
    if data[:2] == b'\x1f\x8b':
        data = gzip.decompress(data)
    return sum((r.get('eventSource'), r.get('eventName')) in pairs for r in json.loads(data)['Records'])
if __name__ == '__main__':
    files = [l.rstrip('\n') for l in open(sys.argv[2])]
    with Pool() as pool:
        print(sum(pool.map(count, files, chunksize=16)))
"""

DUCKDB_QUERY = r"""
import duckdb, json, sys
pairs = json.load(open(sys.argv[1]))
con = duckdb.connect()
con.execute('CREATE TABLE pairs(s VARCHAR, n VARCHAR)')
con.executemany('INSERT INTO pairs VALUES (?, ?)', pairs)
files = [l.rstrip('\n') for l in open(sys.argv[2])]
sql = '''
SELECT count(*) FROM (
  SELECT unnest(Records) AS r FROM read_json(?, format='auto', compression='gzip',
    columns={'Records': 'STRUCT(eventSource VARCHAR, eventName VARCHAR)[]'}, maximum_object_size=268435456)
) JOIN pairs ON r.eventSource = pairs.s AND r.eventName = pairs.n
'''
print(con.execute(sql, [files]).fetchone()[0])
"""


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, **kw)


def timed(cmd):
    """Runs a shell command; returns (wall s, cpu s, peak RSS MB, stdout)."""
    with tempfile.NamedTemporaryFile("r") as t:
        out = subprocess.run(
            ["/usr/bin/time", "-o", t.name, "-f", "%e %U %S %M", "bash", "-c", cmd],
            capture_output=True, text=True,
        )
        if out.returncode not in (0, 1):
            sys.exit(f"failed ({out.returncode}): {cmd}\n{out.stderr[-2000:]}")
        wall, user, system, rss = t.read().split()[-4:]
    return float(wall), float(user) + float(system), int(rss) / 1024, out.stdout.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT / "target" / "bench-corpus")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duckdb", action="store_true", help="install DuckDB into target/bench-venv and include it")
    ap.add_argument("--skip-build", action="store_true")
    args = ap.parse_args()

    corpus = args.corpus
    if not (corpus / "manifest.json").exists() and not any(corpus.rglob("*.json.gz")):
        if not GEN.exists():
            sys.exit(f"no corpus in {corpus} and no generator at {GEN}")
        print(f"generating the corpus in {corpus} ...", file=sys.stderr)
        sh(f"python3 {GEN} --out {corpus} --files 2000 --records-per-file 350 --seed 1 > /dev/null")
    if not args.skip_build:
        sh("cargo build --release --locked -q", cwd=ROOT)
    tw = ROOT / "target" / "release" / "trailwatch"

    work = Path(tempfile.mkdtemp(prefix="tw-bench-"))
    files = sorted(str(p) for p in corpus.rglob("*.json.gz") if "CloudTrail-Digest" not in str(p))
    (work / "files").write_text("\n".join(files) + "\n")
    catalog = json.loads(subprocess.run([tw, "catalog", "--format", "json"], capture_output=True, check=True).stdout)
    pairs = sorted({(s, e["event_name"]) for e in catalog for s in e["event_sources"]})
    (work / "pairs.json").write_text(json.dumps(pairs))
    (work / "base.py").write_text(PY_BASELINE)
    (work / "duck.py").write_text(DUCKDB_QUERY)
    cores = os.cpu_count() or 1
    xargs = f"tr '\\n' '\\0' < {work}/files | xargs -0 -P {cores} -n 100"

    tools = [
        ("trailwatch scan --packs guide", f"{tw} scan {corpus} --packs guide --format jsonl -q 2>/dev/null | wc -l"),
        ("trailwatch scan --packs guide --threads 1", f"{tw} scan {corpus} --packs guide --format jsonl -q --threads 1 2>/dev/null | wc -l"),
        ("trailwatch scan --packs guide,baseline", f"{tw} scan {corpus} --packs guide,baseline --format jsonl -q 2>/dev/null | wc -l"),
    ]
    if shutil.which("libdeflate-gunzip"):
        tools.append(("libdeflate-gunzip -c > /dev/null", f"{xargs} libdeflate-gunzip -c > /dev/null"))
    else:
        print("libdeflate-gunzip not installed (apt install libdeflate-tools): row skipped", file=sys.stderr)
    tools.append(("zcat > /dev/null", f"{xargs} zcat > /dev/null"))
    tools.append(("Python gzip + json, process pool", f"python3 {work}/base.py {work}/pairs.json {work}/files"))
    if args.duckdb:
        venv = ROOT / "target" / "bench-venv"
        if not (venv / "bin" / "python").exists():
            sh(f"python3 -m venv {venv} && {venv}/bin/pip install -q duckdb=={DUCKDB_VERSION}")
        tools.append((f"DuckDB {DUCKDB_VERSION} read_json", f"{venv}/bin/python {work}/duck.py {work}/pairs.json {work}/files"))

    runs = {name: [] for name, _ in tools}
    for r in range(args.rounds):
        for name, cmd in tools:
            runs[name].append(timed(cmd))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    def med(name, i):
        return statistics.median(x[i] for x in runs[name])

    base = med(tools[0][0], 0)
    floor = med("libdeflate-gunzip -c > /dev/null", 0) if "libdeflate-gunzip -c > /dev/null" in runs else None
    load = os.getloadavg()[0]
    print(f"\n{len(files)} files in {corpus}; {cores} cores; {args.rounds} interleaved rounds; load {load:.1f}\n")
    print("| tool | median wall s (min–max) | CPU s | peak RSS MB | matches | × trailwatch | × libdeflate |")
    print("|---|---|---|---|---|---|---|")
    for name, _ in tools:
        walls = [x[0] for x in runs[name]]
        out = runs[name][-1][3]
        count = out if out.isdigit() and "/dev/null" not in name else "–"
        vs_floor = f"{med(name, 0) / floor:.2f}" if floor else "–"
        print(
            f"| {name} | {med(name, 0):.2f} ({min(walls):.2f}–{max(walls):.2f}) | {med(name, 1):.2f} "
            f"| {max(x[2] for x in runs[name]):.0f} | {count} | {med(name, 0) / base:.2f} | {vs_floor} |"
        )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
