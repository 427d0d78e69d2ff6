#!/usr/bin/env python3
"""End-to-end benchmark of `trailwatch scan`, with baselines timed in the same interleaved run.

Modes (combine freely; none given means --peers without the venv tools):

    scripts/bench.py --peers         # default scan, --packs guide, --packs none, libdeflate, zcat,
                                     # a Python gzip+orjson pool, DuckDB and chDB (pinned, installed
                                     # into target/bench-venv)
    scripts/bench.py --rules         # rule-count scaling: default scan + 0 / 500 / 5000 generated
                                     # YAML rules, and + the SigmaHQ CloudTrail rules when given
    scripts/bench.py --rules --sigma DIR        # DIR: a SigmaHQ checkout or a folder of .yml
    scripts/bench.py --rules --fetch-sigma      # download SigmaHQ release SIGMA_TAG (never committed)
    scripts/bench.py --sizes         # input-size scaling: one 1 GB JSON Lines file, one 500 MB
                                     # Records file, 100k tiny files, 300 vs 2000 files
    scripts/bench.py --search        # `trailwatch search` (access key, source IP, actor, a --where
                                     # glob, --error, and a cidr with no literal) against a default scan
    scripts/bench.py --rounds 3 --corpus DIR --skip-build
    scripts/bench.py --peers --only-trailwatch --against OLD_BINARY   # a build against another

The corpus is the issue's (gen_corpus.py --files 2000 --records-per-file 350 --seed 1: 2000 files,
704k records, 1.05 GB JSON, 185 MB gzip), generated into target/bench-corpus unless --corpus names
a folder. Every tool uses every core: single-threaded decompressors get the file list split across
processes (xargs -P), the Python baseline a process pool, DuckDB and chDB their own threads.

Each table gives, per row: median wall seconds (min–max), median CPU seconds (user+sys of the whole
pipeline), peak RSS of the largest process, the match count where the tool counts (the catalog
pairs: must agree between trailwatch --packs guide, Python, DuckDB and chDB), and ratios of wall and
CPU to the row the table names as its baseline. CPU seconds are the steadier figure on a shared
machine.
"""

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT.parent / "shared" / "tools" / "gen_corpus.py"
VENV = ROOT / "target" / "bench-venv"
PINS = ["duckdb==1.4.2", "chdb==3.6.0", "orjson==3.11.4"]
SIGMA_TAG = "r2026-07-01"
SIGMA_URL = f"https://github.com/SigmaHQ/sigma/archive/refs/tags/{SIGMA_TAG}.tar.gz"

PY_BASELINE = r"""
import gzip, json, sys
from multiprocessing import Pool
try:
    import orjson
    loads = orjson.loads
except ImportError:
    loads = json.loads
pairs = {tuple(p) for p in json.load(open(sys.argv[1]))}
def count(path):
    with open(path, 'rb') as f:
        data = f.read()
    if data[:2] == b'\x1f\x8b':
        data = gzip.decompress(data)
    return sum((r.get('eventSource'), r.get('eventName')) in pairs for r in loads(data)['Records'])
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

CHDB_QUERY = r"""
import chdb, json, sys
pairs = json.load(open(sys.argv[1]))
glob = sys.argv[3]
values = ",".join("('%s','%s')" % (s, n) for s, n in pairs)
sql = f'''
SELECT count() FROM (
  SELECT arrayJoin(Records) AS r
  FROM file('{glob}', 'JSONEachRow', 'Records Array(Tuple(eventSource String, eventName String))')
  SETTINGS input_format_skip_unknown_fields = 1, input_format_json_named_tuples_as_objects = 1
) WHERE (r.1, r.2) IN ({values})
'''
print(chdb.query(sql, "CSV").bytes().decode().strip())
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
    last = out.stdout.strip().splitlines()[-1:] or [""]
    return float(wall), float(user) + float(system), int(rss) / 1024, last[0].strip()


