#!/usr/bin/env python3
"""Benchmark of `trailwatch verify` against sha256sum over the same files, in the same run.

Generates a signed trail in the S3 layout (default: 30 days x 24 hourly digests, 10,000 log
files of realistic size, an RSA test key, a sidecar per digest and the public-key file), then
times, in interleaved rounds on a warm page cache:

  - trailwatch verify DIR --public-keys KEYS   (gunzip + SHA-256 of every log file, RSA check of
                                                every digest, chain and gap analysis)
  - sha256sum over the same files (stored bytes), split across one process per core
    (xargs -P), as the floor for "read and hash every file";
  - zcat + sha256sum (zcat piped into sha256sum) over the same files, 500 files per pipeline, one pipeline per core: the
    floor for "gunzip and hash every byte" with standard tools (it gives no per-file hash).

Prints files/s and MB/s (stored bytes) for both, and the ratio. Needs python3 with the
`cryptography` package (for RSA signing) and a release build of trailwatch.

    scripts/bench_verify.py                       # builds target/release, 3 rounds
    scripts/bench_verify.py --files 2000 --days 3 --rounds 1 --dir target/bench-verify
"""

import argparse
import base64
import datetime as dt
import gzip
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ROOT = Path(__file__).resolve().parent.parent
ACCT, REGION, TRAIL, BUCKET = "111122223333", "eu-west-1", "bench", "bench-trail-bucket"
FP = "0123456789abcdef0123456789abcdef"
T0 = dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def record(t, i):
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCT}:assumed-role/app/i-{i:08x}",
                         "accountId": ACCT, "principalId": f"AROAEXAMPLE:i-{i:08x}"},
        "eventTime": iso(t), "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
        "awsRegion": REGION, "sourceIPAddress": f"10.0.{i % 250}.{i % 200}",
        "userAgent": "aws-sdk-java/2.20.0 Linux/5.10 OpenJDK_64-Bit_Server_VM/17",
        "requestParameters": {"bucketName": "data", "key": f"obj/{i:09d}.parquet"},
        "responseElements": None, "eventID": f"{i:032x}", "readOnly": True,
        "eventType": "AwsApiCall", "recipientAccountId": ACCT,
    }


def trail_event(name, t):
    return {"eventVersion": "1.09", "eventTime": iso(t), "eventSource": "cloudtrail.amazonaws.com",
            "eventName": name, "awsRegion": REGION, "recipientAccountId": ACCT,
            "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCT}:user/mallory", "accountId": ACCT},
            "requestParameters": {"name": f"arn:aws:cloudtrail:{REGION}:{ACCT}:trail/{TRAIL}"}}


def generate(root, days, files, records_per_file, stop=None):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    keys = root / "public-keys.json"
    root.mkdir(parents=True, exist_ok=True)
    keys.write_text(json.dumps({"publicKeyList": [{
        "ValidityStartTime": "2026-09-01T00:00:00+00:00", "ValidityEndTime": "2026-12-31T00:00:00+00:00",
        "Value": base64.b64encode(der).decode(), "Fingerprint": FP}]}))
    hours = days * 24
    per_hour = [files // hours + (1 if h < files % hours else 0) for h in range(hours)]
    rng = random.Random(7)
    prev = None
    n = 0
    for h in range(hours):
        if stop and stop[0] < h < stop[1]:
            continue
        start, end = T0 + dt.timedelta(hours=h), T0 + dt.timedelta(hours=h + 1)
        listed = []
        for f in range(per_hour[h]):
            t = start + dt.timedelta(minutes=rng.randrange(55))
            records = [record(t, n * records_per_file + r) for r in range(records_per_file)]
            if stop and h == stop[0] and f == per_hour[h] - 1:
                records.append(trail_event("StopLogging", t))
            if stop and h == stop[1] and f == 0:
                records.append(trail_event("StartLogging", t))
            content = json.dumps({"Records": records}).encode()
            k = (f"AWSLogs/{ACCT}/CloudTrail/{REGION}/{t:%Y/%m/%d}/"
                 f"{ACCT}_CloudTrail_{REGION}_{t:%Y%m%dT%H%MZ}_{n:016x}.json.gz")
            p = root / k
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(gzip.compress(content, 6))
            listed.append({"s3Bucket": BUCKET, "s3Object": k, "hashValue": hashlib.sha256(content).hexdigest(),
                           "hashAlgorithm": "SHA-256", "newestEventTime": iso(t), "oldestEventTime": iso(t)})
            n += 1
        dk = (f"AWSLogs/{ACCT}/CloudTrail-Digest/{REGION}/{end:%Y/%m/%d}/"
              f"{ACCT}_CloudTrail-Digest_{REGION}_{TRAIL}_{REGION}_{end:%Y%m%dT%H%M%SZ}.json.gz")
        if stop and h == stop[1]:
            prev = None
        doc = {"awsAccountId": ACCT, "digestStartTime": iso(start), "digestEndTime": iso(end),
               "digestS3Bucket": BUCKET, "digestS3Object": dk, "digestPublicKeyFingerprint": FP,
               "digestSignatureAlgorithm": "SHA256withRSA",
               "previousDigestS3Bucket": BUCKET if prev else None, "previousDigestS3Object": prev and prev[0],
               "previousDigestHashValue": prev and prev[1],
               "previousDigestHashAlgorithm": "SHA-256" if prev else None,
               "previousDigestSignature": prev and prev[2], "logFiles": listed}
        content = json.dumps(doc).encode()
        digest_hash = hashlib.sha256(content).hexdigest()
        to_sign = f"{iso(end)}\n{BUCKET}/{dk}\n{digest_hash}\n{prev[2] if prev else 'null'}".encode()
        sig = key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256()).hex()
        p = root / dk
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(gzip.compress(content, 6))
        Path(str(p) + ".sig.json").write_text(json.dumps({"signature": sig, "signatureAlgorithm": "SHA256withRSA"}))
        prev = None if stop and h == stop[0] else (dk, digest_hash, sig)
    return keys


