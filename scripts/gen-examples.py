#!/usr/bin/env python3
"""(Re)create examples/: a small, made-up CloudTrail organization trail in the real S3 layout.

    python3 scripts/gen-examples.py

Everything is generated here (nothing is copied from real logs) and the output is deterministic:
a fixed random seed, fixed timestamps, gzip members written with mtime 0 and no file name. Running
the script twice gives byte-identical files.

What it writes (see examples/README.md, also written by this script):

  examples/logs/AWSLogs/o-a1b2c3d4e5/<account>/CloudTrail/<region>/2026/11/<DD>/*.json.gz
      17 delivery files, two accounts (111122223333 prod, 444455556666 dev), us-east-1 and
      eu-west-1, 2026-11-03..05: mostly read-only background noise, the ordinary changes of a
      working week in prod, a leaked access key in dev, and four look-alike decoys.
  examples/logs/AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail-Digest/us-east-1/2026/11/03/*.json.gz
      one digest file (trailwatch skips digests).
  examples/shapes/
      a few of the same records in the other shapes trailwatch reads (EventBridge, LookupEvents,
      JSON Lines, bare array, single record, plain delivery file).

Python 3 standard library only.
"""

import base64
import datetime as dt
import gzip
import hashlib
import io
import json
import random
import re
import shutil
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "examples"

SEED = 20261103
rng = random.Random(SEED)

ORG = "o-a1b2c3d4e5"
PROD = "111122223333"
DEV = "444455556666"
OUTSIDER = "999988887777"
TRAIL_BUCKET = "acme-org-cloudtrail-logs"
TRAIL_NAME = "acme-org-trail"
ATTACKER_IP = "203.0.113.50"
BRUTE_IP = "203.0.113.199"

# ---------------------------------------------------------------------------------------------
# small helpers


def T(s):
    """'2026-11-03T14:05:12Z' -> aware datetime."""
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def java_date(t):
    """The date format IAM, EFS, ACM... use inside responseElements: 'Nov 4, 2026, 7:48:11 PM'."""
    hour = t.hour % 12 or 12
    ampm = "AM" if t.hour < 12 else "PM"
    return f"{t.strftime('%b')} {t.day}, {t.year}, {hour}:{t.minute:02d}:{t.second:02d} {ampm}"


def epoch_ms(t):
    return int(t.timestamp()) * 1000


def uid():
    """uuid4 from the seeded generator."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def pick(seq):
    return seq[rng.randrange(len(seq))]


def rand_str(n, alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"):
    return "".join(alphabet[rng.randrange(len(alphabet))] for _ in range(n))


def rand_hex(n):
    return rand_str(n, "0123456789abcdef")


def stable(prefix, *parts, n=16):
    """A stable AWS-style id (AKIA..., AROA..., ASIA...) derived from names, not from the RNG."""
    digest = hashlib.sha256("/".join((prefix,) + parts).encode()).digest()
    return prefix + base64.b32encode(digest).decode()[:n]


def stable_hex(*parts, n=17):
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


def kebab(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


READ_PREFIXES = ("Describe", "List", "Get", "Head", "Lookup", "Search", "BatchGet", "BatchCheck",
                 "Decrypt", "GenerateDataKey", "AssumeRole", "Filter")

EVENT_VERSION = {"s3.amazonaws.com": "1.09", "ec2.amazonaws.com": "1.09", "iam.amazonaws.com": "1.09",
                 "sts.amazonaws.com": "1.08", "signin.amazonaws.com": "1.08", "kms.amazonaws.com": "1.08"}

CLI_NAMES = {"monitoring": "cloudwatch", "elasticloadbalancing": "elbv2", "elasticfilesystem": "efs",
             "signin": "signin", "events": "events", "s3": "s3api"}


def host_for(source, region, bucket=None):
    prefix = source.split(".")[0]
    if prefix in ("iam", "route53", "organizations"):
        return f"{prefix}.amazonaws.com"
    if prefix == "s3":
        return f"{bucket}.s3.{region}.amazonaws.com" if bucket else f"s3.{region}.amazonaws.com"
    if prefix == "sts" and region == "us-east-1":
        return "sts.amazonaws.com"
    return f"{prefix}.{region}.amazonaws.com"


# ---------------------------------------------------------------------------------------------
# identities


class Actor:
    """Who made a call: builds userIdentity and knows the caller's address and user agent."""

    def __init__(self, ident, ip, ua, tls=True, console=False, key=None):
        self._ident = ident   # function(t) -> userIdentity dict
        self.ip = ip          # str or function() -> str
        self.ua = ua          # str or function(source, name) -> str
        self.tls = tls
        self.console = console
        self.key = key

    def identity(self, t):
        return self._ident(t)

    def source_ip(self):
        return self.ip() if callable(self.ip) else self.ip

    def user_agent(self, source, name):
        return self.ua(source, name) if callable(self.ua) else self.ua