def interleave(title, tools, rounds, base, floor=None, pairs=None):
    """Times every (name, cmd) once per round, rounds interleaved; prints one markdown table
    with ratios to the `base` row (and to the `floor` row, when given), then the per-round
    ratios of each (ours, theirs) name pair."""
    runs = {name: [] for name, _ in tools}
    for r in range(rounds):
        # Every other round in reverse order, so drift in the machine's load favours no tool.
        for name, cmd in (tools if r % 2 == 0 else tools[::-1]):
            runs[name].append(timed(cmd))
        print(f"{title}: round {r + 1}/{rounds} done", file=sys.stderr)

    def med(name, i):
        return statistics.median(x[i] for x in runs[name])

    print(f"\n### {title}\n")
    print(f"{rounds} interleaved rounds; {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}\n")
    head = "| tool | wall s (min–max) | CPU s | peak RSS MB | matches | wall × base | CPU × base |"
    rule = "|---|---|---|---|---|---|---|"
    if floor in runs:
        head += " CPU × floor |"
        rule += "---|"
    print(head)
    print(rule)
    for name, _ in tools:
        walls = [x[0] for x in runs[name]]
        out = runs[name][-1][3]
        count = out if out.isdigit() else "–"
        row = (
            f"| {name} | {med(name, 0):.2f} ({min(walls):.2f}–{max(walls):.2f}) | {med(name, 1):.2f} "
            f"| {max(x[2] for x in runs[name]):.0f} | {count} | {med(name, 0) / med(base, 0):.2f} "
            f"| {med(name, 1) / med(base, 1):.2f} |"
        )
        if floor in runs:
            row += f" {med(name, 1) / med(floor, 1):.2f} |"
        print(row)
    print(f"\nbase: {base}" + (f"; floor: {floor}" if floor in runs else ""))
    for ours, theirs in pairs or []:
        # Per-round ratios (each pair ran back to back), then their median and range.
        ratios = [a[0] / b[0] for a, b in zip(runs[ours], runs[theirs])]
        print(f"\n{ours} / {theirs}: median {statistics.median(ratios):.3f} "
              f"(min {min(ratios):.3f}, max {max(ratios):.3f}) over {len(ratios)} rounds")
    return runs


def venv_python():
    if not (VENV / "bin" / "python").exists():
        sh(f"python3 -m venv {VENV}")
    missing = subprocess.run(
        [VENV / "bin" / "python", "-c", "import duckdb, chdb, orjson"], capture_output=True
    ).returncode
    if missing:
        print(f"installing {' '.join(PINS)} into {VENV} ...", file=sys.stderr)
        sh(f"{VENV}/bin/pip install -q --disable-pip-version-check {' '.join(PINS)}")
    return VENV / "bin" / "python"


def peers(ctx, with_venv):
    tw, corpus, work = ctx["tw"], ctx["corpus"], ctx["work"]
    cores = os.cpu_count() or 1
    xargs = f"tr '\\n' '\\0' < {work}/files | xargs -0 -P {cores} -n 100"
    count = "--format jsonl -q 2>/dev/null | wc -l"
    tools = [
        ("trailwatch scan (default: every pack)", f"{tw} scan {corpus} {count}"),
        ("trailwatch scan --packs guide", f"{tw} scan {corpus} --packs guide {count}"),
        ("trailwatch scan --packs none", f"{tw} scan {corpus} --packs none {count}"),
    ]
    pairs = []
    if ctx["against"]:
        old = ctx["against"]
        for name, flags in (("trailwatch scan (default: every pack)", ""), ("trailwatch scan --packs guide", "--packs guide")):
            theirs = f"baseline build: {name.removeprefix('trailwatch ')}"
            tools.append((theirs, f"{old} scan {corpus} {flags} {count}"))
            pairs.append((name, theirs))
    floor = None
    if ctx["only_trailwatch"]:
        interleave("Peers", tools, ctx["rounds"], tools[0][0], None, pairs)
        return
    if shutil.which("libdeflate-gunzip"):
        floor = "libdeflate-gunzip -c > /dev/null"
        tools.append((floor, f"{xargs} libdeflate-gunzip -c > /dev/null"))
    else:
        print("libdeflate-gunzip not installed (apt install libdeflate-tools): row skipped", file=sys.stderr)
    tools.append(("zcat > /dev/null", f"{xargs} zcat > /dev/null"))
    python = venv_python() if with_venv else "python3"
    tools.append(("Python gzip + orjson, process pool", f"{python} {work}/base.py {work}/pairs.json {work}/files"))
    if with_venv:
        tools.append(("DuckDB read_json", f"{python} {work}/duck.py {work}/pairs.json {work}/files"))
        glob = f"{corpus}/AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz"
        tools.append(("chDB file(JSONEachRow)", f"{python} {work}/chdb_count.py {work}/pairs.json {work}/files '{glob}'"))
    interleave("Peers", tools, ctx["rounds"], tools[0][0], floor, pairs)


