//! AWS client configuration shared by every AWS caller (S3 and SQS sources, the SNS alert sink): the
//! standard credential chain (environment, profile, SSO, web identity, container and instance
//! roles), with the profile, region and endpoint the user chose.

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// How to reach AWS, from flags, environment or config.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    /// A custom endpoint (LocalStack, moto, a VPC endpoint). `AWS_ENDPOINT_URL` also works.
    pub endpoint_url: Option<String>,
}

/// Loads the SDK configuration. Without a region from flags, environment or profile, requests
/// go to us-east-1 (S3 buckets elsewhere are found through their region header).
pub async fn sdk_config(opts: &AwsOptions) -> SdkConfig {
    // No call may hang forever (a stuck GET would hold a worker and shutdown): every attempt has
    // a deadline well above a 20 s long poll or a large object's download.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .operation_attempt_timeout(std::time::Duration::from_secs(300))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &opts.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(e) = &opts.endpoint_url {
        loader = loader.endpoint_url(e);
    }
    let conf = loader.load().await;
    if conf.region().is_some() {
        return conf;
    }
    conf.into_builder()
        .region(Region::from_static("us-east-1"))
        .build()
}

/// Whether S3 requests go to a custom endpoint, however it was set: `--endpoint-url` or the
/// configuration's `endpoint_url`, `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`, or a profile's
/// `endpoint_url` or `services` section. Then S3 uses path-style addressing: a host name such as
/// `http://minio:9000` cannot take the bucket as a subdomain (`bucket.minio` does not resolve).
pub fn custom_endpoint(conf: &SdkConfig) -> bool {
    conf.endpoint_url().is_some() || s3_endpoint(conf).is_some()
}

/// The S3 endpoint from the environment or the profile, looked up as the S3 client does.
fn s3_endpoint(conf: &SdkConfig) -> Option<String> {
    use aws_types::service_config::ServiceConfigKey;
    let key = ServiceConfigKey::builder()
        .service_id("S3")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    conf.service_config()?.load_config(key)
}

/// An S3 client; `region` overrides the configured one (for buckets in another region).
pub fn s3_client(conf: &SdkConfig, region: Option<&str>) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(conf).force_path_style(custom_endpoint(conf));
    if let Some(r) = region {
        b = b.region(Region::new(r.to_string()));
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

/// A CloudTrail client for `region` (digest public keys are per region).
pub fn cloudtrail_client(conf: &SdkConfig, region: &str) -> aws_sdk_cloudtrail::Client {
    let b = aws_sdk_cloudtrail::config::Builder::from(conf).region(Region::new(region.to_string()));
    aws_sdk_cloudtrail::Client::from_conf(b.build())
}

/// An SQS client; `region` overrides the configured one (taken from the queue URL).
pub fn sqs_client(conf: &SdkConfig, region: Option<&str>) -> aws_sdk_sqs::Client {
    let mut b = aws_sdk_sqs::config::Builder::from(conf);
    if let Some(r) = region {
        b = b.region(Region::new(r.to_string()));
    }
    aws_sdk_sqs::Client::from_conf(b.build())
}

/// The region in a standard SQS queue URL (`https://sqs.eu-west-1.amazonaws.com/123/q`).
pub fn queue_region(url: &str) -> Option<&str> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let mut parts = host.split('.');
    match (parts.next(), parts.next()) {
        (Some("sqs"), Some(r)) if r != "amazonaws" => Some(r),
        (Some(r), Some("queue")) => Some(r),
        _ => None,
    }
}

/// An SDK error with its whole chain of causes, on one line (the SDK's own `Display` only says
/// "service error").
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cause = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_from_queue_urls() {
        assert_eq!(
            queue_region("https://sqs.eu-west-1.amazonaws.com/111122223333/ct"),
            Some("eu-west-1")
        );
        assert_eq!(
            queue_region("https://eu-west-2.queue.amazonaws.com/111122223333/ct"),
            Some("eu-west-2")
        );
        assert_eq!(queue_region("http://127.0.0.1:5055/123456789012/q"), None);
    }
}
