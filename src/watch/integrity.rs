//! The trail itself, while watching: digests are read as they arrive (S3 notifications and
//! folders), their signatures checked with CloudTrail's public keys, and every digest and log
//! file handed to the pure [`Tracker`], whose alarms become findings of the `integrity` pack,
//! routed and delivered like any other. The tracker's state is stored with each commit.
//!
//! Keys come from `--public-keys` files, or, when an AWS source is watched, from CloudTrail's
//! `ListPublicKeys` in the digest's region (asked again at most every 15 minutes for a key not
//! yet known). Without either, signatures are not checked; the chain, lateness and silence are.

use super::{Origin, Shared};
use crate::aws::AwsOptions;
use crate::catalog::Severity;
use crate::finding::Finding;
use crate::rules::Rule;
use crate::source::file::Reader;
use crate::source::layout::{self, Kind};
use crate::state::Tracked;
use crate::verify::digest::{self, Digest, DigestName};
use crate::verify::keys::{PublicKeys, SignatureError};
use crate::verify::track::{self, Activity, Alarm, Chain, ChainKey, Signature, Timing, Tracker};
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What `watch` checks of the trail itself.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Read digests as they arrive (otherwise they are passed over).
    pub digests: bool,
    pub timing: Timing,
    /// `list-public-keys` JSON files.
    pub public_keys: Vec<PathBuf>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            digests: true,
            timing: Timing {
                late_after: 3600,
                silent_after: Some(2 * 3600),
                usual_hours: 3,
            },
            public_keys: Vec::new(),
        }
    }
}

/// Public keys, and when each region's were last asked for.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    keys: PublicKeys,
    /// May ask CloudTrail (an AWS source is watched and no key file was given).
    may_ask: bool,
    asked: HashMap<String, Instant>,
}

const ASK_AGAIN: Duration = Duration::from_secs(15 * 60);

impl Keys {
    /// The keys of `files`; with none, CloudTrail is asked when `aws` is true.
    pub(crate) fn load(files: &[PathBuf], aws: bool) -> Result<Keys, String> {
        let mut keys = PublicKeys::default();
        for f in files {
            let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
            keys.add_json(&f.display().to_string(), &text)
                .map_err(|e| e.to_string())?;
        }
        Ok(Keys {
            may_ask: files.is_empty() && aws,
            keys,
            asked: HashMap::new(),
        })
    }

    fn checks(&self) -> bool {
        self.may_ask || !self.keys.is_empty()
    }
}

/// A digest read by a worker, for the committer.
#[derive(Debug)]
pub(crate) struct DigestSeen {
    /// From `AWSLogs/` on.
    pub key: String,
    pub name: DigestName,
    pub digest: Result<Digest, String>,
    pub signature: Option<String>,
    pub check: Signature,
}

fn logical(origin: &Origin) -> Option<String> {
    let key = match origin {
        Origin::S3 { key, .. } => key.clone(),
        Origin::File(p) => p.to_str()?.replace('\\', "/"),
        Origin::Inline(_) => return None,
    };
    Some(digest::logical_key(&key).to_string())
}

/// The digest an input is, by its key or path.
pub(crate) fn digest_name(origin: &Origin) -> Option<(String, DigestName)> {
    let key = logical(origin)?;
    if !key.contains("/CloudTrail-Digest/") {
        return None;
    }
    let name = digest::parse_name(&key)?;
    Some((key, name))
}

/// Reads a digest: `stored` as fetched, with the signature S3 keeps in its metadata, or, for a
/// file, the one in its sidecar.
pub(crate) async fn read(
    shared: &Shared,
    origin: &Origin,
    key: String,
    name: DigestName,
    stored: &[u8],
    metadata: Option<&HashMap<String, String>>,
) -> DigestSeen {
    let mut reader = Reader::default();
    let digest = reader
        .decode(&key, stored, shared.settings.scan.max_size)
        .map_err(|e| e.to_string())
        .and_then(|c| digest::parse(c).map_err(|e| e.to_string()));
    let (signature, from_s3) = match (origin, metadata) {
        (Origin::S3 { .. }, Some(m)) => (
            match (m.get("signature"), m.get("signature-algorithm")) {
                (Some(s), Some(a)) if a == "SHA256withRSA" => Some(s.clone()),
                _ => None,
            },
            true,
        ),
        (Origin::File(p), _) => (crate::verify::local::sidecar(p), false),
        _ => (None, false),
    };
    let check = match (&digest, &signature) {
        (Err(_), _) => Signature::NotChecked,
        (Ok(_), None) if from_s3 => Signature::Missing,
        (Ok(_), None) => Signature::NotChecked,
        (Ok(d), Some(sig)) => check(shared, &name, d, sig).await,
    };
    DigestSeen {
        key,
        name,
        digest,
        signature,
        check,
    }
}

