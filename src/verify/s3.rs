//! Trail buckets: lists `s3://bucket[/prefix]` with the CloudTrail layout pruned by account,
//! region and date (logs and digests, see [`Plan::with_kinds`]), reads every object concurrently
//! and takes each digest's signature from its metadata (`x-amz-meta-signature`,
//! `x-amz-meta-signature-algorithm`). With a `to` folder it also writes every object it reads
//! there, under its key, and each digest's signature to its sidecar (`--fetch-signatures`), so
//! the copy verifies offline.

use super::{Collected, Options, Sidecar, prefix_of, read_digest, read_log};
use crate::aws::{self, AwsOptions};
use crate::source::file::Reader;
use crate::source::layout::{Kind, Plan, Scope, parse_key};
use crate::source::s3;
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Objects fetched at once.
const CONCURRENCY: usize = 32;

/// Reads every URL; `to` also records what is read there.
pub async fn collect(
    urls: &[String],
    aws_opts: &AwsOptions,
    opts: &Options,
    to: Option<&Path>,
) -> Collected {
    let conf = aws::sdk_config(aws_opts).await;
    let mut out = Collected::default();
    let scope = Scope {
        accounts: opts.accounts.clone(),
        regions: opts.regions.clone(),
        since: opts.range.since,
        until: opts.range.until,
    };
    for url in urls {
        let Some((bucket, prefix)) = s3::parse_url(url) else {
            out.unreadable
                .push(format!("{url}: not an s3://bucket/prefix URL"));
            continue;
        };
        let probe = aws::s3_client(&conf, None);
        let region = if aws::custom_endpoint(&conf) || aws_opts.region.is_some() {
            None
        } else {
            s3::bucket_region(&probe, &bucket).await
        };
        let client = aws::s3_client(&conf, region.as_deref());
        let plan = Plan::with_kinds(&prefix, &scope, &[Kind::Log, Kind::Digest]);
        let objects = match s3::list_plan(&client, &bucket, plan).await {
            Ok((objects, _)) => objects,
            Err(e) => {
                out.unreadable.push(e.to_string());
                continue;
            }
        };
        let mut wanted = Vec::new();
        for o in objects {
            let logical = super::digest::logical_key(&o.key).to_string();
            match parse_key(&logical) {
                Some(k) if k.kind == Kind::Digest => {
                    match super::digest::parse_name(&logical).filter(|n| opts.wants_digest(n)) {
                        Some(_) => wanted.push(o.key),
                        None => out.passed_over += 1,
                    }
                }
                Some(k) if opts.wants_log(&k) => wanted.push(o.key),
                _ => out.passed_over += 1,
            }
        }
        let bucket = Arc::new(bucket);
        let to = to.map(Path::to_path_buf);
        let mut results = futures_util::stream::iter(wanted)
            .map(|key| {
                let (client, bucket, opts, to) =
                    (client.clone(), bucket.clone(), opts.clone(), to.clone());
                async move { fetch(&client, &bucket, key, &opts, to).await }
            })
            .buffer_unordered(CONCURRENCY);
        while let Some(r) = results.next().await {
            match r {
                Fetched::Digest(d, size) => {
                    out.files += 1;
                    out.bytes += size;
                    out.digests.push(*d);
                }
                Fetched::Log(name, key, read, size) => {
                    out.add_log(prefix_of(&name, &key), key, read, size)
                }
                Fetched::Failed(e) => out.unreadable.push(e),
            }
        }
    }
    out
}

enum Fetched {
    Digest(Box<super::DigestInput>, u64),
    /// Name, `AWSLogs/...` key, what was read, stored size.
    Log(String, String, super::LogRead, u64),
    Failed(String),
}

async fn fetch(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: String,
    opts: &Options,
    to: Option<PathBuf>,
) -> Fetched {
    let name = format!("s3://{bucket}/{key}");
    let logical = super::digest::logical_key(&key).to_string();
    let Some(info) = parse_key(&logical) else {
        return Fetched::Failed(format!("{name}: not in the CloudTrail layout"));
    };
    let got = s3::get_with_metadata(client, bucket, &key, opts.max_size).await;
    let (bytes, metadata) = match got {
        Ok((bytes, _, metadata)) => (bytes, metadata),
        Err(e) => return Fetched::Failed(e.to_string()),
    };
    let size = bytes.len() as u64;
    if let Some(dir) = &to
        && let Err(e) = save(dir, &key, &bytes)
    {
        return Fetched::Failed(format!("{name}: writing the copy: {e}"));
    }
    let cap = opts.max_size;
    if info.kind == Kind::Digest {
        let Some(n) = super::digest::parse_name(&logical) else {
            return Fetched::Failed(format!("{name}: not a digest file name"));
        };
        let signature = match (
            metadata.get("signature"),
            metadata.get("signature-algorithm"),
        ) {
            (Some(s), Some(a)) if a == "SHA256withRSA" => Some(s.clone()),
            _ => None,
        };
        if let (Some(dir), Some(sig)) = (&to, &signature) {
            let sidecar = Sidecar {
                signature: sig.clone(),
                signature_algorithm: "SHA256withRSA".into(),
            };
            if let Err(e) = super::local::write_sidecar(&dir.join(&key), &sidecar) {
                return Fetched::Failed(format!("{name}: writing its signature: {e}"));
            }
        }
        let bucket = bucket.to_string();
        let done = tokio::task::spawn_blocking(move || {
            let mut d = read_digest(&mut Reader::default(), &name, &logical, &n, &bytes, cap);
            d.signature = signature;
            d.bucket = Some(bucket);
            d
        })
        .await;
        match done {
            Ok(d) => Fetched::Digest(Box::new(d), size),
            Err(e) => Fetched::Failed(format!("reading a digest failed: {e}")),
        }
    } else {
        let done = tokio::task::spawn_blocking(move || {
            let read = read_log(&mut Reader::default(), &name, &bytes, cap);
            (name, read)
        })
        .await;
        match done {
            Ok((name, read)) => Fetched::Log(name, logical, read, size),
            Err(e) => Fetched::Failed(format!("reading a log file failed: {e}")),
        }
    }
}

fn save(dir: &Path, key: &str, bytes: &[u8]) -> std::io::Result<()> {
    if key.split('/').any(|s| s == ".." || s == ".") || key.starts_with('/') {
        return Err(std::io::Error::other("key would leave the folder"));
    }
    let path = dir.join(key);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes)
}