def search(ctx):
    """`trailwatch search` against a default scan on the same corpus: literal filters (the
    prefilter skips records without the literal) and one without (every record parsed)."""
    tw, corpus, work = ctx["tw"], ctx["corpus"], ctx["work"]
    first = (work / "files").read_text().split("\n")[0]
    with gzip.open(first) as f:
        records = json.load(f)["Records"]
    ident = next(r for r in records if r.get("userIdentity", {}).get("accessKeyId"))
    key = ident["userIdentity"]["accessKeyId"]
    ip = ident["sourceIPAddress"]
    name = ident["userIdentity"].get("arn", "x/unknown").rsplit("/", 1)[-1]
    count = "-q 2>/dev/null | wc -l"
    tools = [
        ("trailwatch scan (default: every pack)", f"{tw} scan {corpus} --format jsonl {count}"),
        (f"search --access-key {key}", f"{tw} search {corpus} --access-key {key} {count}"),
        (f"search --source-ip {ip}", f"{tw} search {corpus} --source-ip {ip} {count}"),
        (f"search --actor {name}", f"{tw} search {corpus} --actor {name} {count}"),
        (f"search --where 'userIdentity.arn glob *{name}'", f"{tw} search {corpus} --where 'userIdentity.arn glob *{name}' {count}"),
        ("search --error (literal: errorCode)", f"{tw} search {corpus} --error --sort input {count}"),
        ("search --where 'sourceIPAddress cidr 10.0.0.0/8' (no literal: every record parsed)",
         f"{tw} search {corpus} --where 'sourceIPAddress cidr 10.0.0.0/8' --sort input {count}"),
    ]
    interleave("Search", tools, ctx["rounds"], tools[0][0])


def generated_rules(pairs, n, path):
    """n YAML rules in the mix that stresses the engine: 90% on an exact (eventSource,
    eventName) pair with a CIDR condition, 9% on a name glob with a condition on the identity
    type, 1% on no name at all (an errorCode literal)."""
    lines = ["rules:"]
    for i in range(n):
        source, name = pairs[i % len(pairs)]
        if i % 10 == 0:
            match = '{ names: ["%s*"] }' % name[:6]
            where = "{ field: userIdentity.type, equals: Root }"
        elif i % 100 == 1:
            match = "{}"
            where = '{ field: errorCode, equals: "Bench%dDenied" }' % i
        else:
            match = "{ sources: [%s], names: [%s] }" % (source, name)
            where = '{ field: sourceIPAddress, cidr: ["10.%d.0.0/16"] }' % (i % 256)
        lines += [
            f"  - id: bench.r{i}", "    title: generated", "    severity: low",
            "    description: generated for the benchmark", f"    match: {match}", f"    where: {where}",
        ]
    path.write_text("\n".join(lines) + "\n")