async fn check(shared: &Shared, name: &DigestName, d: &Digest, sig: &str) -> Signature {
    let mut keys = shared.keys.lock().await;
    if !keys.checks() {
        return Signature::NotChecked;
    }
    let mut result = keys
        .keys
        .verify(&d.fingerprint, d.signing_string.as_bytes(), sig);
    if matches!(result, Err(SignatureError::UnknownKey(_)))
        && keys.may_ask
        && keys
            .asked
            .get(&name.region)
            .is_none_or(|t| t.elapsed() >= ASK_AGAIN)
    {
        keys.asked.insert(name.region.clone(), Instant::now());
        let day = jiff::SignedDuration::from_hours(24);
        let periods = BTreeMap::from([(
            name.region.clone(),
            (
                d.start.checked_sub(day).unwrap_or(d.start),
                d.end.checked_add(day).unwrap_or(d.end),
            ),
        )]);
        let opts: &AwsOptions = &shared.settings.aws;
        for e in crate::verify::cloudtrail::fetch(opts, &periods, &mut keys.keys).await {
            tracing::warn!("{e}; digest signatures in {} not checked", name.region);
        }
        result = keys
            .keys
            .verify(&d.fingerprint, d.signing_string.as_bytes(), sig);
    }
    match result {
        Ok(()) => Signature::Valid,
        Err(SignatureError::UnknownKey(k)) if keys.may_ask => {
            tracing::warn!(
                "no CloudTrail public key {k} for {}; not checked",
                name.region
            );
            Signature::NotChecked
        }
        Err(e) => Signature::Invalid(e.to_string()),
    }
}

/// The account, region and hour of a log file, by its key.
pub(crate) fn log_file(origin: &Origin) -> Option<(String, String, Option<Timestamp>, String)> {
    let key = logical(origin)?;
    let info = layout::parse_key(&key)?;
    (info.kind == Kind::Log).then(|| {
        let hour = digest::log_time(&key);
        (info.account, info.region, hour, key)
    })
}

/// The tracker with what the store holds.
pub(crate) fn restore(timing: Timing, rows: Vec<Tracked>) -> Tracker {
    let mut t = Tracker::new(timing, Timestamp::now().as_second());
    let mut chains = Vec::new();
    let mut activity = Vec::new();
    for row in rows {
        match row.kind.as_str() {
            "chain" => match serde_json::from_str::<(ChainKey, Chain)>(&row.body) {
                Ok(c) => chains.push(c),
                Err(e) => tracing::warn!(
                    "stored digest chain {} unreadable ({e}); started afresh",
                    row.id
                ),
            },
            "activity" => match serde_json::from_str::<((String, String), Activity)>(&row.body) {
                Ok(a) => activity.push(a),
                Err(e) => tracing::warn!(
                    "stored log activity {} unreadable ({e}); started afresh",
                    row.id
                ),
            },
            _ => {}
        }
    }
    t.restore(chains, activity);
    t
}

/// The rows to store for what changed.
pub(crate) fn changed(t: &mut Tracker) -> Vec<Tracked> {
    let (chains, activity) = t.changed();
    let mut out = Vec::with_capacity(chains.len() + activity.len());
    for c in chains {
        out.push(Tracked {
            kind: "chain".into(),
            id: format!("{}/{}/{}", c.0.trail, c.0.account, c.0.region),
            body: serde_json::to_string(&c).unwrap_or_default(),
        });
    }
    for a in activity {
        out.push(Tracked {
            kind: "activity".into(),
            id: format!("{}/{}", a.0.0, a.0.1),
            body: serde_json::to_string(&a).unwrap_or_default(),
        });
    }
    out
}

