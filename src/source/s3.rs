//! Reading CloudTrail logs from S3: listing a trail bucket with its key layout pruned by account,
//! region and date (see [`super::layout`]), and fetching objects.

use super::layout::{Plan, Scope, Step};
use crate::aws::describe;
use aws_sdk_s3::Client;
use std::collections::HashMap;

/// An S3 object found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
}

/// Why S3 could not be read, naming the bucket and key or prefix.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("s3://{bucket}/{prefix}: listing failed: {reason}")]
    List {
        bucket: String,
        prefix: String,
        reason: String,
    },
    #[error("s3://{bucket}/{key}: {reason}")]
    Get {
        bucket: String,
        key: String,
        reason: String,
    },
    #[error("s3://{bucket}/{key}: no such object (deleted after it was announced?)")]
    Missing { bucket: String, key: String },
    #[error("s3://{bucket}/{key}: {size} bytes, larger than the {cap}-byte limit (see --max-size)")]
    TooLarge {
        bucket: String,
        key: String,
        size: u64,
        cap: u64,
    },
}

/// Splits `s3://bucket/prefix` into bucket and prefix.
pub fn parse_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_string(), prefix.to_string()))
}

/// The region a bucket lives in, when S3 says (HeadBucket's `x-amz-bucket-region`).
pub async fn bucket_region(client: &Client, bucket: &str) -> Option<String> {
    match client.head_bucket().bucket(bucket).send().await {
        Ok(out) => out.bucket_region().map(str::to_string),
        Err(e) => e
            .raw_response()
            .and_then(|r| r.headers().get("x-amz-bucket-region"))
            .map(str::to_string),
    }
}

/// Lists the objects under `prefix` that `scope` wants, walking the CloudTrail layout so that
/// accounts, regions and days outside the scope are never listed. Returns the objects in key
/// order and the number of list requests made.
pub async fn list(
    client: &Client,
    bucket: &str,
    prefix: &str,
    scope: &Scope,
) -> Result<(Vec<Listed>, u64), S3Error> {
    list_plan(client, bucket, Plan::new(prefix, scope)).await
}

/// [`list`] with a plan made by the caller (e.g. one that lists digests too, see
/// [`Plan::with_kinds`]).
pub async fn list_plan(
    client: &Client,
    bucket: &str,
    mut plan: Plan,
) -> Result<(Vec<Listed>, u64), S3Error> {
    let mut found = Vec::new();
    let mut requests = 0;
    while let Some(step) = plan.next() {
        match step {
            Step::Children(p) => {
                let mut children = Vec::new();
                let mut pages = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(&p)
                    .delimiter("/")
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    requests += 1;
                    let page = page.map_err(|e| list_error(bucket, &p, &e))?;
                    children.extend(
                        page.common_prefixes()
                            .iter()
                            .filter_map(|c| c.prefix().map(str::to_string)),
                    );
                }
                plan.expand(&p, &children);
            }
            Step::Objects(p) => {
                let mut pages = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(&p)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    requests += 1;
                    let page = page.map_err(|e| list_error(bucket, &p, &e))?;
                    for o in page.contents() {
                        let Some(key) = o.key() else { continue };
                        if key.ends_with('/') || !plan.wants(key) {
                            continue;
                        }
                        found.push(Listed {
                            key: key.to_string(),
                            size: o.size().unwrap_or(0).max(0) as u64,
                            etag: o.e_tag().map(str::to_string),
                        });
                    }
                }
            }
        }
    }
    found.sort_by(|a, b| a.key.cmp(&b.key));
    found.dedup_by(|a, b| a.key == b.key);
    Ok((found, requests))
}

fn list_error(bucket: &str, prefix: &str, e: &(dyn std::error::Error + 'static)) -> S3Error {
    S3Error::List {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        reason: describe(e),
    }
}

/// Fetches a whole object (CloudTrail objects are small; the cap guards against others).
/// Returns its bytes and ETag.
pub async fn get(
    client: &Client,
    bucket: &str,
    key: &str,
    cap: u64,
) -> Result<(Vec<u8>, Option<String>), S3Error> {
    let (bytes, etag, _) = get_with_metadata(client, bucket, key, cap).await?;
    Ok((bytes, etag))
}

/// [`get`], also returning the object's user metadata (`x-amz-meta-*`, without the prefix).
pub async fn get_with_metadata(
    client: &Client,
    bucket: &str,
    key: &str,
    cap: u64,
) -> Result<(Vec<u8>, Option<String>, HashMap<String, String>), S3Error> {
    let fail = |reason: String| S3Error::Get {
        bucket: bucket.to_string(),
        key: key.to_string(),
        reason,
    };
    let out = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(e) => {
            if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                return Err(S3Error::Missing {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                });
            }
            return Err(fail(describe(&e)));
        }
    };
    let size = out.content_length().unwrap_or(0).max(0) as u64;
    // The compressed size bounds nothing about the decompressed one, but an object larger than
    // the cap even compressed is certainly refused.
    if size > cap {
        return Err(S3Error::TooLarge {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size,
            cap,
        });
    }
    let etag = out.e_tag().map(str::to_string);
    let metadata = out.metadata().cloned().unwrap_or_default();
    let body = out
        .body
        .collect()
        .await
        .map_err(|e| fail(format!("reading the body: {}", describe(&e))))?;
    Ok((body.into_bytes().to_vec(), etag, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(parse_url("s3://b"), Some(("b".into(), "".into())));
        assert_eq!(
            parse_url("s3://b/AWSLogs/1/"),
            Some(("b".into(), "AWSLogs/1/".into()))
        );
        assert_eq!(parse_url("s3://"), None);
        assert_eq!(parse_url("/tmp/x"), None);
    }
}
