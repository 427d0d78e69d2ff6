#!/usr/bin/env python3
"""Measure `trailwatch watch` against the moto S3/SQS server on loopback.

1. Latency: with a warm watcher following a queue, the time from the start of an S3 PutObject
   (which makes moto send the S3 -> SQS notification) to the finding's line on the watcher's
   stdout, over --latency-samples objects.
2. Throughput: --objects notifications queued while the watcher is stopped, then the time for a
   fresh watcher to drain them (every object fetched, scanned, recorded, acknowledged). Measured
   in the same run, as baselines: a Python boto3 loop doing only the protocol work (receive,
   get, delete; no parsing), and `trailwatch scan` of the same objects from local disk.

    scripts/bench_watch.py                     # builds release, starts moto via scripts/moto.sh
    scripts/bench_watch.py --objects 2000 --records 100 --latency-samples 30

Needs the moto venv (scripts/moto.sh start creates it); uses its boto3.
"""

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def record(event_id, name="CreateUser", source="iam.amazonaws.com"):
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/bench",
                         "accountId": "111122223333", "userName": "bench"},
        "eventTime": "2026-11-20T09:05:12Z", "eventSource": source, "eventName": name,
        "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"userName": "x"}, "responseElements": None,
        "eventID": event_id, "readOnly": False, "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
    }


def delivery(event_id, filler):
    recs = [record(f"{event_id}-f{i}", "DescribeInstances", "ec2.amazonaws.com") for i in range(filler)]
    recs.append(record(event_id))
    return gzip.compress(json.dumps({"Records": recs}).encode(), mtime=0)


def key(i):
    return f"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T0905Z_{i:06d}.json.gz"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=2000)
    ap.add_argument("--records", type=int, default=100, help="records per object")
    ap.add_argument("--latency-samples", type=int, default=30)
    ap.add_argument("--skip-build", action="store_true")
    args = ap.parse_args()

    if not args.skip_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "-q"], cwd=ROOT, check=True)
    subprocess.run([str(ROOT / "scripts/moto.sh"), "start"], cwd=ROOT, check=True)
    env_line = subprocess.run([str(ROOT / "scripts/moto.sh"), "env"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
    endpoint = env_line.strip().split("=", 1)[1]
    venv = Path(os.environ.get("TRAILWATCH_MOTO_VENV", ROOT / "target/moto-venv"))
    sys.path.insert(0, str(next((venv / "lib").glob("python3*/site-packages"))))
    import boto3  # noqa: E402

    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                      AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    tw = ROOT / "target/release/trailwatch"
    work = Path(tempfile.mkdtemp(prefix="tw-watch-bench-"))

    def pipeline(tag):
        bucket = f"bench-{tag}-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        url = sqs.create_queue(QueueName=bucket)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
        # Drain the s3:TestEvent.
        for _ in range(3):
            for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return bucket, url

    def watcher(url, state, log):
        return subprocess.Popen(
            [str(tw), "watch", "--sqs", url, "--endpoint-url", endpoint, "--state", str(state),
             "--packs", "guide", "--log", "warn"],
            stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1)

    # 1. Latency with a warm watcher.
    bucket, url = pipeline("lat")
    seen = {}
    proc = watcher(url, work / "lat.db", open(work / "lat.log", "w"))

    def reader():
        for line in proc.stdout:
            seen[json.loads(line)["event_id"]] = time.perf_counter()

    threading.Thread(target=reader, daemon=True).start()
    s3.put_object(Bucket=bucket, Key=key(999999), Body=delivery("warmup", 10))
    deadline = time.time() + 30
    while "warmup" not in seen and time.time() < deadline:
        time.sleep(0.01)
    lat = []
    for i in range(args.latency_samples):
        eid = f"lat-{i}"
        t0 = time.perf_counter()
        s3.put_object(Bucket=bucket, Key=key(i), Body=delivery(eid, args.records))
        while eid not in seen and time.perf_counter() - t0 < 30:
            time.sleep(0.001)
        lat.append((seen.get(eid, float("inf")) - t0) * 1000)
        time.sleep(0.2)
    proc.terminate()
    proc.wait()

    # 2. Throughput: queue N notifications, then drain with a fresh watcher.
    blobs = work / "objects"
    blobs.mkdir()
    bucket, url = pipeline("tput")
    t = time.perf_counter()
    for i in range(args.objects):
        body = delivery(f"t-{i}", args.records)
        (blobs / f"{i:06d}.json.gz").write_bytes(body)
        s3.put_object(Bucket=bucket, Key=key(i), Body=body)
    upload = time.perf_counter() - t
    records = args.objects * (args.records + 1)

    out = work / "tput.jsonl"
    t = time.perf_counter()
    proc = subprocess.Popen([str(tw), "watch", "--sqs", url, "--endpoint-url", endpoint, "--state",
                             str(work / "tput.db"), "--packs", "guide", "--log", "warn", "-o", str(out)])
    found = 0
    while found < args.objects and time.perf_counter() - t < 1800:
        time.sleep(0.05)
        found = sum(1 for _ in open(out)) if out.exists() else 0
    drain = time.perf_counter() - t
    proc.terminate()
    proc.wait()

    # Baseline A: the protocol work alone, in Python (receive 10, get each object, delete).
    bucket2, url2 = pipeline("base")
    for i in range(args.objects):
        s3.put_object(Bucket=bucket2, Key=key(i), Body=(blobs / f"{i:06d}.json.gz").read_bytes())
    t = time.perf_counter()
    got = 0
    while got < args.objects:
        msgs = sqs.receive_message(QueueUrl=url2, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not msgs:
            break
        for m in msgs:
            for r in json.loads(m["Body"]).get("Records", []):
                s3.get_object(Bucket=r["s3"]["bucket"]["name"], Key=r["s3"]["object"]["key"].replace("%2F", "/"))["Body"].read()
                got += 1
            sqs.delete_message(QueueUrl=url2, ReceiptHandle=m["ReceiptHandle"])
    base_proto = time.perf_counter() - t

    # Baseline B: trailwatch scan of the same objects on local disk (no protocol at all).
    t = time.perf_counter()
    subprocess.run([str(tw), "scan", str(blobs), "--packs", "guide", "-q", "--format", "jsonl"],
                   check=True, stdout=subprocess.DEVNULL)
    base_scan = time.perf_counter() - t

    lat_ok = [x for x in lat if x != float("inf")]
    print(f"\nmoto {endpoint}; {os.cpu_count()} cores; {args.records + 1} records per object\n")
    print("| measurement | value |")
    print("|---|---|")
    print(f"| upload → finding on stdout, warm watcher ({len(lat_ok)}/{len(lat)} samples) | "
          f"median {statistics.median(lat_ok):.0f} ms, p95 {sorted(lat_ok)[int(len(lat_ok) * 0.95) - 1]:.0f} ms, "
          f"max {max(lat_ok):.0f} ms |")
    print(f"| queue of {args.objects} notifications drained by watch | {drain:.1f} s: "
          f"{args.objects / drain:.0f} objects/s, {records / drain:.0f} records/s, {found} findings |")
    print(f"| baseline: Python boto3 receive + get + delete, no parsing | {base_proto:.1f} s "
          f"({args.objects / base_proto:.0f} objects/s); watch takes {drain / base_proto:.2f}× |")
    print(f"| baseline: trailwatch scan of the same objects on disk | {base_scan:.2f} s; "
          f"watch takes {drain / base_scan:.1f}× |")
    print(f"| (uploading the objects to moto) | {upload:.1f} s |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