/// The integrity rules: what each alarm is called and why it matters.
fn rule(id: &str) -> Rule {
    let (title, severity, description, why, attack): (&str, Severity, &str, &str, &[&str]) =
        match id {
            "digest-unreadable" => (
                "CloudTrail digest file unreadable",
                Severity::High,
                "A digest file arrived that is not a valid CloudTrail digest.",
                "Digests prove which log files CloudTrail delivered. One that cannot be read proves nothing for its hour: check who wrote it (S3 server access logs, data events on the trail bucket) and run `trailwatch verify` over that day.",
                &["T1565.001"],
            ),
            "digest-signature-invalid" => (
                "CloudTrail digest signature does not verify",
                Severity::Critical,
                "A digest's RSA signature does not hold with CloudTrail's public key: the digest was edited or forged.",
                "Only CloudTrail can sign digests. A digest that does not verify means someone with write access to the trail bucket changed it, usually to hide edited or deleted log files. Treat the hour's logs as untrusted, find who wrote the object, and run `trailwatch verify`.",
                &["T1565.001", "T1070"],
            ),
            "digest-signature-missing" => (
                "CloudTrail digest without its signature",
                Severity::High,
                "A digest object in S3 has no signature metadata (x-amz-meta-signature).",
                "CloudTrail always stores a digest's signature in the object's metadata; an object without it was written or copied by someone else. Find who wrote it and verify the day with `trailwatch verify`.",
                &["T1565.001"],
            ),
            "digest-chain-broken" => (
                "CloudTrail digest chain broken",
                Severity::Critical,
                "A digest does not join the digest before it: the previous digest's hash, signature or period differs from what arrived, or it never arrived.",
                "Each digest names the one before it with its hash and signature. A broken link means a digest was replaced, edited or deleted: the log files of the hours around it may have been tampered with. Run `trailwatch verify` over those days.",
                &["T1070", "T1565.001"],
            ),
            "digest-chain-restarted" => (
                "CloudTrail digest chain restarted",
                Severity::Medium,
                "A starting digest arrived for a trail that already had a chain: logging or log file validation was off for a while.",
                "A chain starts again after StopLogging/StartLogging or after log file validation is turned off and on. Check who did it (the CloudTrail events of that time) and whether the gap was planned.",
                &["T1562.008"],
            ),
            "digest-late" => (
                "CloudTrail digest overdue",
                Severity::High,
                "No digest has arrived for an hour past the last one and the margin: the trail may have stopped logging, been deleted, or its delivery broke.",
                "CloudTrail delivers a digest every hour, even when there were no events. None arriving means logging stopped (StopLogging, DeleteTrail), validation was turned off, the bucket policy or notifications changed, or delivery failed. Check the trail's status (`aws cloudtrail get-trail-status`).",
                &["T1562.008"],
            ),
            "digest-resumed" => (
                "CloudTrail digests arrive again",
                Severity::Low,
                "A digest arrived for a trail that was reported overdue.",
                "Delivery resumed. Check the period without digests with `trailwatch verify` and look for StopLogging or trail changes in it.",
                &[],
            ),
            "trail-silent" => (
                "CloudTrail log files stopped arriving",
                Severity::High,
                "An account and region that usually sends log files has sent none for a while.",
                "CloudTrail writes a log file every few minutes while anything happens. Silence from a usually busy account and region means logging stopped, the trail's selectors or destination changed, or delivery to this watcher broke. Check the trail's status and recent CloudTrail events.",
                &["T1562.008"],
            ),
            "trail-resumed" => (
                "CloudTrail log files arrive again",
                Severity::Low,
                "Log files arrive again from an account and region reported silent.",
                "Delivery resumed. Look at what happened in the silent period (and whether logging was stopped on purpose).",
                &[],
            ),
            _ => ("", Severity::Info, "", "", &[]),
        };
    Rule {
        id: format!("integrity.{id}"),
        pack: "integrity".into(),
        title: title.into(),
        severity,
        description: description.into(),
        why: Some(why.into()),
        references: vec!["https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-intro.html".into()],
        attack: attack.iter().map(|s| s.to_string()).collect(),
        controls: vec!["CloudTrail.4".into()],
        service: Some("cloudtrail".into()),
        sources: Vec::new(),
        names: Vec::new(),
        cond: None,
        suppress: Vec::new(),
        dedup: None,
        threshold: None,
        keep_on_failure: false,
        lower_when: Vec::new(),
        tests: Vec::new(),
        origin: Default::default(),
    }
}

/// Every rule id of the `integrity` pack.
#[cfg(test)]
const RULES: &[&str] = &[
    "digest-unreadable",
    "digest-signature-invalid",
    "digest-signature-missing",
    "digest-chain-broken",
    "digest-chain-restarted",
    "digest-late",
    "digest-resumed",
    "trail-silent",
    "trail-resumed",
];

