//! `type = "securityhub"`: imports findings into AWS Security Hub in the AWS Security Finding
//! Format (ASFF 2018-10-08) with `BatchImportFindings`, up to 100 a request.
//!
//! Each finding's ASFF `Id` is its stable id (the same on every retry and restart, see
//! [`crate::output::finding_uid`]), and its `UpdatedAt` is derived from the event, so sending it
//! again updates the same Security Hub finding to the same content: imports are idempotent. A
//! request that fails as a whole is retried by the delivery loop; findings Security Hub refuses
//! one by one are retried when the error is a limit or an internal error, and dead-lettered
//! when it is invalid input.
//!
//! The CloudTrail event is the finding's `Action` (`AWS_API_CALL`: the API, the service, the
//! caller's address or service name); the account it happened in is the resource.

use super::{Env, Kind, Sent, Sink};
use crate::alert::{Delivery, SendError};
use crate::finding::Finding;
use aws_sdk_securityhub::types::{
    Action, ActionRemoteIpDetails, AwsApiCallAction, AwsApiCallActionDomainDetails, AwsSecurityFinding,
    Partition, RecordState, Resource, Severity, SeverityLabel, Workflow, WorkflowStatus,
};
use serde::Deserialize;

/// Findings a `BatchImportFindings` request may carry.
const BATCH: usize = 100;

/// `[sinks.NAME]` with `type = "securityhub"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The account whose Security Hub receives the findings (the caller's account).
    pub account_id: String,
    /// Its region; default: the AWS settings' region.
    #[serde(default)]
    pub region: Option<String>,
    /// Default: the account's own product, `arn:PARTITION:securityhub:REGION:ACCOUNT:product/ACCOUNT/default`.
    #[serde(default)]
    pub product_arn: Option<String>,
}

impl Kind for Config {
    fn redacted(&self) -> serde_json::Value {
        serde_json::json!({"type": "securityhub", "account_id": self.account_id,
                           "region": self.region, "product_arn": self.product_arn})
    }

    fn check(&self) -> Result<(), String> {
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "account_id {:?}: expected a 12-digit AWS account id",
                self.account_id
            ));
        }
        if let Some(arn) = &self.product_arn
            && !arn.starts_with("arn:")
        {
            return Err(format!("product_arn {arn:?}: expected an ARN"));
        }
        Ok(())
    }

    fn uses_aws(&self) -> bool {
        true
    }

    fn build(&self, env: &Env<'_>) -> Result<Box<dyn Sink>, String> {
        self.check()?;
        let region = self
            .region
            .clone()
            .or_else(|| env.aws.region().map(|r| r.to_string()))
            .ok_or("no region: set region here or in the AWS settings (AWS_REGION)")?;
        let partition = partition(&region);
        let product_arn = self.product_arn.clone().unwrap_or_else(|| {
            format!(
                "arn:{}:securityhub:{region}:{a}:product/{a}/default",
                partition.as_str(),
                a = self.account_id
            )
        });
        // Retries are the delivery loop's (backoff, recorded attempts, dead letters), not the
        // SDK's hidden ones.
        let conf = aws_sdk_securityhub::config::Builder::from(env.aws)
            .region(aws_sdk_securityhub::config::Region::new(region.clone()))
            .retry_config(aws_sdk_securityhub::config::retry::RetryConfig::disabled())
            .build();
        Ok(Box::new(SecurityHub {
            client: aws_sdk_securityhub::Client::from_conf(conf),
            target: Target {
                account_id: self.account_id.clone(),
                region,
                partition,
                product_arn,
            },
        }))
    }
}

/// Where the findings go, as ASFF names it.
#[derive(Debug, Clone)]
pub struct Target {
    pub account_id: String,
    pub region: String,
    pub partition: Partition,
    pub product_arn: String,
}

fn partition(region: &str) -> Partition {
    if region.starts_with("cn-") {
        Partition::AwsCn
    } else if region.starts_with("us-gov-") {
        Partition::AwsUsGov
    } else {
        Partition::Aws
    }
}

struct SecurityHub {
    client: aws_sdk_securityhub::Client,
    target: Target,
}