def sigma_dir(args):
    """The SigmaHQ CloudTrail rules folder: from --sigma, or downloaded with --fetch-sigma."""
    if args.sigma:
        for cand in (args.sigma / "rules" / "cloud" / "aws" / "cloudtrail", args.sigma):
            if cand.is_dir() and any(cand.glob("*.yml")):
                return cand
        sys.exit(f"no .yml rules under {args.sigma}")
    if not args.fetch_sigma:
        return None
    dest = ROOT / "target" / f"bench-sigma-{SIGMA_TAG}"
    rules = dest / f"sigma-{SIGMA_TAG}" / "rules" / "cloud" / "aws" / "cloudtrail"
    if not rules.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        tarball = dest / "sigma.tar.gz"
        print(f"downloading {SIGMA_URL} ...", file=sys.stderr)
        urllib.request.urlretrieve(SIGMA_URL, tarball)
        with tarfile.open(tarball) as t:
            members = [m for m in t.getmembers() if "/rules/cloud/aws/cloudtrail/" in m.name]
            t.extractall(dest, members=members, filter="data")
    return rules


def rules(ctx, args):
    tw, corpus, work = ctx["tw"], ctx["corpus"], ctx["work"]
    count = "--format jsonl -q 2>/dev/null | wc -l"
    tools = [("default scan", f"{tw} scan {corpus} {count}")]
    for n in (500, 5000):
        path = work / f"rules-{n}.yaml"
        generated_rules(ctx["pairs"], n, path)
        tools.append((f"default + {n} generated YAML rules", f"{tw} scan {corpus} --rules {path} {count}"))
    sigma = sigma_dir(args)
    if sigma:
        n = len(list(sigma.glob("*.yml")))
        tools.append((f"default + {n} SigmaHQ CloudTrail rules", f"{tw} scan {corpus} --sigma {sigma} {count}"))
    else:
        print("no Sigma rules (--sigma DIR or --fetch-sigma): row skipped", file=sys.stderr)
    interleave("Rule-count scaling", tools, ctx["rounds"], tools[0][0])


def records_of(corpus, limit_bytes):
    """Yields the corpus's records (compact JSON bytes) again and again up to limit_bytes."""
    files = sorted(p for p in corpus.rglob("*.json.gz") if "CloudTrail-Digest" not in str(p))
    written = 0
    while True:
        for p in files:
            for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]:
                line = json.dumps(r, separators=(",", ":")).encode()
                written += len(line) + 1
                yield line
                if written >= limit_bytes:
                    return