def session_start(t, minutes=60):
    """Start of the credential session a call at t belongs to (the same for every call in the period)."""
    midnight = t.replace(hour=0, minute=0, second=0)
    elapsed = t.hour * 60 + t.minute
    return midnight + dt.timedelta(minutes=(elapsed // minutes) * minutes, seconds=7)


def iam_user(account, name, key=None, console=False, mfa=False):
    principal = stable("AIDA", account, name, n=17)
    long_key = key or stable("AKIA", account, name)

    def ident(t):
        u = {"type": "IAMUser", "principalId": principal, "arn": f"arn:aws:iam::{account}:user/{name}",
             "accountId": account}
        if console:
            start = session_start(t, 240)
            u["accessKeyId"] = stable("ASIA", account, name, iso(start))
            u["userName"] = name
            u["sessionContext"] = {"sessionIssuer": {}, "webIdFederationData": {},
                                   "attributes": {"creationDate": iso(start),
                                                  "mfaAuthenticated": "true" if mfa else "false"}}
        else:
            u["accessKeyId"] = long_key
            u["userName"] = name
        return u

    return ident, long_key


def assumed_role(account, role, session, path="/", web_identity=None, invoked_by=None, mfa=False,
                 period=60):
    role_id = stable("AROA", account, role, n=17)

    def ident(t):
        start = session_start(t, period)
        u = {"type": "AssumedRole", "principalId": f"{role_id}:{session}",
             "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}", "accountId": account,
             "accessKeyId": stable("ASIA", account, role, session, iso(start)),
             "sessionContext": {
                 "sessionIssuer": {"type": "Role", "principalId": role_id,
                                   "arn": f"arn:aws:iam::{account}:role{path}{role}", "accountId": account,
                                   "userName": role},
                 "webIdFederationData": web_identity or {},
                 "attributes": {"creationDate": iso(start), "mfaAuthenticated": "true" if mfa else "false"}}}
        if invoked_by:
            u["invokedBy"] = invoked_by
        return u

    return ident


def iam_user_sign_in(account, name):
    """userIdentity of an IAM user's console sign-in: no access key."""
    principal = stable("AIDA", account, name, n=17)
    return lambda t: {"type": "IAMUser", "principalId": principal, "arn": f"arn:aws:iam::{account}:user/{name}",
                      "accountId": account, "accessKeyId": "", "userName": name}


def aws_service(service):
    return lambda t: {"type": "AWSService", "invokedBy": service}


def root(account):
    return lambda t: {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root",
                      "accountId": account, "accessKeyId": ""}


BROWSER = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0.0.0 Safari/537.36")
BROWSER_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0"


def cli_ua(os_part, version="2.22.4", python="3.12.6"):
    def ua(source, name):
        svc = source.split(".")[0]
        svc = CLI_NAMES.get(svc, svc)
        return (f"aws-cli/{version} md/awscrt#0.22.0 ua/2.0 {os_part} md/arch#x86_64 lang/python#{python} "
                f"md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off "
                f"md/command#{svc}.{kebab(name)}")
    return ua


def go_sdk_ua(source, name):
    svc = source.split(".")[0]
    return (f"aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.4 md/GOOS#linux md/GOARCH#arm64 "
            f"api/{svc}#1.{40 + len(svc)}.2 m/E")


def boto_ua(source, name):
    return ("Boto3/1.35.71 md/Botocore#1.35.71 ua/2.0 os/linux#5.10.228-240.884.amzn2.x86_64 md/arch#x86_64 "
            "lang/python#3.12.7 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy "
            "Botocore/1.35.71")


def java_ua(source, name):
    return ("aws-sdk-java/2.29.15 Linux/6.1.115-126.197.amzn2023.x86_64 OpenJDK_64-Bit_Server_VM/21.0.5+11-LTS "
            "Java/21.0.5 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/standard")


def grafana_ua(source, name):
    return "aws-sdk-go/1.55.5 (go1.23.2; linux; amd64) Grafana/11.3.1"


def ip_pool(*ips):
    return lambda: pick(ips)


def sso_role(account, kind, suffix):
    return (f"AWSReservedSSO_{kind}_{suffix}", "/aws-reserved/sso.amazonaws.com/")


GITHUB_OIDC = lambda account: {  # noqa: E731
    "federatedProvider": f"arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com",
    "attributes": {}}

# ---------------------------------------------------------------------------------------------
# the two accounts


class Account:
    def __init__(self, account_id, label):
        self.id = account_id
        self.label = label


def build_prod():
    a = Account(PROD, "prod")
    admin_role, sso_path = sso_role(PROD, "AdministratorAccess", "7c2e9f4b1a6d3e85")
    ro_role, _ = sso_role(PROD, "ReadOnlyAccess", "4d8a1b6c9e2f7a03")
    a.alice_console = Actor(assumed_role(PROD, admin_role, "alice", sso_path, period=240),
                            ip_pool("192.0.2.10", "192.0.2.11"), "AWS Internal", console=True)
    a.alice_cli = Actor(assumed_role(PROD, admin_role, "alice", sso_path, period=240),
                        "192.0.2.10", cli_ua("os/macos#24.1.0"))
    a.bob = Actor(assumed_role(PROD, ro_role, "bob", sso_path, period=240),
                  "198.51.100.14", cli_ua("os/linux#6.8.0-49-generic", python="3.12.7"))
    maria_ident, _ = iam_user(PROD, "maria.ops", console=True, mfa=True)
    a.maria = Actor(maria_ident, "192.0.2.11", "AWS Internal", console=True)
    a.maria_login = iam_user_sign_in(PROD, "maria.ops")
    a.legacy_login = iam_user_sign_in(PROD, "legacy-admin")
    a.root_login = root(PROD)
    a.sso_roles = (admin_role, sso_path)
    a.ci = Actor(assumed_role(PROD, "github-actions-deploy", "GitHubActions", web_identity=GITHUB_OIDC(PROD),
                              period=20),
                 ip_pool("198.51.100.201", "198.51.100.202", "198.51.100.230"),
                 cli_ua("os/linux#6.5.0-1025-azure", version="2.22.2", python="3.12.6"))
    a.api_task = Actor(assumed_role(PROD, "orders-api-task", "4f9c2d7a1e8b43c6a5d0e7f1b2c3d4e5"),
                       ip_pool("198.51.100.50", "198.51.100.51"), go_sdk_ua)
    a.lambda_role = Actor(assumed_role(PROD, "orders-events-lambda", "orders-events-processor"),
                          ip_pool("198.51.100.61", "198.51.100.62", "198.51.100.63"), boto_ua)
    a.reports = Actor(assumed_role(PROD, "reports-batch", "reports-batch-2f3a"),
                      "198.51.100.52", java_ua)
    a.grafana = Actor(assumed_role(PROD, "grafana-cloudwatch-read", "grafana"),
                      "198.51.100.90", grafana_ua)
    a.config = Actor(assumed_role(PROD, "AWSServiceRoleForConfig", "AWSConfig-Describe",
                                  "/aws-service-role/config.amazonaws.com/", invoked_by="config.amazonaws.com"),
                     "config.amazonaws.com", "config.amazonaws.com", tls=False)
    a.s3_via_role = Actor(assumed_role(PROD, "orders-api-task", "4f9c2d7a1e8b43c6a5d0e7f1b2c3d4e5",
                                       invoked_by="s3.amazonaws.com"),
                          "s3.amazonaws.com", "s3.amazonaws.com", tls=False)
    a.developers = [a.alice_cli, a.bob]
    a.buckets = {"us-east-1": ["acme-prod-static-assets", "acme-prod-app-logs"],
                 "eu-west-1": ["acme-prod-orders-data-eu", "acme-prod-backups-eu"]}
    a.kms_key = {"us-east-1": "2b8f1c3d-6e4a-4f59-9b7c-0d1e2f3a4b5c",
                 "eu-west-1": "7a1c2e3f-4b5d-4e6f-8a9b-1c2d3e4f5a6b"}
    a.functions = ["orders-events-processor", "orders-nightly-report", "cdn-invalidator"]
    a.stacks = ["orders-network", "orders-api", "orders-data", "cdn-static"]
    a.params = ["/prod/orders-api/feature-flags", "/prod/orders-api/db-host", "/prod/shared/vpc-id",
                "/prod/orders-api/log-level"]
    a.log_groups = ["/aws/lambda/orders-events-processor", "/ecs/orders-api", "/aws/rds/instance/orders-db/postgresql"]
    return a


def build_dev():
    a = Account(DEV, "dev")
    admin_role, sso_path = sso_role(DEV, "AdministratorAccess", "b31f6e0a9c4d2e78")
    a.alice_console = Actor(assumed_role(DEV, admin_role, "alice", sso_path, period=240),
                            ip_pool("192.0.2.10", "192.0.2.11"), "AWS Internal", console=True)
    a.alice_cli = Actor(assumed_role(DEV, admin_role, "alice", sso_path, period=240),
                        "192.0.2.10", cli_ua("os/macos#24.1.0"))
    a.bob = Actor(assumed_role(DEV, admin_role, "bob", sso_path, period=240),
                  "198.51.100.14", cli_ua("os/linux#6.8.0-49-generic", python="3.12.7"))
    build_ident, build_key = iam_user(DEV, "build-bot", key="AKIAWNQ3UYFB7K2LXE5D")
    a.build_bot_key = build_key
    a.build_bot = Actor(build_ident, "198.51.100.60", java_ua)
    a.attacker = Actor(build_ident, ATTACKER_IP,
                       lambda s, n: cli_ua("os/linux#6.11.2-amd64", version="2.15.30",
                                           python="3.11.8")(s, n).replace(" md/installer#exe", " md/distrib#kali.2024"))
    backup_ident, backup_key = iam_user(DEV, "support-backup", key="AKIAWNQ3UYFBR4H6TZ2M")
    a.backup_key = backup_key
    a.persist = Actor(backup_ident, ATTACKER_IP,
                      lambda s, n: cli_ua("os/linux#6.11.2-amd64", version="2.15.30",
                                          python="3.11.8")(s, n).replace(" md/installer#exe", " md/distrib#kali.2024"))
    a.api_task = Actor(assumed_role(DEV, "orders-api-task", "9a0b1c2d3e4f45a6b7c8d9e0f1a2b3c4"),
                       "198.51.100.150", go_sdk_ua)
    a.lambda_role = Actor(assumed_role(DEV, "orders-events-lambda", "orders-events-processor"),
                          ip_pool("198.51.100.161", "198.51.100.162"), boto_ua)
    a.reports = Actor(assumed_role(DEV, "reports-batch", "reports-batch-dev"), "198.51.100.152", java_ua)
    a.grafana = Actor(assumed_role(DEV, "grafana-cloudwatch-read", "grafana"), "198.51.100.90", grafana_ua)
    a.config = Actor(assumed_role(DEV, "AWSServiceRoleForConfig", "AWSConfig-Describe",
                                  "/aws-service-role/config.amazonaws.com/", invoked_by="config.amazonaws.com"),
                     "config.amazonaws.com", "config.amazonaws.com", tls=False)
    a.s3_via_role = Actor(assumed_role(DEV, "orders-api-task", "9a0b1c2d3e4f45a6b7c8d9e0f1a2b3c4",
                                       invoked_by="s3.amazonaws.com"),
                          "s3.amazonaws.com", "s3.amazonaws.com", tls=False)
    a.ci = a.build_bot
    a.developers = [a.alice_cli, a.bob]
    a.buckets = {"us-east-1": ["dev-build-artifacts-444455556666", "dev-terraform-state-444455556666"],
                 "eu-west-1": ["dev-scratch-eu-444455556666", "dev-orders-data-eu"]}
    a.kms_key = {"us-east-1": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
                 "eu-west-1": "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"}
    a.functions = ["orders-events-processor", "pr-preview-cleanup"]
    a.stacks = ["dev-orders-network", "dev-orders-api", "pr-1842-preview"]
    a.params = ["/dev/orders-api/feature-flags", "/dev/orders-api/db-host", "/dev/shared/vpc-id"]
    a.log_groups = ["/aws/lambda/orders-events-processor", "/ecs/orders-api", "/aws/codebuild/dev-orders"]
    return a


# ---------------------------------------------------------------------------------------------
# one record


def record(acct, region, t, actor, source, name, req=None, resp=None, *, read_only=None, error=None,
           extra=None, resources=None, api_version=None, event_type="AwsApiCall", bucket=None,
           request_id=None):
    account = acct.id if isinstance(acct, Account) else acct
    r = {"eventVersion": EVENT_VERSION.get(source, "1.08"),
         "userIdentity": actor.identity(t),
         "eventTime": iso(t),
         "eventSource": source,
         "eventName": name,
         "awsRegion": region,
         "sourceIPAddress": actor.source_ip(),
         "userAgent": actor.user_agent(source, name)}
    if error:
        r["errorCode"], r["errorMessage"] = error
    r["requestParameters"] = req
    r["responseElements"] = resp
    if source == "s3.amazonaws.com" and actor.tls:
        extra = dict(extra or {})
        extra.update({"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                      "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader",
                      "x-amz-id-2": base64.b64encode(rng.getrandbits(384).to_bytes(48, "big")).decode(),
                      "bytesTransferredOut": rng.randrange(120, 2400)})
    if extra:
        r["additionalEventData"] = extra
    if request_id is None:
        request_id = rand_str(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") if source == "s3.amazonaws.com" else uid()
    r["requestID"] = request_id
    r["eventID"] = uid()
    if read_only is None:
        read_only = name.startswith(READ_PREFIXES)
    r["readOnly"] = read_only
    if resources:
        r["resources"] = resources
    r["eventType"] = event_type
    if api_version:
        r["apiVersion"] = api_version
    r["managementEvent"] = True
    r["recipientAccountId"] = account
    r["eventCategory"] = "Management"
    if actor.tls and event_type == "AwsApiCall":
        r["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                           "clientProvidedHostHeader": host_for(source, region, bucket)}
    if actor.console and event_type == "AwsApiCall":
        r["sessionCredentialFromConsole"] = "true"
    return r


def ec2_resp(r_id, **kw):
    d = {"requestId": r_id}
    d.update(kw)
    return d


def ec2_call(acct, region, t, actor, name, req, resp_fn=None, **kw):
    rid = uid()
    resp = resp_fn(rid) if resp_fn else None
    return record(acct, region, t, actor, "ec2.amazonaws.com", name, req, resp, request_id=rid, **kw)


def s3_call(acct, region, t, actor, name, bucket, req_extra=None, **kw):
    req = {"bucketName": bucket, "Host": f"{bucket}.s3.{region}.amazonaws.com"}
    if req_extra:
        req.update(req_extra)
    res = [{"accountId": acct.id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]
    return record(acct, region, t, actor, "s3.amazonaws.com", name, req, None, bucket=bucket, resources=res, **kw)


def denied(actor_arn, action, resource="*", ec2=False):
    if ec2:
        return ("Client.UnauthorizedOperation",
                f"You are not authorized to perform this operation. User: {actor_arn} is not authorized to "
                f"perform: {action} because no identity-based policy allows the {action} action")
    return ("AccessDenied",
            f"User: {actor_arn} is not authorized to perform: {action} on resource: {resource} because no "
            f"identity-based policy allows the {action} action")


# ---------------------------------------------------------------------------------------------
# background noise: read-only calls by people, CI, applications and services


def noise_templates(acct, region):
    """(weight, function(t) -> record) for one account and region."""
    east = region == "us-east-1"
    A = acct
    buckets = A.buckets[region]
    key_arn = f"arn:aws:kms:{region}:{A.id}:key/{A.kms_key[region]}"
    vpc = "vpc-0" + stable_hex(A.id, region, "vpc", n=16)
    people = A.developers

    def describe_instances(t):
        who = pick([A.config, A.grafana, A.ci] + people)
        req = {"instancesSet": {}, "filterSet": {}}
        if who is A.ci:
            req["filterSet"] = {"items": [{"name": "tag:aws:cloudformation:stack-name",
                                           "valueSet": {"items": [{"value": pick(A.stacks)}]}}]}
        return ec2_call(A, region, t, who, "DescribeInstances", req)

    def describe_ec2_other(t):
        name, req = pick([
            ("DescribeSecurityGroups", {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}),
            ("DescribeVpcs", {"vpcSet": {}, "filterSet": {}}),
            ("DescribeSubnets", {"subnetSet": {}, "filterSet": {"items": [{"name": "vpc-id",
                                                                           "valueSet": {"items": [{"value": vpc}]}}]}}),
            ("DescribeVolumes", {"volumeSet": {}, "filterSet": {}}),
            ("DescribeNetworkInterfaces", {"networkInterfaceIdSet": {}, "filterSet": {}}),
            ("DescribeInstanceStatus", {"instancesSet": {}, "filterSet": {}, "includeAllInstances": False}),
            ("DescribeAddresses", {"publicIpsSet": {}, "allocationIdsSet": {}, "filterSet": {}}),
            ("DescribeRouteTables", {"routeTableIdSet": {}, "filterSet": {}}),
            ("DescribeLaunchTemplateVersions", {"DescribeLaunchTemplateVersionsRequest": {
                "LaunchTemplateName": "orders-api-lt", "LaunchTemplateVersion": {"content": "$Latest", "tag": 1}}}),
        ])
        who = pick([A.config, A.config, A.grafana, A.ci] + people)
        return ec2_call(A, region, t, who, name, req)

    def kms_decrypt(t):
        bucket = pick(buckets)
        obj = f"{pick(['exports', 'uploads', 'reports', 'cache'])}/{t.strftime('%Y/%m/%d')}/{rand_hex(12)}.json"
        name = "Decrypt" if rng.random() < 0.75 else "GenerateDataKey"
        req = {"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
               "encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::{bucket}/{obj}"}}
        if name == "GenerateDataKey":
            req = {"keySpec": "AES_256", "encryptionContext": req["encryptionContext"], "keyId": key_arn}
        return record(A, region, t, A.s3_via_role, "kms.amazonaws.com", name, req, None,
                      resources=[{"accountId": A.id, "type": "AWS::KMS::Key", "ARN": key_arn}])

    def kms_direct(t):
        who = pick([A.api_task, A.lambda_role])
        req = {"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
               "encryptionContext": {"service": "orders", "purpose": "session-cookie"}}
        return record(A, region, t, who, "kms.amazonaws.com", "Decrypt", req, None,
                      resources=[{"accountId": A.id, "type": "AWS::KMS::Key", "ARN": key_arn}])

    def ssm_get(t):
        who = pick([A.api_task, A.lambda_role, A.ci])
        if who is A.ci:
            return record(A, region, t, who, "ssm.amazonaws.com", "GetParameters",
                          {"names": rng.sample(A.params, 2), "withDecryption": False}, None)
        name = pick(A.params)
        if rng.random() < 0.04:
            missing = name.rsplit("/", 1)[0] + "/timeout-ms"
            return record(A, region, t, who, "ssm.amazonaws.com", "GetParameter", {"name": missing}, None,
                          error=("ParameterNotFound", f"Parameter {missing} not found."))
        return record(A, region, t, who, "ssm.amazonaws.com", "GetParameter", {"name": name}, None)

    def sts_service_assume(t):
        svc, role, session = pick([
            ("ecs-tasks.amazonaws.com", "orders-api-task", uid().replace("-", "")),
            ("lambda.amazonaws.com", "orders-events-lambda", "orders-events-processor"),
            ("ecs-tasks.amazonaws.com", "ecsTaskExecutionRole", uid().replace("-", "")),
            ("ec2.amazonaws.com", "bastion-instance-role", "i-0" + stable_hex(A.id, "bastion", n=16)),
        ])
        role_arn = f"arn:aws:iam::{A.id}:role/{role}"
        role_id = stable("AROA", A.id, role, n=17)
        svc_actor = Actor(aws_service(svc), svc, svc, tls=False)
        key = "ASIA" + rand_str(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        resp = {"credentials": {"accessKeyId": key,
                                "expiration": java_date(t + dt.timedelta(hours=6))},
                "assumedRoleUser": {"assumedRoleId": f"{role_id}:{session}",
                                    "arn": f"arn:aws:sts::{A.id}:assumed-role/{role}/{session}"}}
        return record(A, region, t, svc_actor, "sts.amazonaws.com", "AssumeRole",
                      {"roleArn": role_arn, "roleSessionName": session}, resp,
                      resources=[{"accountId": A.id, "type": "AWS::IAM::Role", "ARN": role_arn}])

    def sts_ci_assume(t):
        role = "github-actions-deploy" if A.id == PROD else "pr-preview-deploy"
        session = "GitHubActions"
        role_arn = f"arn:aws:iam::{A.id}:role/{role}"
        role_id = stable("AROA", A.id, role, n=17)
        repo = pick(["acme/orders-api", "acme/orders-web", "acme/platform-infra"])
        web = Actor(lambda _t: {"type": "WebIdentityUser",
                                "principalId": f"arn:aws:iam::{A.id}:oidc-provider/token.actions.githubusercontent.com:sts.amazonaws.com:repo:{repo}:ref:refs/heads/main",
                                "userName": f"repo:{repo}:ref:refs/heads/main",
                                "identityProvider": f"arn:aws:iam::{A.id}:oidc-provider/token.actions.githubusercontent.com"},
                    ip_pool("198.51.100.201", "198.51.100.202", "198.51.100.230"),
                    "aws-sdk-js/3.699.0 ua/2.1 os/linux#6.5.0-1025-azure lang/js md/nodejs#20.18.1 "
                    "api/sts#3.699.0 m/E,N configure-aws-credentials-for-github-actions")
        resp = {"credentials": {"accessKeyId": "ASIA" + rand_str(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
                                "expiration": java_date(t + dt.timedelta(hours=1))},
                "subjectFromWebIdentityToken": f"repo:{repo}:ref:refs/heads/main",
                "assumedRoleUser": {"assumedRoleId": f"{role_id}:{session}",
                                    "arn": f"arn:aws:sts::{A.id}:assumed-role/{role}/{session}"},
                "provider": f"arn:aws:iam::{A.id}:oidc-provider/token.actions.githubusercontent.com",
                "audience": "sts.amazonaws.com"}
        return record(A, region, t, web, "sts.amazonaws.com", "AssumeRoleWithWebIdentity",
                      {"roleArn": role_arn, "roleSessionName": session, "durationSeconds": 3600}, resp,
                      resources=[{"accountId": A.id, "type": "AWS::IAM::Role", "ARN": role_arn}])

    def sts_whoami(t):
        who = pick([A.ci] + people)
        return record(A, region, t, who, "sts.amazonaws.com", "GetCallerIdentity", None, None)

    def s3_list_buckets(t):
        who = pick([A.ci, A.config, A.reports] + people)
        return record(A, region, t, who, "s3.amazonaws.com", "ListBuckets",
                      {"Host": "s3.amazonaws.com"}, None, bucket=None)

    def s3_bucket_read(t):
        bucket = pick(buckets)
        who = pick([A.config, A.config, A.ci, A.reports])
        name, extra = pick([("GetBucketLocation", {"location": ""}), ("GetBucketAcl", {"acl": ""}),
                            ("GetBucketVersioning", {"versioning": ""}), ("GetBucketEncryption", {"encryption": ""}),
                            ("GetBucketPolicy", {"policy": ""}), ("GetBucketTagging", {"tagging": ""}),
                            ("GetBucketPublicAccessBlock", {"publicAccessBlock": ""})])
        err = None
        if name == "GetBucketPolicy" and not any(w in bucket for w in ("static-assets", "artifacts", "logs")):
            err = ("NoSuchBucketPolicy", "The bucket policy does not exist")
        return s3_call(A, region, t, who, name, bucket, extra, error=err)

    def logs_read(t):
        who = pick([A.grafana, A.grafana] + people)
        group = pick(A.log_groups)
        name, req = pick([
            ("DescribeLogGroups", {"logGroupNamePrefix": group.rsplit("/", 1)[0]}),
            ("DescribeLogStreams", {"logGroupName": group, "orderBy": "LastEventTime", "descending": True,
                                    "limit": 50}),
            ("FilterLogEvents", {"logGroupName": group, "startTime": epoch_ms(t - dt.timedelta(hours=1)),
                                 "endTime": epoch_ms(t), "filterPattern": "ERROR", "interleaved": True}),
        ])
        return record(A, region, t, who, "logs.amazonaws.com", name, req, None)

    def logs_create_stream(t):
        group = "/aws/lambda/orders-events-processor"
        stream = f"{t.strftime('%Y/%m/%d')}/[$LATEST]{rand_hex(32)}"
        return record(A, region, t, A.lambda_role, "logs.amazonaws.com", "CreateLogStream",
                      {"logGroupName": group, "logStreamName": stream}, None)

    def metrics(t):
        name, req = pick([
            ("GetMetricData", {"metricDataQueries": [{"id": "a", "metricStat": {"metric": {
                "namespace": pick(["AWS/EC2", "AWS/ApplicationELB", "AWS/RDS", "AWS/Lambda"]),
                "metricName": pick(["CPUUtilization", "RequestCount", "Errors", "FreeStorageSpace"])},
                "period": 60, "stat": "Average"}, "returnData": True}],
                "startTime": java_date(t - dt.timedelta(hours=3)), "endTime": java_date(t)}),
            ("DescribeAlarms", {"maxRecords": 100}),
            ("ListMetrics", {"namespace": pick(["AWS/EC2", "AWS/Lambda", "AWS/SQS"])}),
        ])
        return record(A, region, t, A.grafana, "monitoring.amazonaws.com", name, req, None)

    def lambda_read(t):
        who = pick([A.ci] + people)
        name, req = pick([
            ("GetFunction20150331v2", {"functionName": pick(A.functions)}),
            ("ListFunctions20150331", None),
            ("GetFunctionConfiguration20150331v2", {"functionName": pick(A.functions)}),
            ("ListEventSourceMappings20150331", {"functionName": pick(A.functions)}),
        ])
        return record(A, region, t, who, "lambda.amazonaws.com", name, req, None)

    def cfn_read(t):
        who = pick([A.ci, A.ci] + people)
        stack = pick(A.stacks)
        name, req = pick([("DescribeStacks", {"stackName": stack}),
                          ("DescribeStackEvents", {"stackName": stack}),
                          ("ListStacks", {"stackStatusFilter": ["CREATE_COMPLETE", "UPDATE_COMPLETE"]}),
                          ("GetTemplateSummary", {"stackName": stack}),
                          ("DescribeStackResources", {"stackName": stack})])
        return record(A, region, t, who, "cloudformation.amazonaws.com", name, req, None)

    def ecr_pull(t):
        who = Actor(assumed_role(A.id, "ecsTaskExecutionRole", uid().replace("-", "")),
                    "198.51.100.50" if A.id == PROD else "198.51.100.150",
                    "Amazon ECS Agent - v1.88.0 (*a7a8d2b6)")
        name = pick(["GetAuthorizationToken", "BatchGetImage", "GetDownloadUrlForLayer", "BatchCheckLayerAvailability"])
        req = None if name == "GetAuthorizationToken" else {"repositoryName": "orders-api",
                                                              "registryId": A.id}
        if name == "BatchGetImage":
            req["imageIds"] = [{"imageTag": "main-" + rand_hex(7)}]
            req["acceptedMediaTypes"] = ["application/vnd.docker.distribution.manifest.v2+json",
                                         "application/vnd.oci.image.manifest.v1+json"]
        res = None if name == "GetAuthorizationToken" else [
            {"accountId": A.id, "ARN": f"arn:aws:ecr:{region}:{A.id}:repository/orders-api"}]
        return record(A, region, t, who, "ecr.amazonaws.com", name, req, None, resources=res)

    def rds_read(t):
        who = pick([A.config, A.grafana] + people)
        name, req = pick([("DescribeDBInstances", None), ("DescribeDBClusters", {"includeShared": False}),
                          ("DescribeDBSnapshots", {"dBInstanceIdentifier": "orders-db"}),
                          ("DescribeEvents", {"sourceType": "db-instance", "duration": 60})])
        return record(A, region, t, who, "rds.amazonaws.com", name, req, None)

    def elb_read(t):
        who = pick([A.config, A.grafana, A.ci])
        tg = f"arn:aws:elasticloadbalancing:{region}:{A.id}:targetgroup/orders-api/{stable_hex(A.id, region, 'tg', n=16)}"
        name, req = pick([("DescribeLoadBalancers", {}), ("DescribeTargetGroups", {}),
                          ("DescribeTargetHealth", {"targetGroupArn": tg}), ("DescribeListeners", {
                              "loadBalancerArn": f"arn:aws:elasticloadbalancing:{region}:{A.id}:loadbalancer/app/orders-alb/{stable_hex(A.id, region, 'alb', n=16)}"})])
        return record(A, region, t, who, "elasticloadbalancing.amazonaws.com", name, req, None,
                      api_version="2015-12-01")

    def autoscaling_read(t):
        who = Actor(aws_service("autoscaling.amazonaws.com"), "autoscaling.amazonaws.com",
                    "autoscaling.amazonaws.com", tls=False)
        if rng.random() < 0.5:
            who = pick([A.config, A.grafana])
        return record(A, region, t, who, "autoscaling.amazonaws.com",
                      pick(["DescribeAutoScalingGroups", "DescribeScalingActivities", "DescribePolicies"]),
                      {"autoScalingGroupNames": ["orders-api-asg"]}, None)

    def trail_read(t):
        who = pick([A.config] + people)
        name, req = pick([("DescribeTrails", {"includeShadowTrails": True}),
                          ("GetTrailStatus", {"name": f"arn:aws:cloudtrail:us-east-1:{A.id}:trail/{TRAIL_NAME}"}),
                          ("GetEventSelectors", {"trailName": f"arn:aws:cloudtrail:us-east-1:{A.id}:trail/{TRAIL_NAME}"})])
        return record(A, region, t, who, "cloudtrail.amazonaws.com", name, req, None)

    def config_put_eval(t):
        # Config's own housekeeping calls (not PutEvaluations, which the catalog knows).
        return record(A, region, t, A.config, "config.amazonaws.com",
                      pick(["DescribeConfigurationRecorderStatus", "DescribeConfigRules", "DescribeDeliveryChannels"]),
                      None, None)

    def secrets(t):
        who = A.api_task
        return record(A, region, t, who, "secretsmanager.amazonaws.com", "GetSecretValue",
                      {"secretId": f"{A.label}/orders-api/db-credentials"}, None)

    def iam_read(t):
        who = pick([A.config] + people)
        name, req = pick([("GetRole", {"roleName": "orders-api-task"}), ("ListRoles", None),
                          ("ListAttachedRolePolicies", {"roleName": "orders-events-lambda"}),
                          ("GetPolicyVersion", {"policyArn": f"arn:aws:iam::{A.id}:policy/orders-api-s3",
                                                "versionId": "v3"}),
                          ("ListUsers", None), ("GetAccountSummary", None)])
        return record(A, region, t, who, "iam.amazonaws.com", name, req, None)

    templates = [
        (12, describe_instances), (14, describe_ec2_other), (12, kms_decrypt), (4, kms_direct), (10, ssm_get),
        (9, sts_service_assume), (2, sts_ci_assume), (4, sts_whoami), (9, s3_bucket_read), (6, logs_read),
        (4, logs_create_stream), (8, metrics), (4, lambda_read), (5, cfn_read), (5, ecr_pull), (3, rds_read),
        (4, elb_read), (3, autoscaling_read), (1, config_put_eval), (1, secrets),
    ]
    if east:
        templates += [(4, s3_list_buckets), (6, iam_read), (2, trail_read)]
    return templates


def noise(acct, region, start, end, count):
    templates = noise_templates(acct, region)
    total = sum(w for w, _ in templates)
    span = int((end - start).total_seconds())
    out = []
    for _ in range(count):
        t = start + dt.timedelta(seconds=rng.randrange(span))
        x = rng.randrange(total)
        for w, fn in templates:
            if x < w:
                out.append(fn(t))
                break
            x -= w
    return out


# ---------------------------------------------------------------------------------------------
# sign-ins


def console_login(acct, t, ident, ip, ua, success=True, mfa=False, login_to=None, saml=None,
                  error="Failed authentication"):
    actor = Actor(ident, ip, ua, tls=False)
    extra = {"LoginTo": login_to or "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_" + rand_hex(16),
             "MobileVersion": "No", "MFAUsed": "Yes" if mfa else "No"}
    if saml:
        extra = {"SamlProviderArn": saml, "LoginTo": "https://console.aws.amazon.com/console/home",
                 "MobileVersion": "No", "MFAUsed": "No"}
    r = record(acct, "us-east-1", t, actor, "signin.amazonaws.com", "ConsoleLogin", None,
               {"ConsoleLogin": "Success" if success else "Failure"}, read_only=False, extra=extra,
               event_type="AwsConsoleSignIn")
    if not success:
        # errorMessage sits before requestParameters in real records; rebuild in that order.
        ordered = {}
        for k, v in r.items():
            if k == "requestParameters":
                ordered["errorMessage"] = error
            ordered[k] = v
        r = ordered
    return r


# ---------------------------------------------------------------------------------------------
# prod: the ordinary changes of a working week


def prod_story(P):
    E = []
    a, ci, maria = P.alice_console, P.ci, P.maria
    admin_role, sso_path = P.sso_roles
    saml = f"arn:aws:iam::{PROD}:saml-provider/AWSSSO_5f1c2d3e4a6b7c8d_DO_NOT_DELETE"

    def add(region, t, rec_fn):
        E.append((PROD, region, T(t), rec_fn))

    # --- 2026-11-03, us-east-1, morning
    add("us-east-1", "2026-11-03T08:55:21Z", lambda t: console_login(
        P, t, P.maria_login, "192.0.2.11", BROWSER, mfa=True))
    add("us-east-1", "2026-11-03T08:58:02Z", lambda t: console_login(
        P, t, assumed_role(PROD, admin_role, "alice", sso_path, period=240), "192.0.2.10", BROWSER, saml=saml))

    def create_role(t):
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": PROD}}}]}, indent=2)
        rid = stable("AROA", PROD, "reports-export-task", n=17)
        return record(P, "us-east-1", t, a, "iam.amazonaws.com", "CreateRole",
                      {"roleName": "reports-export-task", "description": "ECS task role for the reports exporter",
                       "assumeRolePolicyDocument": trust, "maxSessionDuration": 3600},
                      {"role": {"path": "/", "roleName": "reports-export-task", "roleId": rid,
                                "arn": f"arn:aws:iam::{PROD}:role/reports-export-task",
                                "createDate": java_date(t), "assumeRolePolicyDocument": trust.replace("\n", "")}})
    add("us-east-1", "2026-11-03T09:01:14Z", create_role)
    add("us-east-1", "2026-11-03T09:02:03Z", lambda t: record(
        P, "us-east-1", t, a, "iam.amazonaws.com", "AttachRolePolicy",
        {"roleName": "reports-export-task", "policyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}, None))

    cert_id = "3d7e1a2b-9c4f-4e8d-a1b2-c3d4e5f6a7b8"
    add("us-east-1", "2026-11-03T09:04:30Z", lambda t: record(
        P, "us-east-1", t, a, "acm.amazonaws.com", "RequestCertificate",
        {"domainName": "reports.acme.example", "validationMethod": "DNS",
         "subjectAlternativeNames": ["reports.acme.example"], "idempotencyToken": "reportsacmeexample",
         "options": {"certificateTransparencyLoggingPreference": "ENABLED"}, "keyAlgorithm": "RSA_2048"},
        {"certificateArn": f"arn:aws:acm:us-east-1:{PROD}:certificate/{cert_id}"}))
    add("us-east-1", "2026-11-03T09:06:41Z", lambda t: record(
        P, "us-east-1", t, a, "route53.amazonaws.com", "ChangeResourceRecordSets",
        {"hostedZoneId": "Z04817203F2KQ8EXAMPLE", "changeBatch": {"changes": [{
            "action": "UPSERT", "resourceRecordSet": {
                "name": "_5b2c7e1f0a9d4c3b8e6f1a2d3c4b5a69.reports.acme.example.", "type": "CNAME", "tTL": 300,
                "resourceRecords": [{"value": "_8c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f.djqtsrsxkq.acm-validations.aws."}]}}]}},
        {"changeInfo": {"id": "/change/C0715293" + rand_str(13, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
                        "status": "PENDING", "submittedAt": java_date(t)}}))

    # --- 2026-11-03, eu-west-1: a new network for the orders service
    stack_id = f"arn:aws:cloudformation:eu-west-1:{PROD}:stack/orders-queue/0f1e2d3c-b4a5-11f0-9c8b-0a1b2c3d4e5f"
    add("eu-west-1", "2026-11-03T10:16:44Z", lambda t: record(
        P, "eu-west-1", t, ci, "cloudformation.amazonaws.com", "CreateStack",
        {"stackName": "orders-queue", "templateURL": "https://s3.eu-west-1.amazonaws.com/acme-prod-cfn-templates-eu/orders-queue/7f3a9c1.yaml",
         "parameters": [{"parameterKey": "Environment", "parameterValue": "prod"},
                        {"parameterKey": "VisibilityTimeout", "parameterValue": "120"}],
         "capabilities": ["CAPABILITY_IAM"], "tags": [{"key": "repo", "value": "acme/orders-api"}],
         "clientRequestToken": "github-run-11874233051-1"},
        {"stackId": stack_id}))
    vpc_id = "vpc-0b7e2c4d6f8a1e3c5"
    add("eu-west-1", "2026-11-03T10:20:05Z", lambda t: ec2_call(
        P, "eu-west-1", t, a, "CreateVpc",
        {"cidrBlock": "10.42.0.0/16", "instanceTenancy": "default", "amazonProvidedIpv6CidrBlock": False,
         "tagSpecificationSet": {"items": [{"resourceType": "vpc", "tags": [{"key": "Name", "value": "orders-eu"}]}]}},
        lambda rid: ec2_resp(rid, vpc={"vpcId": vpc_id, "state": "pending", "ownerId": PROD,
                                       "cidrBlock": "10.42.0.0/16", "cidrBlockAssociationSet": {"items": [{
                                           "cidrBlock": "10.42.0.0/16", "associationId": "vpc-cidr-assoc-04c1e3a5b7d9f2e6a",
                                           "cidrBlockState": {"state": "associated"}}]},
                                       "ipv6CidrBlockAssociationSet": {}, "dhcpOptionsId": "dopt-0a1b2c3d4e5f6a7b8",
                                       "instanceTenancy": "default", "isDefault": False,
                                       "tagSet": {"items": [{"key": "Name", "value": "orders-eu"}]}})))
    sg_id = "sg-0c4e6a8b1d3f5e7a9"
    add("eu-west-1", "2026-11-03T10:21:37Z", lambda t: ec2_call(
        P, "eu-west-1", t, a, "CreateSecurityGroup",
        {"groupName": "orders-alb", "groupDescription": "orders ALB, HTTPS from the internet", "vpcId": vpc_id},
        lambda rid: ec2_resp(rid, _return=True, groupId=sg_id,
                             securityGroupArn=f"arn:aws:ec2:eu-west-1:{PROD}:security-group/{sg_id}")))
    add("eu-west-1", "2026-11-03T10:22:19Z", lambda t: ec2_call(
        P, "eu-west-1", t, a, "AuthorizeSecurityGroupIngress",
        {"groupId": sg_id, "ipPermissions": {"items": [{
            "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "groups": {},
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0", "description": "HTTPS"}]},
            "ipv6Ranges": {}, "prefixListIds": {}}]}},
        lambda rid: ec2_resp(rid, _return=True, securityGroupRuleSet={"items": [{
            "groupOwnerId": PROD, "groupId": sg_id, "securityGroupRuleId": "sgr-0a9b8c7d6e5f4a3b2",
            "isEgress": False, "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0",
            "description": "HTTPS"}]})))
    add("eu-west-1", "2026-11-03T10:24:52Z", lambda t: ec2_call(
        P, "eu-west-1", t, a, "CreateRoute",
        {"routeTableId": "rtb-0e2a4c6e8a0c2e4a6", "destinationCidrBlock": "0.0.0.0/0",
         "gatewayId": "igw-0d3f5b7d9f1b3d5f7"},
        lambda rid: ec2_resp(rid, _return=True)))
    alb = f"arn:aws:elasticloadbalancing:eu-west-1:{PROD}:loadbalancer/app/orders-eu-alb/6a1b2c3d4e5f6a7b"
    add("eu-west-1", "2026-11-03T10:27:10Z", lambda t: record(
        P, "eu-west-1", t, a, "elasticloadbalancing.amazonaws.com", "CreateLoadBalancer",
        {"name": "orders-eu-alb", "subnets": ["subnet-0a2c4e6a8c0e2a4c6", "subnet-0b3d5f7b9d1f3b5d7"],
         "securityGroups": [sg_id], "scheme": "internet-facing", "type": "application", "ipAddressType": "ipv4"},
        {"loadBalancers": [{"loadBalancerArn": alb,
                            "dNSName": "orders-eu-alb-1234567890.eu-west-1.elb.amazonaws.com",
                            "canonicalHostedZoneId": "Z32O12XQLNTSW2", "createdTime": java_date(t),
                            "loadBalancerName": "orders-eu-alb", "scheme": "internet-facing", "vpcId": vpc_id,
                            "state": {"code": "provisioning"}, "type": "application",
                            "availabilityZones": [{"zoneName": "eu-west-1a", "subnetId": "subnet-0a2c4e6a8c0e2a4c6"},
                                                  {"zoneName": "eu-west-1b", "subnetId": "subnet-0b3d5f7b9d1f3b5d7"}],
                            "securityGroups": [sg_id], "ipAddressType": "ipv4"}]},
        api_version="2015-12-01"))
    add("eu-west-1", "2026-11-03T10:31:48Z", lambda t: record(
        P, "eu-west-1", t, a, "rds.amazonaws.com", "CreateDBInstance",
        {"dBInstanceIdentifier": "orders-eu-db", "allocatedStorage": 100, "dBInstanceClass": "db.r6g.large",
         "engine": "postgres", "engineVersion": "16.4", "masterUsername": "orders_admin",
         "masterUserPassword": "HIDDEN_DUE_TO_SECURITY_REASONS", "dBSubnetGroupName": "orders-eu-private",
         "vpcSecurityGroupIds": ["sg-0f1e2d3c4b5a69788"], "multiAZ": True, "storageEncrypted": True,
         "publiclyAccessible": False, "backupRetentionPeriod": 14, "deletionProtection": True},
        {"dBInstanceIdentifier": "orders-eu-db", "dBInstanceClass": "db.r6g.large", "engine": "postgres",
         "dBInstanceStatus": "creating", "masterUsername": "orders_admin", "allocatedStorage": 100,
         "multiAZ": True, "engineVersion": "16.4", "publiclyAccessible": False, "storageEncrypted": True,
         "dbiResourceId": "db-" + rand_str(26, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
         "dBInstanceArn": f"arn:aws:rds:eu-west-1:{PROD}:db:orders-eu-db", "deletionProtection": True}))

    # --- 2026-11-03, us-east-1, afternoon: a password-only sign-in, trail and bucket housekeeping
    add("us-east-1", "2026-11-03T14:05:12Z", lambda t: console_login(
        P, t, P.legacy_login, "198.51.100.33", BROWSER_WIN, mfa=False))
    data_trail = f"arn:aws:cloudtrail:us-east-1:{PROD}:trail/acme-prod-s3-data-events"
    add("us-east-1", "2026-11-03T14:08:26Z", lambda t: record(
        P, "us-east-1", t, a, "cloudtrail.amazonaws.com", "CreateTrail",
        {"name": "acme-prod-s3-data-events", "s3BucketName": "acme-prod-trail-data-events",
         "includeGlobalServiceEvents": False, "isMultiRegionTrail": False, "enableLogFileValidation": True,
         "isOrganizationTrail": False},
        {"name": "acme-prod-s3-data-events", "s3BucketName": "acme-prod-trail-data-events",
         "includeGlobalServiceEvents": False, "isMultiRegionTrail": False, "trailARN": data_trail,
         "logFileValidationEnabled": True, "isOrganizationTrail": False}))
    add("us-east-1", "2026-11-03T14:09:40Z", lambda t: record(
        P, "us-east-1", t, a, "cloudtrail.amazonaws.com", "UpdateTrail",
        {"name": data_trail, "kmsKeyId": f"arn:aws:kms:us-east-1:{PROD}:key/{P.kms_key['us-east-1']}"},
        {"name": "acme-prod-s3-data-events", "s3BucketName": "acme-prod-trail-data-events",
         "includeGlobalServiceEvents": False, "isMultiRegionTrail": False, "trailARN": data_trail,
         "logFileValidationEnabled": True, "kmsKeyId": f"arn:aws:kms:us-east-1:{PROD}:key/{P.kms_key['us-east-1']}",
         "isOrganizationTrail": False}))
    add("us-east-1", "2026-11-03T14:12:03Z", lambda t: s3_call(
        P, "us-east-1", t, a, "PutBucketLifecycle", "acme-prod-app-logs",
        {"lifecycle": "", "LifecycleConfiguration": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", "Rule": [{
            "ID": "expire-after-400-days", "Status": "Enabled", "Filter": {"Prefix": "app/"},
            "Transition": {"Days": 30, "StorageClass": "STANDARD_IA"}, "Expiration": {"Days": 400}}]}}))

    # --- 2026-11-04, us-east-1, night: password guessing against legacy-admin (6 within 3 minutes)
    for i, s in enumerate(["02:14:03", "02:14:31", "02:15:02", "02:15:36", "02:16:09", "02:16:40"]):
        add("us-east-1", f"2026-11-04T{s}Z", lambda t: console_login(
            P, t, P.legacy_login, BRUTE_IP,
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36",
            success=False, login_to="https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true"))

    # --- 2026-11-04, us-east-1, morning: root sign-in (with MFA), Config and WAF
    add("us-east-1", "2026-11-04T09:33:18Z", lambda t: console_login(
        P, t, P.root_login, "192.0.2.10", BROWSER, mfa=True))
    root_actor = Actor(root(PROD), "192.0.2.10", "AWS Internal", console=True)
    add("us-east-1", "2026-11-04T09:34:02Z", lambda t: record(
        P, "us-east-1", t, root_actor, "iam.amazonaws.com", "GetAccountSummary", None, None))
    add("us-east-1", "2026-11-04T09:35:47Z", lambda t: record(
        P, "us-east-1", t, root_actor, "account.amazonaws.com", "GetContactInformation", None, None))
    add("us-east-1", "2026-11-04T09:41:10Z", lambda t: record(
        P, "us-east-1", t, maria, "config.amazonaws.com", "PutConfigurationRecorder",
        {"configurationRecorder": {"name": "default",
                                   "roleARN": f"arn:aws:iam::{PROD}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig",
                                   "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True,
                                                      "recordingStrategy": {"useOnly": "ALL_SUPPORTED_RESOURCE_TYPES"}},
                                   "recordingMode": {"recordingFrequency": "CONTINUOUS"}}}, None))
    add("us-east-1", "2026-11-04T09:45:29Z", lambda t: record(
        P, "us-east-1", t, a, "wafv2.amazonaws.com", "CreateWebACL",
        {"name": "orders-api-acl", "scope": "REGIONAL", "defaultAction": {"allow": {}},
         "rules": [{"name": "AWS-AWSManagedRulesCommonRuleSet", "priority": 0,
                    "statement": {"managedRuleGroupStatement": {"vendorName": "AWS", "name": "AWSManagedRulesCommonRuleSet"}},
                    "overrideAction": {"none": {}},
                    "visibilityConfig": {"sampledRequestsEnabled": True, "cloudWatchMetricsEnabled": True,
                                         "metricName": "common-rules"}}],
         "visibilityConfig": {"sampledRequestsEnabled": True, "cloudWatchMetricsEnabled": True,
                              "metricName": "orders-api-acl"}},
        {"summary": {"name": "orders-api-acl", "id": "a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
                     "description": "", "lockToken": "e4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8",
                     "aRN": f"arn:aws:wafv2:us-east-1:{PROD}:regional/webacl/orders-api-acl/a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}}))

    # --- 2026-11-04, eu-west-1: scaling up the orders service
    add("eu-west-1", "2026-11-04T13:06:33Z", lambda t: record(
        P, "eu-west-1", t, a, "rds.amazonaws.com", "ModifyDBInstance",
        {"dBInstanceIdentifier": "orders-eu-db", "dBInstanceClass": "db.r6g.xlarge", "applyImmediately": False},
        {"dBInstanceIdentifier": "orders-eu-db", "dBInstanceClass": "db.r6g.large", "engine": "postgres",
         "dBInstanceStatus": "available", "pendingModifiedValues": {"dBInstanceClass": "db.r6g.xlarge"},
         "dBInstanceArn": f"arn:aws:rds:eu-west-1:{PROD}:db:orders-eu-db"}))
    add("eu-west-1", "2026-11-04T13:10:12Z", lambda t: record(
        P, "eu-west-1", t, a, "elasticfilesystem.amazonaws.com", "CreateFileSystem",
        {"creationToken": "orders-eu-shared-uploads", "performanceMode": "generalPurpose", "encrypted": True,
         "throughputMode": "elastic", "tags": [{"key": "Name", "value": "orders-eu-shared-uploads"}]},
        {"ownerId": PROD, "creationToken": "orders-eu-shared-uploads", "fileSystemId": "fs-0d2b4f6a8c1e3a5b7",
         "fileSystemArn": f"arn:aws:elasticfilesystem:eu-west-1:{PROD}:file-system/fs-0d2b4f6a8c1e3a5b7",
         "creationTime": java_date(t), "lifeCycleState": "creating", "numberOfMountTargets": 0,
         "performanceMode": "generalPurpose", "encrypted": True,
         "kmsKeyId": f"arn:aws:kms:eu-west-1:{PROD}:key/{P.kms_key['eu-west-1']}", "throughputMode": "elastic"}))
    add("eu-west-1", "2026-11-04T13:12:50Z", lambda t: record(
        P, "eu-west-1", t, a, "elasticache.amazonaws.com", "CreateCacheCluster",
        {"cacheClusterId": "orders-eu-sessions", "engine": "redis", "engineVersion": "7.1",
         "cacheNodeType": "cache.t4g.small", "numCacheNodes": 1, "cacheSubnetGroupName": "orders-eu-private",
         "securityGroupIds": ["sg-0a7c9e1b3d5f7a9c1"]},
        {"cacheClusterId": "orders-eu-sessions", "cacheNodeType": "cache.t4g.small", "engine": "redis",
         "engineVersion": "7.1", "cacheClusterStatus": "creating", "numCacheNodes": 1,
         "aRN": f"arn:aws:elasticache:eu-west-1:{PROD}:cluster:orders-eu-sessions"}))
    add("eu-west-1", "2026-11-04T13:15:05Z", lambda t: record(
        P, "eu-west-1", t, ci, "cloudformation.amazonaws.com", "UpdateStack",
        {"stackName": "orders-queue", "templateURL": "https://s3.eu-west-1.amazonaws.com/acme-prod-cfn-templates-eu/orders-queue/b21e04d.yaml",
         "parameters": [{"parameterKey": "Environment", "usePreviousValue": True},
                        {"parameterKey": "VisibilityTimeout", "parameterValue": "300"}],
         "capabilities": ["CAPABILITY_IAM"], "clientRequestToken": "github-run-11902551870-1"},
        {"stackId": stack_id}))
    add("eu-west-1", "2026-11-04T13:18:21Z", lambda t: record(
        P, "eu-west-1", t, a, "elasticbeanstalk.amazonaws.com", "CreateEnvironment",
        {"applicationName": "orders-admin", "environmentName": "orders-admin-prod",
         "solutionStackName": "64bit Amazon Linux 2023 v4.3.2 running Python 3.12",
         "optionSettings": [{"namespace": "aws:autoscaling:launchconfiguration", "optionName": "IamInstanceProfile",
                             "value": "aws-elasticbeanstalk-ec2-role"}], "tier": {"name": "WebServer", "type": "Standard"}},
        {"environmentName": "orders-admin-prod", "environmentId": "e-3mxk2pq9vd", "applicationName": "orders-admin",
         "solutionStackName": "64bit Amazon Linux 2023 v4.3.2 running Python 3.12", "dateCreated": java_date(t),
         "status": "Launching", "health": "Grey",
         "environmentArn": f"arn:aws:elasticbeanstalk:eu-west-1:{PROD}:environment/orders-admin/orders-admin-prod"}))
    add("eu-west-1", "2026-11-04T13:20:02Z", lambda t: record(
        P, "eu-west-1", t, a, "autoscaling.amazonaws.com", "UpdateAutoScalingGroup",
        {"autoScalingGroupName": "orders-api-asg", "minSize": 3, "maxSize": 12, "desiredCapacity": 4}, None))
    add("eu-west-1", "2026-11-04T13:21:15Z", lambda t: record(
        P, "eu-west-1", t, a, "autoscaling.amazonaws.com", "PutScalingPolicy",
        {"autoScalingGroupName": "orders-api-asg", "policyName": "cpu-target-55", "policyType": "TargetTrackingScaling",
         "targetTrackingConfiguration": {"predefinedMetricSpecification": {"predefinedMetricType": "ASGAverageCPUUtilization"},
                                         "targetValue": 55.0}, "enabled": True},
        {"policyARN": f"arn:aws:autoscaling:eu-west-1:{PROD}:scalingPolicy:5d1e2f3a-4b5c-4d6e-8f9a-0b1c2d3e4f5a:autoScalingGroupName/orders-api-asg:policyName/cpu-target-55",
         "alarms": [{"alarmName": "TargetTracking-orders-api-asg-AlarmHigh-0c1d2e3f",
                     "alarmARN": f"arn:aws:cloudwatch:eu-west-1:{PROD}:alarm:TargetTracking-orders-api-asg-AlarmHigh-0c1d2e3f"}]}))

    # --- 2026-11-05, us-east-1: Direct Connect order, an SCP clean-up (decoy)
    add("us-east-1", "2026-11-05T10:05:27Z", lambda t: record(
        P, "us-east-1", t, a, "directconnect.amazonaws.com", "CreateConnection",
        {"location": "EqDC2", "bandwidth": "1Gbps", "connectionName": "acme-dc1-primary"},
        {"ownerAccount": PROD, "connectionId": "dxcon-fh2k7q9x", "connectionName": "acme-dc1-primary",
         "connectionState": "requested", "region": "us-east-1", "location": "EqDC2", "bandwidth": "1Gbps",
         "jumboFrameCapable": False, "hasLogicalRedundancy": "unknown", "macSecCapable": False,
         "encryptionMode": "no_encrypt"}))
    add("us-east-1", "2026-11-05T10:12:44Z", lambda t: record(   # decoy: Organizations, not IAM
        P, "us-east-1", t, a, "organizations.amazonaws.com", "DeletePolicy", {"policyId": "p-7q2k9w4x"}, None))

    # --- 2026-11-05, eu-west-1: analytics, plus three decoys
    add("eu-west-1", "2026-11-05T15:04:36Z", lambda t: record(
        P, "eu-west-1", t, a, "redshift.amazonaws.com", "CreateCluster",
        {"clusterIdentifier": "analytics-eu", "nodeType": "ra3.xlplus", "numberOfNodes": 2,
         "masterUsername": "analytics_admin", "masterUserPassword": "HIDDEN_DUE_TO_SECURITY_REASONS",
         "clusterSubnetGroupName": "analytics-eu-private", "publiclyAccessible": False, "encrypted": True},
        {"clusterIdentifier": "analytics-eu", "nodeType": "ra3.xlplus", "clusterStatus": "creating",
         "masterUsername": "analytics_admin", "dBName": "dev", "numberOfNodes": 2, "publiclyAccessible": False,
         "encrypted": True, "clusterNamespaceArn": f"arn:aws:redshift:eu-west-1:{PROD}:namespace:1f2e3d4c-5b6a-4978-8c9d-0e1f2a3b4c5d"}))
    add("eu-west-1", "2026-11-05T15:08:12Z", lambda t: record(   # decoy: EventBridge, not ELB/WAF
        P, "eu-west-1", t, ci, "events.amazonaws.com", "DeleteRule", {"name": "orders-nightly-report-trigger", "force": False}, None))
    add("eu-west-1", "2026-11-05T15:11:03Z", lambda t: record(   # decoy: GuardDuty, not WAF
        P, "eu-west-1", t, a, "guardduty.amazonaws.com", "CreateIPSet",
        {"detectorId": "6ec2a1b3d4e5f6a7b8c9d0e1f2a3b4c5", "name": "acme-office-egress", "format": "TXT",
         "location": "https://s3.eu-west-1.amazonaws.com/acme-prod-security-config-eu/guardduty/trusted-ips.txt",
         "activate": True},
        {"ipSetId": "8ac2b3d4e5f6a7b8c9d0e1f2a3b4c5d6"}))
    add("eu-west-1", "2026-11-05T15:14:40Z", lambda t: record(   # decoy: Transfer Family, not IAM
        P, "eu-west-1", t, a, "transfer.amazonaws.com", "CreateUser",
        {"serverId": "s-3f1e2d4c5b6a79808", "userName": "partner-upload",
         "role": f"arn:aws:iam::{PROD}:role/transfer-partner-upload", "homeDirectoryType": "LOGICAL",
         "homeDirectoryMappings": [{"entry": "/", "target": "/acme-prod-partner-drop-eu/partner-upload"}]},
        {"serverId": "s-3f1e2d4c5b6a79808", "userName": "partner-upload"}))
    return E


# ---------------------------------------------------------------------------------------------
# dev: build-bot's access key leaks


def dev_story(D):
    E = []
    x, p = D.attacker, D.persist
    bot_arn = f"arn:aws:iam::{DEV}:user/build-bot"

    def add(region, t, rec_fn):
        E.append((DEV, region, T(t), rec_fn))

    # 2026-11-03, eu-west-1: bob starts a test instance (ordinary)
    add("eu-west-1", "2026-11-03T16:07:41Z", lambda t: run_instances(
        D, "eu-west-1", t, D.bob, "t3.medium", "ami-0e5f7a9c1b3d5e7f9", "i-0a3c5e7b9d1f3a5c7", None,
        profile="orders-dev-instance"))

    # 2026-11-04 19:41, us-east-1: the leaked key is tried from a new address
    add("us-east-1", "2026-11-04T19:41:52Z", lambda t: record(D, "us-east-1", t, x, "sts.amazonaws.com",
                                                             "GetCallerIdentity", None, None))
    probes = [
        ("19:42:31", "iam.amazonaws.com", "GetAccountAuthorizationDetails", "iam:GetAccountAuthorizationDetails", None, False),
        ("19:42:44", "iam.amazonaws.com", "ListRoles", "iam:ListRoles", None, False),
        ("19:43:05", "secretsmanager.amazonaws.com", "ListSecrets", "secretsmanager:ListSecrets", None, False),
        ("19:43:20", "organizations.amazonaws.com", "DescribeOrganization", "organizations:DescribeOrganization", None, False),
        ("19:43:41", "ec2.amazonaws.com", "DescribeInstances", "ec2:DescribeInstances",
         {"instancesSet": {}, "filterSet": {}}, True),
        ("19:43:58", "ec2.amazonaws.com", "DescribeSecurityGroups", "ec2:DescribeSecurityGroups",
         {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}, True),
        ("19:44:26", "lambda.amazonaws.com", "ListFunctions20150331", "lambda:ListFunctions", None, False),
        ("19:44:49", "dynamodb.amazonaws.com", "ListTables", "dynamodb:ListTables", None, False),
        ("19:45:12", "rds.amazonaws.com", "DescribeDBInstances", "rds:DescribeDBInstances", None, False),
        ("19:45:40", "ssm.amazonaws.com", "DescribeParameters", "ssm:DescribeParameters", None, False),
        ("19:46:13", "guardduty.amazonaws.com", "ListDetectors", "guardduty:ListDetectors", None, False),
        ("19:46:47", "sso.amazonaws.com", "ListInstances", "sso:ListInstances", None, False),
    ]
    for s, source, name, action, req, is_ec2 in probes:
        add("us-east-1", f"2026-11-04T{s}Z", lambda t, source=source, name=name, action=action, req=req, is_ec2=is_ec2:
            record(D, "us-east-1", t, x, source, name, req, None, error=denied(bot_arn, action, ec2=is_ec2)))
    # what the key *can* do
    add("us-east-1", "2026-11-04T19:42:58Z", lambda t: record(D, "us-east-1", t, x, "s3.amazonaws.com", "ListBuckets",
                                                             {"Host": "s3.amazonaws.com"}, None))
    add("us-east-1", "2026-11-04T19:44:02Z", lambda t: record(D, "us-east-1", t, x, "iam.amazonaws.com", "ListUsers",
                                                             None, None))
    add("us-east-1", "2026-11-04T19:47:18Z", lambda t: record(D, "us-east-1", t, x, "iam.amazonaws.com",
                                                             "ListAttachedUserPolicies", {"userName": "build-bot"}, None))
    add("us-east-1", "2026-11-04T19:47:36Z", lambda t: record(D, "us-east-1", t, x, "cloudtrail.amazonaws.com",
                                                             "DescribeTrails", {"includeShadowTrails": False}, None))

    # persistence: a new admin user with a key and a password
    new_uid = stable("AIDA", DEV, "support-backup", n=17)
    add("us-east-1", "2026-11-04T19:48:11Z", lambda t: record(
        D, "us-east-1", t, x, "iam.amazonaws.com", "CreateUser", {"userName": "support-backup"},
        {"user": {"path": "/", "userName": "support-backup", "userId": new_uid,
                  "arn": f"arn:aws:iam::{DEV}:user/support-backup", "createDate": java_date(t)}}))
    add("us-east-1", "2026-11-04T19:48:15Z", lambda t: record(
        D, "us-east-1", t, x, "iam.amazonaws.com", "CreateAccessKey", {"userName": "support-backup"},
        {"accessKey": {"userName": "support-backup", "accessKeyId": D.backup_key, "status": "Active",
                       "createDate": java_date(t)}}))
    add("us-east-1", "2026-11-04T19:48:40Z", lambda t: record(
        D, "us-east-1", t, x, "iam.amazonaws.com", "AttachUserPolicy",
        {"userName": "support-backup", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, None))
    add("us-east-1", "2026-11-04T19:49:02Z", lambda t: record(
        D, "us-east-1", t, x, "iam.amazonaws.com", "CreateLoginProfile",
        {"userName": "support-backup", "passwordResetRequired": False},
        {"loginProfile": {"userName": "support-backup", "createDate": java_date(t), "passwordResetRequired": False}}))
    # from here on, the new user's key
    add("us-east-1", "2026-11-04T19:50:55Z", lambda t: record(D, "us-east-1", t, p, "sts.amazonaws.com",
                                                             "GetCallerIdentity", None, None))
    trail = f"arn:aws:cloudtrail:us-east-1:{DEV}:trail/dev-account-trail"
    add("us-east-1", "2026-11-04T19:51:30Z", lambda t: record(
        D, "us-east-1", t, p, "cloudtrail.amazonaws.com", "StopLogging", {"name": trail}, None))

    # eu-west-1: blind the network logs, copy data out, open SSH, mine
    add("eu-west-1", "2026-11-04T19:52:41Z", lambda t: ec2_call(
        D, "eu-west-1", t, p, "DescribeFlowLogs", {"DescribeFlowLogsRequest": ""}))
    add("eu-west-1", "2026-11-04T19:53:10Z", lambda t: ec2_call(
        D, "eu-west-1", t, p, "DeleteFlowLogs",
        {"DeleteFlowLogsRequest": {"FlowLogId": {"content": "fl-0c8e2a4b6d8f0a2c4", "tag": 1}}},
        lambda rid: {"DeleteFlowLogsResponse": {"xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/",
                                                "requestId": rid, "unsuccessful": ""}}))
    add("eu-west-1", "2026-11-04T19:54:22Z", lambda t: ec2_call(
        D, "eu-west-1", t, p, "DescribeSnapshots",
        {"snapshotSet": {}, "ownersSet": {"items": [{"owner": "self"}]}, "sharedUsersSet": {}, "filterSet": {}}))
    add("eu-west-1", "2026-11-04T19:55:40Z", lambda t: ec2_call(
        D, "eu-west-1", t, p, "ModifySnapshotAttribute",
        {"snapshotId": "snap-0f4a6c8e0b2d4f6a8",
         "createVolumePermission": {"add": {"items": [{"userId": OUTSIDER}]}},
         "attributeType": "CREATE_VOLUME_PERMISSION"},
        lambda rid: ec2_resp(rid, _return=True)))
    add("eu-west-1", "2026-11-04T19:56:31Z", lambda t: ec2_call(
        D, "eu-west-1", t, p, "DescribeSecurityGroups",
        {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}))
    dev_sg = "sg-0d5f7b9e1a3c5e7b9"
    add("eu-west-1", "2026-11-04T19:57:05Z", lambda t: ec2_call(
        D, "eu-west-1", t, p, "AuthorizeSecurityGroupIngress",
        {"groupId": dev_sg, "ipPermissions": {"items": [{
            "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}},
        lambda rid: ec2_resp(rid, _return=True, securityGroupRuleSet={"items": [{
            "groupOwnerId": DEV, "groupId": dev_sg, "securityGroupRuleId": "sgr-0e1f2a3b4c5d6e7f8",
            "isEgress": False, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"}]})))
    add("eu-west-1", "2026-11-04T19:58:20Z", lambda t: ec2_call(
        D, "eu-west-1", t, p, "CreateKeyPair", {"keyName": "support-key", "keyType": "rsa", "keyFormat": "pem"},
        lambda rid: ec2_resp(rid, keyName="support-key",
                             keyFingerprint="3c:9e:1f:7a:2b:d4:88:05:6e:c1:0f:a3:57:b2:e9:14:60:2d:cb:7f",
                             keyPairId="key-0b1d3f5a7c9e1b3d5", keyMaterial="<sensitiveDataRemoved>")))
    add("eu-west-1", "2026-11-04T19:59:45Z", lambda t: run_instances(
        D, "eu-west-1", t, p, "p3.2xlarge", "ami-0c9a7e5b3d1f9a7c5", "i-0f2e4d6c8b0a2e4d6", "support-key",
        sg=dev_sg, count=1))
    kms_arn = f"arn:aws:kms:eu-west-1:{DEV}:key/{D.kms_key['eu-west-1']}"
    add("eu-west-1", "2026-11-04T20:03:12Z", lambda t: record(
        D, "eu-west-1", t, p, "kms.amazonaws.com", "ScheduleKeyDeletion",
        {"keyId": kms_arn, "pendingWindowInDays": 7},
        {"keyId": kms_arn, "deletionDate": java_date(t + dt.timedelta(days=7)), "keyState": "PendingDeletion",
         "pendingWindowInDays": 7},
        resources=[{"accountId": DEV, "type": "AWS::KMS::Key", "ARN": kms_arn}]))

    # us-east-1: make the artifacts bucket public
    bucket = "dev-build-artifacts-444455556666"
    add("us-east-1", "2026-11-04T20:05:18Z", lambda t: s3_call(
        D, "us-east-1", t, p, "DeleteBucketPublicAccessBlock", bucket, {"publicAccessBlock": ""}))
    add("us-east-1", "2026-11-04T20:06:02Z", lambda t: s3_call(
        D, "us-east-1", t, p, "PutBucketPolicy", bucket, {
            "bucketPolicy": {"Version": "2012-10-17", "Statement": [{
                "Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]},
            "policy": ""}))

    # 2026-11-05, us-east-1: alice cleans up
    a = D.alice_cli
    add("us-east-1", "2026-11-05T08:12:09Z", lambda t: record(
        D, "us-east-1", t, a, "cloudtrail.amazonaws.com", "LookupEvents",
        {"lookupAttributes": [{"attributeKey": "AccessKeyId", "attributeValue": D.build_bot_key}],
         "startTime": "Nov 4, 2026, 12:00:00 AM", "maxResults": 50}, None))
    add("us-east-1", "2026-11-05T08:14:27Z", lambda t: record(
        D, "us-east-1", t, a, "iam.amazonaws.com", "UpdateAccessKey",
        {"userName": "build-bot", "accessKeyId": D.build_bot_key, "status": "Inactive"}, None))
    add("us-east-1", "2026-11-05T08:15:02Z", lambda t: record(
        D, "us-east-1", t, a, "iam.amazonaws.com", "ListAccessKeys", {"userName": "support-backup"}, None))
    add("us-east-1", "2026-11-05T08:16:05Z", lambda t: record(
        D, "us-east-1", t, a, "iam.amazonaws.com", "DeleteLoginProfile", {"userName": "support-backup"}, None))
    add("us-east-1", "2026-11-05T08:16:40Z", lambda t: record(
        D, "us-east-1", t, a, "iam.amazonaws.com", "DeleteAccessKey",
        {"userName": "support-backup", "accessKeyId": D.backup_key}, None))
    add("us-east-1", "2026-11-05T08:17:02Z", lambda t: record(
        D, "us-east-1", t, a, "iam.amazonaws.com", "DetachUserPolicy",
        {"userName": "support-backup", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, None))
    add("us-east-1", "2026-11-05T08:17:31Z", lambda t: record(
        D, "us-east-1", t, a, "iam.amazonaws.com", "DeleteUser", {"userName": "support-backup"}, None))
    add("us-east-1", "2026-11-05T08:19:13Z", lambda t: record(
        D, "us-east-1", t, a, "cloudtrail.amazonaws.com", "StartLogging", {"name": trail}, None))
    add("us-east-1", "2026-11-05T08:21:48Z", lambda t: s3_call(
        D, "us-east-1", t, a, "PutBucketPublicAccessBlock", bucket, {
            "publicAccessBlock": "", "PublicAccessBlockConfiguration": {
                "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", "BlockPublicAcls": True, "IgnorePublicAcls": True,
                "BlockPublicPolicy": True, "RestrictPublicBuckets": True}}))

    # 2026-11-05, eu-west-1: ... and in Ireland
    add("eu-west-1", "2026-11-05T08:33:10Z", lambda t: ec2_call(
        D, "eu-west-1", t, a, "TerminateInstances", {"instancesSet": {"items": [{"instanceId": "i-0f2e4d6c8b0a2e4d6"}]}},
        lambda rid: ec2_resp(rid, instancesSet={"items": [{
            "instanceId": "i-0f2e4d6c8b0a2e4d6", "currentState": {"code": 32, "name": "shutting-down"},
            "previousState": {"code": 16, "name": "running"}}]})))
    add("eu-west-1", "2026-11-05T08:35:02Z", lambda t: ec2_call(
        D, "eu-west-1", t, a, "RevokeSecurityGroupIngress",
        {"groupId": dev_sg, "ipPermissions": {"items": [{
            "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}},
        lambda rid: ec2_resp(rid, _return=True)))
    add("eu-west-1", "2026-11-05T08:36:44Z", lambda t: ec2_call(
        D, "eu-west-1", t, a, "ModifySnapshotAttribute",
        {"snapshotId": "snap-0f4a6c8e0b2d4f6a8",
         "createVolumePermission": {"remove": {"items": [{"userId": OUTSIDER}]}},
         "attributeType": "CREATE_VOLUME_PERMISSION"},
        lambda rid: ec2_resp(rid, _return=True)))
    add("eu-west-1", "2026-11-05T08:37:30Z", lambda t: record(
        D, "eu-west-1", t, a, "kms.amazonaws.com", "CancelKeyDeletion", {"keyId": kms_arn}, {"keyId": kms_arn},
        resources=[{"accountId": DEV, "type": "AWS::KMS::Key", "ARN": kms_arn}]))
    return E


def run_instances(acct, region, t, actor, itype, ami, instance_id, key_name, sg=None, profile=None, count=1):
    items = {"imageId": ami, "minCount": count, "maxCount": count}
    if key_name:
        items["keyName"] = key_name
    req = {"instancesSet": {"items": [items]}, "instanceType": itype, "blockDeviceMapping": {},
           "monitoring": {"enabled": False}, "disableApiTermination": False, "disableApiStop": False,
           "clientToken": uid()}
    if sg:
        req["networkInterfaceSet"] = {"items": [{"deviceIndex": 0, "associatePublicIpAddress": True,
                                                 "groupSet": {"items": [{"groupId": sg}]}}]}
    if profile:
        req["iamInstanceProfile"] = {"name": profile}
        req["tagSpecificationSet"] = {"items": [{"resourceType": "instance",
                                                 "tags": [{"key": "Name", "value": "bob-loadtest"}]}]}

    def resp(rid):
        return ec2_resp(rid, reservationId="r-0" + stable_hex(instance_id, n=16), ownerId=acct.id, groupSet={},
                        instancesSet={"items": [{
                            "instanceId": instance_id, "imageId": ami, "currentInstanceBootMode": "uefi",
                            "instanceState": {"code": 0, "name": "pending"},
                            "privateDnsName": f"ip-10-20-{rng.randrange(1, 60)}-{rng.randrange(2, 250)}.{region}.compute.internal",
                            "keyName": key_name, "amiLaunchIndex": 0, "productCodes": {}, "instanceType": itype,
                            "launchTime": epoch_ms(t), "placement": {"availabilityZone": f"{region}a", "tenancy": "default"},
                            "monitoring": {"state": "disabled"}, "subnetId": "subnet-0c1e3a5c7e9a1c3e5",
                            "vpcId": "vpc-0a8c2e4a6c8e0a2c4", "architecture": "x86_64", "rootDeviceType": "ebs",
                            "rootDeviceName": "/dev/xvda", "virtualizationType": "hvm", "hypervisor": "xen",
                            "ebsOptimized": False, "enaSupport": True}]})

    return ec2_call(acct, region, t, actor, "RunInstances", req, resp)


# ---------------------------------------------------------------------------------------------
# delivery files

# (account, region, window start, window end, background records)
FILES = [
    (PROD, "us-east-1", "2026-11-03T08:52:00Z", "2026-11-03T09:08:00Z", 80),
    (PROD, "eu-west-1", "2026-11-03T10:14:00Z", "2026-11-03T10:34:00Z", 110),
    (PROD, "us-east-1", "2026-11-03T14:01:00Z", "2026-11-03T14:17:00Z", 90),
    (PROD, "us-east-1", "2026-11-04T02:11:00Z", "2026-11-04T02:23:00Z", 60),
    (PROD, "us-east-1", "2026-11-04T09:30:00Z", "2026-11-04T09:48:00Z", 90),
    (PROD, "eu-west-1", "2026-11-04T13:04:00Z", "2026-11-04T13:24:00Z", 110),
    (PROD, "us-east-1", "2026-11-05T10:01:00Z", "2026-11-05T10:17:00Z", 90),
    (PROD, "eu-west-1", "2026-11-05T15:01:00Z", "2026-11-05T15:19:00Z", 100),
    (DEV, "us-east-1", "2026-11-03T11:00:00Z", "2026-11-03T11:14:00Z", 70),
    (DEV, "eu-west-1", "2026-11-03T16:01:00Z", "2026-11-03T16:19:00Z", 90),
    (DEV, "eu-west-1", "2026-11-04T11:02:00Z", "2026-11-04T11:18:00Z", 100),
    (DEV, "us-east-1", "2026-11-04T19:39:00Z", "2026-11-04T19:52:00Z", 70),
    (DEV, "eu-west-1", "2026-11-04T19:51:00Z", "2026-11-04T20:07:00Z", 60),
    (DEV, "us-east-1", "2026-11-04T20:01:00Z", "2026-11-04T20:14:00Z", 50),
    (DEV, "us-east-1", "2026-11-05T08:09:00Z", "2026-11-05T08:25:00Z", 70),
    (DEV, "eu-west-1", "2026-11-05T08:29:00Z", "2026-11-05T08:44:00Z", 70),
    (DEV, "eu-west-1", "2026-11-05T14:02:00Z", "2026-11-05T14:16:00Z", 100),
]


def delivery_time(end):
    """Files are delivered a few minutes after their newest record, on a 5-minute mark."""
    t = end + dt.timedelta(minutes=3)
    return t.replace(minute=(t.minute // 5) * 5, second=0) + dt.timedelta(minutes=5)


def gzip_bytes(data):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as gz:
        gz.write(data)
    return buf.getvalue()


def log_json(records):
    # CloudTrail writes one compact line.
    return json.dumps({"Records": records}, separators=(",", ":")).encode()


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def main():
    prod, dev = build_prod(), build_dev()
    accounts = {PROD: prod, DEV: dev}
    story = prod_story(prod) + dev_story(dev)

    if OUT.exists():
        shutil.rmtree(OUT)
    logs = OUT / "logs"
    files = []          # (path, key, records, uncompressed bytes)
    placed = set()
    for account, region, start_s, end_s, n in FILES:
        start, end = T(start_s), T(end_s)
        acct = accounts[account]
        recs = noise(acct, region, start, end, n)
        for i, (s_acct, s_region, t, fn) in enumerate(story):
            if s_acct == account and s_region == region and start <= t <= end:
                if i in placed:
                    sys.exit(f"story event {i} falls in two files")
                placed.add(i)
                recs.append(fn(t))
        recs.sort(key=lambda r: (r["eventTime"], r["eventID"]))
        delivered = delivery_time(end)
        key = (f"AWSLogs/{ORG}/{account}/CloudTrail/{region}/{delivered:%Y/%m/%d}/"
               f"{account}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_{rand_str(16)}.json.gz")
        raw = log_json(recs)
        write(logs / key, gzip_bytes(raw))
        files.append((key, recs, raw, delivered))
    missing = [i for i in range(len(story)) if i not in placed]
    if missing:
        sys.exit(f"story events outside every file window: {[(story[i][0], story[i][1], iso(story[i][2])) for i in missing]}")

    write_digest(logs, files)
    all_records = [r for _, recs, _, _ in files for r in recs]
    write_shapes(all_records)
    write_readme(files, all_records)

    total = sum(len(recs) for _, recs, _, _ in files)
    print(f"wrote {len(files)} log files, {total} records, 1 digest, shapes and README under {OUT}")


# ---------------------------------------------------------------------------------------------
# digest


def write_digest(logs, files):
    end = T("2026-11-03T15:00:00Z")
    start = end - dt.timedelta(hours=1)
    region = "us-east-1"
    in_hour = [(k, recs, raw) for k, recs, raw, delivered in files
               if k.startswith(f"AWSLogs/{ORG}/{PROD}/CloudTrail/{region}/") and start <= delivered < end]
    base = f"AWSLogs/{ORG}/{PROD}/CloudTrail-Digest/{region}/2026/11/03/"
    name = f"{PROD}_CloudTrail-Digest_{region}_{TRAIL_NAME}_{region}_{end:%Y%m%dT%H%M%SZ}.json.gz"
    prev = f"{base}{PROD}_CloudTrail-Digest_{region}_{TRAIL_NAME}_{region}_{start:%Y%m%dT%H%M%SZ}.json.gz"
    times = [r["eventTime"] for _, recs, _ in in_hour for r in recs]
    digest = {
        "awsAccountId": PROD,
        "digestStartTime": iso(start),
        "digestEndTime": iso(end),
        "digestS3Bucket": TRAIL_BUCKET,
        "digestS3Object": base + name,
        "digestPublicKeyFingerprint": rand_hex(32),
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": max(times),
        "oldestEventTime": min(times),
        "previousDigestS3Bucket": TRAIL_BUCKET,
        "previousDigestS3Object": prev,
        "previousDigestHashValue": rand_hex(64),
        "previousDigestHashAlgorithm": "SHA-256",
        "previousDigestSignature": rand_hex(512),
        "logFiles": [{"s3Bucket": TRAIL_BUCKET, "s3Object": k, "hashValue": hashlib.sha256(raw).hexdigest(),
                      "hashAlgorithm": "SHA-256", "newestEventTime": recs[-1]["eventTime"],
                      "oldestEventTime": recs[0]["eventTime"]} for k, recs, raw in in_hour],
    }
    assert digest["logFiles"], "the digest hour must cover at least one log file"
    write(logs / base / name, gzip_bytes(json.dumps(digest, separators=(",", ":")).encode()))


# ---------------------------------------------------------------------------------------------
# other shapes


SOURCE_OF = {"signin.amazonaws.com": "aws.signin"}


def envelope(r):
    console = r["eventType"] == "AwsConsoleSignIn"
    source = SOURCE_OF.get(r["eventSource"], "aws." + r["eventSource"].split(".")[0])
    return {"version": "0", "id": uid(),
            "detail-type": "AWS Console Sign In via CloudTrail" if console else "AWS API Call via CloudTrail",
            "source": source, "account": r["recipientAccountId"], "time": r["eventTime"],
            "region": r["awsRegion"], "resources": [], "detail": r}


def lookup_event(r):
    ui = r.get("userIdentity") or {}
    username = ui.get("userName") or (ui.get("arn", "").rsplit("/", 1)[-1] if ui.get("arn") else None)
    resources = []
    req = r.get("requestParameters") or {}
    if r["eventSource"] == "iam.amazonaws.com" and "userName" in req:
        resources.append({"ResourceType": "AWS::IAM::User", "ResourceName": req["userName"]})
    if "policyArn" in req:
        resources.append({"ResourceType": "AWS::IAM::Policy", "ResourceName": req["policyArn"]})
    if "groupId" in req:
        resources.append({"ResourceType": "AWS::EC2::SecurityGroup", "ResourceName": req["groupId"]})
    if r["eventSource"] == "cloudtrail.amazonaws.com" and "name" in req:
        resources.append({"ResourceType": "AWS::CloudTrail::Trail", "ResourceName": req["name"]})
    if "bucketName" in req:
        resources.append({"ResourceType": "AWS::S3::Bucket", "ResourceName": req["bucketName"]})
    e = {"EventId": r["eventID"], "EventName": r["eventName"],
         "ReadOnly": "true" if r.get("readOnly") else "false"}
    if ui.get("accessKeyId"):
        e["AccessKeyId"] = ui["accessKeyId"]
    e["EventTime"] = r["eventTime"].replace("Z", "+00:00")
    e["EventSource"] = r["eventSource"]
    if username:
        e["Username"] = username
    e["Resources"] = resources
    e["CloudTrailEvent"] = json.dumps(r, separators=(",", ":"))
    return e


def write_shapes(records):
    shapes = OUT / "shapes"

    def find(name, account=DEV, n=0):
        hits = [r for r in records if r["eventName"] == name and r["recipientAccountId"] == account]
        return hits[n]

    def read_noise(account, n):
        hits = [r for r in records if r["recipientAccountId"] == account and r.get("readOnly")
                and "errorCode" not in r]
        return hits[n]

    # one EventBridge event, pretty-printed the way the console shows it
    write(shapes / "eventbridge.json",
          (json.dumps(envelope(find("StopLogging")), indent=2) + "\n").encode())
    # several, one per line (what an EventBridge -> Firehose/S3 or SQS archive looks like)
    eb = [find("CreateAccessKey"), find("AuthorizeSecurityGroupIngress"),
          find("ConsoleLogin", PROD, 1), find("PutBucketPolicy"), find("ScheduleKeyDeletion")]
    write(shapes / "eventbridge.jsonl",
          "".join(json.dumps(envelope(r), separators=(",", ":")) + "\n" for r in eb).encode())
    # aws cloudtrail lookup-events --lookup-attributes AttributeKey=Username,AttributeValue=build-bot
    lookup = [r for r in records if r["recipientAccountId"] == DEV and r["userIdentity"].get("userName") == "build-bot"
              and r["sourceIPAddress"] == ATTACKER_IP and r["awsRegion"] == "us-east-1"]
    lookup.sort(key=lambda r: r["eventTime"], reverse=True)   # LookupEvents returns newest first
    write(shapes / "lookup-events.json",
          (json.dumps({"Events": [lookup_event(r) for r in lookup[:8]]}, indent=4) + "\n").encode())
    # JSON Lines: one record per line (CloudWatch Logs exports, Athena/jq pipelines)
    jl = [read_noise(DEV, 3), find("CreateUser"), find("AttachUserPolicy"), read_noise(DEV, 40),
          find("CreateLoginProfile"), find("ModifySnapshotAttribute")]
    write(shapes / "records.jsonl", "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in jl).encode())
    # a bare JSON array
    arr = [read_noise(PROD, 7), find("ConsoleLogin", PROD, 0), find("CreateVpc", PROD), find("RunInstances", DEV, 1),
           find("DeleteRule", PROD)]
    write(shapes / "array.json", (json.dumps(arr, indent=2) + "\n").encode())
    # a single record
    write(shapes / "single.json", (json.dumps(find("CreateAccessKey"), indent=2) + "\n").encode())
    # an uncompressed delivery file
    plain = [read_noise(PROD, 12), find("CreateStack", PROD), read_noise(PROD, 30), find("PutBucketLifecycle", PROD),
             find("CreateTrail", PROD), find("CreateIPSet", PROD)]
    write(shapes / "plain-delivery.json", log_json(plain) + b"\n")


# ---------------------------------------------------------------------------------------------
# README


README = """\
# Example CloudTrail logs

Everything in this folder is generated by `python3 scripts/gen-examples.py` (standard library only,
deterministic: a fixed seed and fixed timestamps, so re-running it gives byte-identical files). The
accounts, people, addresses (RFC 5737 documentation ranges) and keys are made up; no record is copied
from real logs.

```sh
trailwatch scan examples/logs                                      # everything, as a table
trailwatch scan examples/logs --min-severity high                  # only the serious findings
trailwatch scan examples/logs --account 444455556666 --format csv  # the dev account, as CSV
trailwatch scan examples/shapes                                    # the other input shapes
```

(`cargo run --release -- scan examples/logs` from the repository root does the same as the first line.)

## Layout

`logs/` is a slice of an organization trail's bucket, in the layout CloudTrail writes to S3:

```
logs/AWSLogs/__ORG__/<account>/CloudTrail/<region>/2026/11/<DD>/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<16 chars>.json.gz
logs/AWSLogs/__ORG__/111122223333/CloudTrail-Digest/us-east-1/2026/11/03/..._CloudTrail-Digest_...json.gz
```

- __FILES__ delivery files (`{"Records":[...]}`, gzip), __RECORDS__ records, from two accounts,
  `111122223333` (prod) and `444455556666` (dev), in `us-east-1` (where IAM, sign-in, Route 53 and
  Organizations events land, and STS calls to the global endpoint) and `eu-west-1` (with calls to the
  regional STS endpoint), from 2026-11-03 to 2026-11-05. Each file holds the records
  of a 12-20 minute window; the name carries the delivery time.
- About nine records in ten are background: Describe/List/Get calls by AWS Config, a Grafana role,
  GitHub Actions and Jenkins, ECS tasks and Lambda functions (SSM parameters, KMS decrypts for S3,
  STS role assumptions by AWS services), and the developers alice and bob (IAM Identity Center roles
  `AWSReservedSSO_*`).
- One digest file (`CloudTrail-Digest/`); it lists the hashes of the log files delivered in its hour.
  trailwatch recognises digests and skips them.

`shapes/` holds some of the same records in the other shapes trailwatch reads:

| file | shape |
| --- | --- |
| `eventbridge.json` | one EventBridge event (`detail-type` "AWS API Call via CloudTrail", the record in `detail`) |
| `eventbridge.jsonl` | EventBridge events, one per line, one of them "AWS Console Sign In via CloudTrail" |
| `lookup-events.json` | `aws cloudtrail lookup-events` output (`{"Events":[{"CloudTrailEvent":"<record as a string>"}]}`) |
| `records.jsonl` | JSON Lines, one record per line |
| `array.json` | a bare JSON array of records |
| `single.json` | one record |
| `plain-delivery.json` | an uncompressed `{"Records":[...]}` delivery file |

## What happens

**dev (444455556666): the access key of the IAM user `build-bot` leaks.** Normally Jenkins uses it
from 198.51.100.60. On 2026-11-04 at 19:41 UTC it is used from 203.0.113.50 with a Kali AWS CLI:

1. `GetCallerIdentity`, then within five minutes 12 calls refused with `AccessDenied` /
   `Client.UnauthorizedOperation` (IAM, Secrets Manager, Organizations, EC2, Lambda, DynamoDB, RDS,
   SSM, GuardDuty, SSO), between a few that succeed (`ListBuckets`, `ListUsers`).
2. Persistence: `CreateUser support-backup`, `CreateAccessKey` and `CreateLoginProfile` for it,
   `AttachUserPolicy AdministratorAccess`.
3. With the new user's key: `StopLogging` on the account's own trail `dev-account-trail` (the
   organization trail, which these files come from, keeps recording).
4. In eu-west-1: `DeleteFlowLogs`, `ModifySnapshotAttribute` sharing a snapshot with account
   999988887777, `AuthorizeSecurityGroupIngress` for port 22 from 0.0.0.0/0, `CreateKeyPair`,
   `RunInstances` of a `p3.2xlarge`, `ScheduleKeyDeletion` of a KMS key.
5. In us-east-1: `DeleteBucketPublicAccessBlock` and a `PutBucketPolicy` with `"Principal": "*"` on
   `dev-build-artifacts-444455556666`.
6. On 2026-11-05 alice cleans up: deactivates build-bot's key (`UpdateAccessKey`), deletes
   support-backup (`DeleteLoginProfile`, `DeleteAccessKey`, `DetachUserPolicy`, `DeleteUser`),
   `StartLogging`, restores the public access block, terminates the instance, revokes the SSH rule,
   unshares the snapshot and cancels the key deletion.

Also in dev: bob starts a `t3.medium` on 2026-11-03 (an ordinary `RunInstances`).

**prod (111122223333): an ordinary week.** Console sign-ins with MFA (maria.ops), through IAM Identity
Center (alice), one IAM user without MFA (`legacy-admin`, 2026-11-03 14:05), six failed sign-ins for
`legacy-admin` from 203.0.113.199 within three minutes (2026-11-04 02:14), and a root sign-in (with MFA)
on 2026-11-04 09:33. Changes: `CreateRole`/`AttachRolePolicy`, `RequestCertificate` and its
`ChangeResourceRecordSets` validation record, `CreateStack`/`UpdateStack`, `CreateVpc`,
`CreateSecurityGroup`, `AuthorizeSecurityGroupIngress` (443 from anywhere, for a load balancer),
`CreateRoute`, `CreateLoadBalancer`, `CreateDBInstance`/`ModifyDBInstance`, `CreateTrail`/`UpdateTrail`,
`PutBucketLifecycle` on a logs bucket, `PutConfigurationRecorder`, `CreateWebACL` (WAFv2),
`CreateFileSystem` (EFS), `CreateCacheCluster`, `CreateEnvironment` (Elastic Beanstalk),
`UpdateAutoScalingGroup`/`PutScalingPolicy`, `CreateConnection` (Direct Connect), `CreateCluster`
(Redshift).

**Decoys** that share a name with a catalog event but come from another service, so the catalog must
not report them: EventBridge `events.amazonaws.com DeleteRule`, GuardDuty `guardduty.amazonaws.com
CreateIPSet`, Transfer Family `transfer.amazonaws.com CreateUser`, and Organizations
`organizations.amazonaws.com DeletePolicy`. Two of them are still worth a look for other reasons, and
the other packs say so: the baseline pack reports the GuardDuty trusted IP list (addresses on it no
longer raise GuardDuty findings) and the CIS pack the Organizations policy deletion.

## What to expect

With `--packs guide` trailwatch reports __GUIDE__ catalog events (__GUIDE_DISTINCT__ different ones) and
none of the decoys. The `cis` and `baseline` packs add root activity, the sign-in without MFA, the
password-guessing threshold, the access-denied burst, the admin policy, the stopped trail, deleted flow
logs, the shared snapshot, SSH open to the world, the GPU instance, the KMS key deletion, the public
bucket policy and the removed public access block, among others.
"""


def write_readme(files, records):
    guide = guide_events()
    hits = [r for r in records if (r["eventSource"], r["eventName"]) in guide]
    text = (README.replace("__ORG__", ORG).replace("__FILES__", str(len(files)))
            .replace("__RECORDS__", f"{len(records):,}")
            .replace("__GUIDE_DISTINCT__", str(len({r['eventName'] for r in hits})))
            .replace("__GUIDE__", str(len(hits))))
    write(OUT / "README.md", text.encode())


def guide_events():
    """(eventSource, eventName) pairs of the built-in catalog (crates/core/catalog/*.yaml), read without a YAML parser."""
    pairs = set()
    for f in sorted((ROOT / "crates" / "core" / "catalog").glob("*.yaml")):
        name = None
        for line in f.read_text().splitlines():
            m = re.match(r"\s*-\s*event_name:\s*(\S+)", line)
            if m:
                name = m.group(1)
                continue
            m = re.match(r"\s*event_sources:\s*\[([^\]]*)\]", line)
            if m and name:
                for src in m.group(1).split(","):
                    pairs.add((src.strip(), name))
                name = None
    if not pairs:
        sys.exit("no catalog entries found under crates/core/catalog/")
    return pairs


if __name__ == "__main__":
    main()