/// At most `n` characters.
fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn label(s: crate::catalog::Severity) -> SeverityLabel {
    use crate::catalog::Severity::*;
    match s {
        Info => SeverityLabel::Informational,
        Low => SeverityLabel::Low,
        Medium => SeverityLabel::Medium,
        High => SeverityLabel::High,
        Critical => SeverityLabel::Critical,
    }
}

/// An RFC 3339 time as ASFF wants it (UTC, `Z`), when `t` is one.
fn asff_time(t: Option<&str>) -> Option<String> {
    let t: jiff::Timestamp = t?.parse().ok()?;
    Some(t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// The finding in ASFF. `now` (RFC 3339) stands in for an event time the record lacked.
pub fn asff(f: &Finding, count: u64, target: &Target, now: &str) -> AwsSecurityFinding {
    let event_time = asff_time(f.event_time.as_deref()).unwrap_or_else(|| now.to_string());
    let first = asff_time(f.first_time.as_deref()).unwrap_or_else(|| event_time.clone());
    let last = asff_time(f.last_time.as_deref()).unwrap_or_else(|| event_time.clone());
    let account = f.account_id.clone().unwrap_or_else(|| target.account_id.clone());
    let mut call = AwsApiCallAction::builder()
        .set_api(f.event_name.clone())
        .set_service_name(f.event_source.clone())
        .first_seen(first.clone())
        .last_seen(last.clone());
    if let Some(source) = &f.source_ip {
        call = match source.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) => call.caller_type("remoteip").remote_ip_details(
                ActionRemoteIpDetails::builder()
                    .ip_address_v4(ip.to_string())
                    .build(),
            ),
            Ok(std::net::IpAddr::V6(_)) => call.caller_type("remoteip"),
            Err(_) => call
                .caller_type("domain")
                .domain_details(AwsApiCallActionDomainDetails::builder().domain(source).build()),
        };
    }
    let mut b = AwsSecurityFinding::builder()
        .schema_version("2018-10-08")
        .id(crate::output::finding_uid(&f.identity()))
        .product_arn(&target.product_arn)
        .product_name("trailwatch")
        .company_name("trailwatch")
        .region(f.region.clone().unwrap_or_else(|| target.region.clone()))
        .generator_id(cut(&f.rule_id, 512))
        .aws_account_id(&target.account_id)
        .types(format!("Unusual Behaviors/CloudTrail/{}", f.pack))
        .first_observed_at(first)
        .last_observed_at(last.clone())
        .created_at(event_time)
        .updated_at(last)
        .severity(Severity::builder().label(label(f.severity)).build())
        .title(cut(&f.title, 256))
        .description(cut(&format!("{} {}", f.summary, f.why), 1024))
        .resources(
            Resource::builder()
                .r#type("AwsAccount")
                .id(format!("AWS::::Account:{account}"))
                .partition(target.partition.clone())
                .set_region(f.region.clone())
                .build(),
        )
        .action(
            Action::builder()
                .action_type("AWS_API_CALL")
                .aws_api_call_action(call.build())
                .build(),
        )
        .record_state(RecordState::Active)
        .workflow(Workflow::builder().status(WorkflowStatus::New).build())
        .product_fields("trailwatch/RuleId", cut(&f.rule_id, 4096))
        .product_fields("trailwatch/Pack", &f.pack)
        .product_fields("trailwatch/Location", cut(&f.location, 4096));
    if count > 1 {
        b = b.product_fields("trailwatch/Count", count.to_string());
    }
    for (key, value) in [
        ("trailwatch/EventId", &f.event_id),
        ("trailwatch/EventName", &f.event_name),
        ("trailwatch/EventSource", &f.event_source),
        ("trailwatch/Actor", &f.actor),
        ("trailwatch/ErrorCode", &f.error_code),
    ] {
        if let Some(v) = value {
            b = b.product_fields(key, cut(v, 4096));
        }
    }
    b.build()
}

/// Whether Security Hub's per-finding error is worth trying again.
fn retryable(code: &str) -> bool {
    !code.eq_ignore_ascii_case("InvalidInput") && !code.eq_ignore_ascii_case("AccessDenied")
}

