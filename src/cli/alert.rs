//! `trailwatch alert test SINK` and the sending behind `scan --alert`.

use super::UsageError;
use crate::alert::config::Alerts;
use crate::alert::secret::scrub;
use crate::alert::sink::{Env, Sink};
use crate::alert::{Delivery, SendError};
use crate::aws::{self, AwsOptions};
use crate::config::Config;
use crate::finding::Finding;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Subcommand)]
pub enum AlertCommand {
    /// Send a sample finding through one configured sink and report the outcome.
    Test {
        /// The sink's name (`[sinks.NAME]` in the configuration).
        sink: String,
        /// Configuration file.
        #[arg(long, env = "TRAILWATCH_CONFIG", value_name = "FILE")]
        config: PathBuf,
    },
}

/// Loads the alert section of a configuration file.
pub fn load(path: &std::path::Path) -> Result<(Alerts, AwsOptions)> {
    let file = Config::load(path).map_err(|e| UsageError(e.to_string()))?;
    let alerts = file.alerts();
    let aws = AwsOptions {
        profile: file.aws.profile.clone(),
        region: file.aws.region.clone(),
        endpoint_url: file.aws.endpoint_url.clone(),
    };
    Ok((alerts, aws))
}

/// A realistic finding for `alert test`.
fn sample() -> Finding {
    let mut f = crate::alert::render::sample_finding();
    f.title = "CloudTrail trail logging stopped (test alert from trailwatch)".into();
    f.event_time = Some(
        jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
    );
    f.event_id = Some("00000000-0000-4000-8000-000000000000".into());
    f.account_id = Some("111122223333".into());
    f.actor = Some("arn:aws:iam::111122223333:user/trailwatch-test".into());
    f.source_ip = Some("192.0.2.10".into());
    f.user_agent = Some("trailwatch alert test".into());
    f.summary =
        "This is a test alert sent by `trailwatch alert test`; no trail was stopped.".into();
    f.why = "If you can read this, the sink works.".into();
    f.location = "trailwatch alert test".into();
    f
}

/// Sends with a few attempts, honouring Retry-After (up to 30 s).
async fn send_retrying(name: &str, target: &dyn Sink, d: &Delivery) -> Result<(), SendError> {
    let mut attempt = 0;
    loop {
        match target.send(d).await {
            Ok(_) => return Ok(()),
            Err(SendError::Retry { reason, after }) if attempt < 3 => {
                let wait = after
                    .unwrap_or_else(|| {
                        crate::alert::deliver::backoff(attempt, 0, Duration::from_secs(1))
                    })
                    .min(Duration::from_secs(30));
                eprintln!(
                    "trailwatch: {name}: {}; retrying in {}s",
                    scrub(&reason),
                    wait.as_secs()
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Builds a sink's sender.
fn build(
    name: &str,
    kind: &dyn crate::alert::sink::Kind,
    aws: &aws_config::SdkConfig,
) -> Result<Box<dyn Sink>> {
    kind.build(&Env { aws })
        .map_err(|e| anyhow::anyhow!("sink {name}: {e}"))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn run(cmd: AlertCommand) -> Result<ExitCode> {
    let AlertCommand::Test { sink, config } = cmd;
    let (alerts, aws_opts) = load(&config)?;
    let Some(s) = alerts.sinks.iter().find(|s| s.name == sink) else {
        let names: Vec<&str> = alerts.sinks.iter().map(|s| s.name.as_str()).collect();
        return Err(UsageError(format!(
            "no sink '{sink}' (configured: {})",
            names.join(", ")
        ))
        .into());
    };
    let rt = runtime()?;
    let outcome = rt.block_on(async {
        let conf = aws::sdk_config(&aws_opts).await;
        let target = build(&s.name, s.config.kind(), &conf)?;
        let d = Delivery {
            finding: sample(),
            idempotency_key: format!("trailwatch-test-{}", jiff::Timestamp::now().as_second()),
            count: 1,
        };
        anyhow::Ok(send_retrying(&s.name, target.as_ref(), &d).await)
    })?;
    let mut out = std::io::stdout().lock();
    match outcome {
        Ok(()) => {
            writeln!(out, "{sink}: delivered")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            writeln!(out, "{sink}: failed: {}", scrub(&e.to_string()))?;
            Ok(ExitCode::from(1))
        }
    }
}

/// `scan --alert`: sends findings through the routes. Returns (delivered, failed) deliveries.
pub fn send_findings(config: &std::path::Path, findings: &[Finding]) -> Result<(usize, usize)> {
    let (alerts, aws_opts) = load(config)?;
    let rt = runtime()?;
    rt.block_on(async {
        let conf = aws::sdk_config(&aws_opts).await;
        let mut targets = Vec::new();
        for s in &alerts.sinks {
            targets.push((s.name.as_str(), build(&s.name, s.config.kind(), &conf)?));
        }
        let (mut ok, mut bad) = (0, 0);
        for f in findings {
            for name in alerts.router.sinks(f) {
                let Some((_, t)) = targets.iter().find(|(n, _)| *n == name) else {
                    continue;
                };
                let d = Delivery {
                    finding: f.clone(),
                    idempotency_key: crate::alert::idempotency_key(&f.identity()),
                    count: f.count.unwrap_or(1),
                };
                match send_retrying(&name, t.as_ref(), &d).await {
                    Ok(()) => ok += 1,
                    Err(e) => {
                        let e = scrub(&e.to_string());
                        eprintln!("trailwatch: error: {name}: {}: {e}", f.rule_id);
                        bad += 1;
                    }
                }
            }
        }
        anyhow::Ok((ok, bad))
    })
}
