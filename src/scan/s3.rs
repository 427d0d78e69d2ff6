//! Scanning S3: list a trail bucket (pruned by account, region and date), fetch objects
//! concurrently, scan them on the blocking pool, and hand the reports back in key order, so the
//! output is the same as for the same files on disk.

use crate::aws::{self, AwsOptions};
use crate::engine::{Engine, Filter};
use crate::scan::{self, Options, Report};
use crate::source::layout::Scope;
use crate::source::s3;
use futures_util::StreamExt;
use std::sync::Arc;

/// Objects fetched at once.
const CONCURRENCY: usize = 16;

/// What listing found, for the summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct Listing {
    pub objects: u64,
    pub requests: u64,
    pub digests: u64,
}

/// Scans every `s3://bucket/prefix` URL, calling `on_report` for each object in key order.
/// A URL that cannot be listed is reported as an unreadable input named after it.
pub async fn scan(
    urls: &[String],
    aws_opts: &AwsOptions,
    scope: &Scope,
    engine: Arc<Engine>,
    filter: Arc<Filter>,
    opts: &Options,
    mut on_report: impl FnMut(Report),
) -> Listing {
    let conf = aws::sdk_config(aws_opts).await;
    let mut listing = Listing::default();
    for url in urls {
        let Some((bucket, prefix)) = s3::parse_url(url) else {
            on_report(Report {
                name: url.clone(),
                error: Some("not an s3://bucket/prefix URL".into()),
                ..Report::default()
            });
            continue;
        };
        // Buckets answer only in their own region; ask where this one lives.
        let probe = aws::s3_client(&conf, None);
        let region = if aws::custom_endpoint(&conf) || aws_opts.region.is_some() {
            None
        } else {
            s3::bucket_region(&probe, &bucket).await
        };
        let client = aws::s3_client(&conf, region.as_deref());
        let objects = match s3::list(&client, &bucket, &prefix, scope).await {
            Ok((objects, requests)) => {
                listing.requests += requests;
                objects
            }
            Err(e) => {
                on_report(Report {
                    name: url.clone(),
                    error: Some(e.to_string()),
                    ..Report::default()
                });
                continue;
            }
        };
        listing.objects += objects.len() as u64;
        let mut reports = futures_util::stream::iter(objects)
            .map(|o| {
                let (client, bucket) = (client.clone(), bucket.clone());
                let (engine, filter, opts) = (engine.clone(), filter.clone(), opts.clone());
                async move {
                    let name = format!("s3://{bucket}/{}", o.key);
                    match s3::get(&client, &bucket, &o.key, opts.max_size).await {
                        Ok((bytes, _)) => tokio::task::spawn_blocking(move || {
                            scan::scan_blob(&name, &bytes, &engine, &filter, &opts)
                        })
                        .await
                        .unwrap_or_else(|e| Report {
                            error: Some(format!("scan failed: {e}")),
                            ..Report::default()
                        }),
                        Err(e) => Report {
                            name,
                            error: Some(strip_name(&e.to_string(), &bucket, &o.key)),
                            ..Report::default()
                        },
                    }
                }
            })
            .buffered(CONCURRENCY);
        while let Some(report) = reports.next().await {
            if report.digest {
                listing.digests += 1;
            }
            on_report(report);
        }
    }
    listing
}

/// The reason part of an S3 error (the object's name is shown separately).
fn strip_name(message: &str, bucket: &str, key: &str) -> String {
    message
        .strip_prefix(&format!("s3://{bucket}/{key}: "))
        .unwrap_or(message)
        .to_string()
}