#[async_trait::async_trait]
impl Sink for SecurityHub {
    async fn send(&self, d: &Delivery) -> Result<Sent, SendError> {
        let mut out = self.send_batch(std::slice::from_ref(d)).await;
        out.pop()
            .unwrap_or_else(|| Err(SendError::retry("no answer for the finding")))
    }

    async fn send_batch(&self, items: &[Delivery]) -> Vec<Result<Sent, SendError>> {
        let now = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        let findings: Vec<AwsSecurityFinding> = items
            .iter()
            .map(|d| asff(&d.finding, d.count, &self.target, &now))
            .collect();
        let ids: Vec<String> = findings
            .iter()
            .map(|f| f.id().unwrap_or_default().to_string())
            .collect();
        let answer = self
            .client
            .batch_import_findings()
            .set_findings(Some(findings))
            .send()
            .await;
        let out = match answer {
            Ok(out) => out,
            Err(e) => {
                let e = SendError::retry(crate::aws::describe(&e));
                return items.iter().map(|_| Err(e.clone())).collect();
            }
        };
        ids.iter()
            .map(|id| {
                match out.failed_findings().iter().find(|f| f.id() == Some(id)) {
                    None => Ok(Sent::Done),
                    Some(f) => {
                        let code = f.error_code().unwrap_or("unknown");
                        let why = format!(
                            "Security Hub refused finding {id}: {code}: {}",
                            f.error_message().unwrap_or_default()
                        );
                        if retryable(code) {
                            Err(SendError::retry(why))
                        } else {
                            Err(SendError::Permanent(why))
                        }
                    }
                }
            })
            .collect()
    }

    async fn send_summary(&self, items: &[Delivery], _why: &str) -> Result<Sent, SendError> {
        // Security Hub is a store of findings, not a chat: a rate-limit summary imports them
        // all, each as itself.
        let results = self.send_batch(items).await;
        results.into_iter().find(Result::is_err).unwrap_or(Ok(Sent::Done))
    }

    fn batch(&self) -> usize {
        BATCH
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            account_id: "999988887777".into(),
            region: "eu-west-1".into(),
            partition: Partition::Aws,
            product_arn: "arn:aws:securityhub:eu-west-1:999988887777:product/999988887777/default"
                .into(),
        }
    }

    #[test]
    fn a_finding_maps_to_asff_with_a_stable_id() {
        let mut f = Finding::blank("guide.iam.CreateUser");
        f.title = "IAM user created".into();
        f.event_name = Some("CreateUser".into());
        f.event_source = Some("iam.amazonaws.com".into());
        f.event_time = Some("2026-11-20T09:05:12Z".into());
        f.event_id = Some("e-1".into());
        f.account_id = Some("111122223333".into());
        f.source_ip = Some("198.51.100.7".into());
        let a = asff(&f, 1, &target(), "2027-01-01T00:00:00.000Z");
        let b = asff(&f, 1, &target(), "2028-01-01T00:00:00.000Z");
        assert_eq!(a, b, "the same finding imports the same way at any time");
        assert_eq!(a.id(), Some(crate::output::finding_uid(&f.identity()).as_str()));
        assert_eq!(a.created_at(), Some("2026-11-20T09:05:12.000Z"));
        assert_eq!(a.aws_account_id(), Some("999988887777"));
        assert_eq!(
            a.resources()[0].id(),
            Some("AWS::::Account:111122223333")
        );
        let call = a.action().unwrap().aws_api_call_action().unwrap();
        assert_eq!(call.api(), Some("CreateUser"));
        assert_eq!(
            call.remote_ip_details().unwrap().ip_address_v4(),
            Some("198.51.100.7")
        );
        assert_eq!(partition("cn-north-1"), Partition::AwsCn);
    }

    #[test]
    fn config_checks_the_account() {
        let c = |a: &str| Config {
            account_id: a.into(),
            region: None,
            product_arn: None,
        };
        assert!(c("111122223333").check().is_ok());
        assert!(c("1111").check().is_err());
        assert!(c("11112222333x").check().is_err());
    }
}