def timed(cmd, **kw):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    return time.perf_counter() - t, r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--records", type=int, default=100, help="records per log file")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=ROOT / "target" / "bench-verify")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--stop", type=int, nargs=2, metavar=("HOUR", "RESTART"),
                    help="logging stopped in hour HOUR (StopLogging) and restarted at RESTART")
    ap.add_argument("--generate-only", action="store_true", help="write the corpus and stop")
    args = ap.parse_args()
    tw = ROOT / "target" / "release" / "trailwatch"
    if not args.no_build and not args.generate_only:
        subprocess.run(["cargo", "build", "--release", "--locked", "-q"], cwd=ROOT, check=True)
    corpus = args.dir / "corpus"
    if corpus.exists():
        shutil.rmtree(corpus)
    t = time.perf_counter()
    keys = generate(corpus, args.days, args.files, args.records, args.stop)
    print(f"generated {corpus} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    if args.generate_only:
        return
    paths = sorted(str(p) for p in corpus.rglob("*.json.gz"))
    stored = sum(os.path.getsize(p) for p in paths)
    inflated = sum(len(gzip.decompress(Path(p).read_bytes())) for p in paths)
    listing = args.dir / "files.txt"
    listing.write_text("\n".join(paths) + "\n")
    cores = os.cpu_count() or 1
    for p in paths:  # warm the page cache for both tools
        Path(p).read_bytes()
    import resource
    best = {"trailwatch verify": None, "sha256sum": None, "zcat + sha256sum": None}
    for _ in range(args.rounds):
        s, r = timed([str(tw), "verify", str(corpus), "--public-keys", str(keys), "--format", "json"])
        doc = json.loads(r.stdout)
        if r.returncode != 0 or not doc["holds"]:
            sys.exit(f"verify failed ({r.returncode}): {r.stderr.decode()[:2000]}")
        best["trailwatch verify"] = min(s, best["trailwatch verify"] or s)
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        s, r = timed(f"xargs -a {listing} -d '\\n' -n 500 -P {cores} sha256sum > /dev/null", shell=True)
        if r.returncode != 0:
            sys.exit(f"sha256sum failed: {r.stderr.decode()[:500]}")
        best["sha256sum"] = min(s, best["sha256sum"] or s)
        s, r = timed(f"xargs -a {listing} -d '\\n' -n 500 -P {cores} sh -c 'zcat \"$@\" | sha256sum' _ > /dev/null",
                     shell=True)
        if r.returncode != 0:
            sys.exit(f"zcat + sha256sum failed: {r.stderr.decode()[:500]}")
        best["zcat + sha256sum"] = min(s, best["zcat + sha256sum"] or s)
    totals = doc["totals"]
    print(f"{len(paths)} files ({totals['digests']} digests, {totals['files_verified']} log files), "
          f"{stored / 1e6:.1f} MB stored ({inflated / 1e6:.1f} MB uncompressed), {cores} cores, "
          f"best of {args.rounds}\n")
    print("| tool | seconds | files/s | MB/s (stored) |")
    print("|---|---:|---:|---:|")
    for name, s in best.items():
        print(f"| {name} | {s:.2f} | {len(paths) / s:,.0f} | {stored / 1e6 / s:,.1f} |")
    v = best["trailwatch verify"]
    print(f"\nverify: {inflated / 1e6 / v:,.1f} MB/s uncompressed (gunzipped and hashed), "
          f"peak RSS {peak_mb:.0f} MB")
    print(f"verify takes {v / best['sha256sum']:.2f}x the time of sha256sum over the stored files "
          f"(which neither gunzips nor checks signatures) and {v / best['zcat + sha256sum']:.2f}x the "
          f"time of zcat + sha256sum (one hash per 500 files, no per-file hashes)")


if __name__ == "__main__":
    main()