/// The finding an alarm raises, at `now`.
pub(crate) fn finding(alarm: &Alarm, now: i64) -> Finding {
    let at = |s: i64| Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH);
    let t = track::time;
    let chain_of = |c: &ChainKey| (c.account.clone(), c.region.clone());
    let (id, occurrence, time, (account, region), summary, location) = match alarm {
        Alarm::Unreadable { chain, key, reason } => (
            "digest-unreadable",
            key.clone(),
            now,
            chain_of(chain),
            format!("The digest of {chain} cannot be used: {reason}."),
            key.clone(),
        ),
        Alarm::SignatureInvalid { chain, key, reason } => (
            "digest-signature-invalid",
            key.clone(),
            now,
            chain_of(chain),
            format!("The digest of {chain} does not verify: {reason}."),
            key.clone(),
        ),
        Alarm::SignatureMissing { chain, key } => (
            "digest-signature-missing",
            key.clone(),
            now,
            chain_of(chain),
            format!("The digest of {chain} came without its signature metadata."),
            key.clone(),
        ),
        Alarm::ChainBroken { chain, key, reason } => (
            "digest-chain-broken",
            key.clone(),
            now,
            chain_of(chain),
            format!("The digest chain of {chain} is broken at this digest: {reason}."),
            key.clone(),
        ),
        Alarm::ChainRestarted {
            chain,
            key,
            since,
            start,
        } => (
            "digest-chain-restarted",
            key.clone(),
            *start,
            chain_of(chain),
            format!(
                "The digest chain of {chain} started again at {}; the previous chain ended at {} ({:.1} h without digests).",
                t(*start),
                t(*since),
                (*start - *since) as f64 / 3600.0
            ),
            key.clone(),
        ),
        Alarm::DigestLate {
            chain,
            last_end,
            due,
        } => (
            "digest-late",
            format!("{chain}@{due}"),
            *due,
            chain_of(chain),
            format!(
                "No digest of {chain} since the one ending {}; the next was due by {}.",
                t(*last_end),
                t(*due)
            ),
            format!("{}/{}/{}", chain.trail, chain.account, chain.region),
        ),
        Alarm::DigestResumed { chain, key, due } => (
            "digest-resumed",
            format!("{chain}@{due}"),
            now,
            chain_of(chain),
            format!(
                "Digests of {chain} arrive again ({} overdue since {}).",
                key.rsplit('/').next().unwrap_or(key),
                t(*due)
            ),
            key.clone(),
        ),
        Alarm::Silent {
            account,
            region,
            last_at,
            since,
        } => (
            "trail-silent",
            format!("{account}/{region}@{since}"),
            *since,
            (account.clone(), region.clone()),
            format!(
                "No CloudTrail log file from {account} {region} since {} (it usually sends them).",
                t(*last_at)
            ),
            format!("{account}/{region}"),
        ),
        Alarm::Resumed {
            account,
            region,
            silent_since,
            key,
        } => (
            "trail-resumed",
            format!("{account}/{region}@{silent_since}"),
            now,
            (account.clone(), region.clone()),
            format!(
                "CloudTrail log files from {account} {region} arrive again (reported silent at {}).",
                t(*silent_since)
            ),
            key.clone(),
        ),
    };
    Finding::about_trail(
        &rule(id),
        format!("integrity:{id}:{occurrence}"),
        at(time),
        (&account, &region),
        summary,
        location,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_written_and_its_ids_are_known() {
        for id in RULES {
            let r = rule(id);
            assert!(!r.title.is_empty() && !r.description.is_empty(), "{id}");
            for a in &r.attack {
                crate::rules::attack::normalise(a).unwrap();
            }
        }
    }

    #[test]
    fn findings_are_one_per_occurrence() {
        let chain = ChainKey {
            trail: "main".into(),
            account: "111122223333".into(),
            region: "eu-west-1".into(),
        };
        let late = |due| Alarm::DigestLate {
            chain: chain.clone(),
            last_end: 0,
            due,
        };
        let a = finding(&late(7200), 9000);
        assert_eq!(a.identity(), finding(&late(7200), 9999).identity());
        assert_ne!(a.identity(), finding(&late(10800), 9999).identity());
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.account_id.as_deref(), Some("111122223333"));
        assert!(a.summary.contains("trail main"), "{}", a.summary);
    }
}