def sizes(ctx, scale):
    """`scale` 1.0: the issue's sizes; smaller to try the mode quickly."""
    tw, corpus, work, rounds = ctx["tw"], ctx["corpus"], ctx["work"], ctx["rounds"]
    big = work / "sizes"
    big.mkdir()
    jsonl = big / "one-1GB.jsonl"
    with open(jsonl, "wb") as f:
        for line in records_of(corpus, int(1_000_000_000 * scale)):
            f.write(line + b"\n")
    records = big / "one-500MB-records.json"
    with open(records, "wb") as f:
        f.write(b'{"Records":[')
        for i, line in enumerate(records_of(corpus, int(500_000_000 * scale))):
            f.write((b"," if i else b"") + line)
        f.write(b"]}")
    tiny = big / "tiny" / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1" / "2025" / "01" / "01"
    tiny.mkdir(parents=True)
    gen = records_of(corpus, 1 << 62)
    for i in range(int(100_000 * scale)):
        body = b'{"Records":[' + next(gen) + b"]}"
        name = f"111122223333_CloudTrail_us-east-1_20250101T{i // 6000 % 24:02d}{i // 100 % 60:02d}Z_{i:016d}.json.gz"
        (tiny / name).write_bytes(gzip.compress(body, 1))
    files = [Path(l) for l in (work / "files").read_text().split()]
    subset = big / "subset-300"
    for p in files[:300]:
        dest = subset / p.relative_to(corpus)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, dest)
    count = "--format jsonl -q 2>/dev/null | wc -l"
    mb = lambda p: f"{p.stat().st_size / 1e6:,.0f} MB"
    n_tiny = int(100_000 * scale)
    tools = [
        (f"{len(files)} files (the corpus)", f"{tw} scan {corpus} {count}"),
        (f"{min(300, len(files))} of those files", f"{tw} scan {subset} {count}"),
        (f"one {mb(jsonl)} JSON Lines file", f"{tw} scan {jsonl} --max-size 2G {count}"),
        ("cat of that file > /dev/null", f"cat {jsonl} > /dev/null"),
        (f"one {mb(records)} Records file", f"{tw} scan {records} --max-size 2G {count}"),
        (f"{n_tiny:,} tiny files (1 record each)", f"{tw} scan {big / 'tiny'} {count}"),
    ]
    interleave("Input-size scaling", tools, rounds, tools[0][0])
    shutil.rmtree(big)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT / "target" / "bench-corpus")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--peers", action="store_true", help="peers table, with DuckDB, chDB and orjson from a venv")
    ap.add_argument("--rules", action="store_true", help="rule-count scaling")
    ap.add_argument("--sigma", type=Path, help="SigmaHQ checkout or folder of .yml for --rules")
    ap.add_argument("--fetch-sigma", action="store_true", help=f"download SigmaHQ {SIGMA_TAG} for --rules")
    ap.add_argument("--search", action="store_true", help="trailwatch search against a default scan")
    ap.add_argument("--sizes", action="store_true", help="input-size scaling (needs ~2.5 GB in target/)")
    ap.add_argument("--sizes-scale", type=float, default=1.0, help="scale the --sizes inputs (1.0: 1 GB, 500 MB, 100k files)")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--binary", type=Path, help="the trailwatch to time (default: a fresh target/release build)")
    ap.add_argument("--against", type=Path, help="another trailwatch binary (a baseline build) timed in the same rounds")
    ap.add_argument("--only-trailwatch", action="store_true", help="--peers without the decompressor, Python, DuckDB and chDB rows")
    args = ap.parse_args()

    corpus = args.corpus
    if not any(corpus.rglob("*.json.gz")):
        if not GEN.exists():
            sys.exit(f"no corpus in {corpus} and no generator at {GEN}")
        print(f"generating the corpus in {corpus} ...", file=sys.stderr)
        sh(f"python3 {GEN} --out {corpus} --files 2000 --records-per-file 350 --seed 1 > /dev/null")
    if args.binary:
        tw = args.binary.resolve()
    else:
        if not args.skip_build:
            sh("cargo build --release --locked -q", cwd=ROOT)
        tw = ROOT / "target" / "release" / "trailwatch"

    work = Path(tempfile.mkdtemp(prefix="tw-bench-", dir=ROOT / "target"))
    files = sorted(str(p) for p in corpus.rglob("*.json.gz") if "CloudTrail-Digest" not in str(p))
    (work / "files").write_text("\n".join(files) + "\n")
    catalog = json.loads(subprocess.run([tw, "catalog", "--format", "json"], capture_output=True, check=True).stdout)
    pairs = sorted({(s, e["event_name"]) for e in catalog for s in e["event_sources"]})
    (work / "pairs.json").write_text(json.dumps(pairs))
    (work / "base.py").write_text(PY_BASELINE)
    (work / "duck.py").write_text(DUCKDB_QUERY)
    (work / "chdb_count.py").write_text(CHDB_QUERY)
    ctx = {
        "tw": tw, "corpus": corpus, "work": work, "rounds": args.rounds, "pairs": pairs,
        "against": args.against.resolve() if args.against else None, "only_trailwatch": args.only_trailwatch,
    }
    print(f"{len(files)} files in {corpus}", file=sys.stderr)
    try:
        if args.search:
            search(ctx)
        if args.peers or not (args.rules or args.sizes or args.search):
            peers(ctx, with_venv=args.peers)
        if args.rules:
            rules(ctx, args)
        if args.sizes:
            sizes(ctx, args.sizes_scale)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
