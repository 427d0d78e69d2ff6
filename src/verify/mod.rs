//! `verify`: proves a trail is whole, from CloudTrail's signed, chained hourly digests.
//!
//! Pure parts, free of I/O:
//! - [`digest`]: the digest model, key names and the signing string;
//! - [`keys`]: public keys (`list-public-keys` JSON) and the RSA signature check;
//! - [`events`]: CloudTrail's own StopLogging/StartLogging/DeleteTrail/UpdateTrail events;
//! - [`chain`]: chain and gap analysis, the summary and the problems;
//! - [`report`]: the table and JSON renderings.
//!
//! Effectful edges: [`local`] reads a folder in the S3 layout (signatures from sidecars, see
//! [`SIDECAR`]), [`s3`] reads a trail bucket (signatures from object metadata) and can record
//! what it reads to a folder; [`cloudtrail`] asks CloudTrail's `ListPublicKeys` for the keys
//! when no key file is given. Both readers hand [`Collected`] to [`chain::analyse`]. Files are read in
//! parallel and each is dropped once hashed: memory grows with the number of files only by a
//! key and a hash each, never by their content.

pub mod chain;
pub mod cloudtrail;
pub mod digest;
pub mod events;
pub mod keys;
pub mod local;
pub mod report;
pub mod s3;

use crate::source::file::{InputError, Reader};
use crate::source::layout::{KeyInfo, Kind};
use chain::{DigestInput, LogInput, Range, TrailKey};
use digest::DigestName;
use events::TrailEvent;
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;

/// The sidecar holding a local digest's signature: `<digest file>` + this suffix, with the JSON
/// `{"signature": "<hex>", "signatureAlgorithm": "SHA256withRSA"}` (the two values S3 keeps as
/// `x-amz-meta-signature` and `x-amz-meta-signature-algorithm`).
pub const SIDECAR: &str = ".sig.json";

/// What to verify.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub range: Range,
    /// Largest decompressed size read from one file.
    pub max_size: u64,
}

impl Options {
    fn account_region_ok(&self, account: &str, region: &str) -> bool {
        (self.accounts.is_empty() || self.accounts.iter().any(|a| a == account))
            && (self.regions.is_empty() || self.regions.iter().any(|r| r == region))
    }

    /// Digests whose hour overlaps the range.
    fn wants_digest(&self, n: &DigestName) -> bool {
        let hour = SignedDuration::from_hours(1);
        self.account_region_ok(&n.account, &n.region)
            && self.range.since.is_none_or(|s| n.end > s)
            && self.range.until.is_none_or(|u| n.end < u + hour)
    }

    /// Log files of the accounts and regions wanted, dated within the range ± 1 day (their
    /// folder is the delivery date).
    fn wants_log(&self, k: &KeyInfo) -> bool {
        let day = |t: Timestamp| jiff::tz::Offset::UTC.to_datetime(t).date();
        k.kind == Kind::Log
            && self.account_region_ok(&k.account, &k.region)
            && self
                .range
                .since
                .is_none_or(|s| day(s).yesterday().is_ok_and(|d| k.date >= d))
            && self
                .range
                .until
                .is_none_or(|u| day(u).tomorrow().is_ok_and(|d| k.date <= d))
    }
}

/// Everything read, ready for [`chain::analyse`].
#[derive(Debug, Default)]
pub struct Collected {
    pub digests: Vec<DigestInput>,
    /// By key from `AWSLogs/` on.
    pub logs: HashMap<String, LogInput>,
    pub events: Vec<TrailEvent>,
    /// Inputs that could not be listed or read at all (named, with the reason).
    pub unreadable: Vec<String>,
    /// Bytes read (as stored) and files read.
    pub bytes: u64,
    pub files: u64,
    /// Files passed over: not in the CloudTrail layout, Insights, out of scope.
    pub passed_over: u64,
}

impl Collected {
    fn add_log(&mut self, key: String, log: LogInput, events: Vec<TrailEvent>, stored: u64) {
        self.files += 1;
        self.bytes += stored;
        self.events.extend(events);
        self.logs.insert(key, log);
    }
}

/// Hashes one log file's content (uncompressed) and finds the trail events in it.
fn read_log(
    reader: &mut Reader,
    name: &str,
    info: &KeyInfo,
    stored: &[u8],
    cap: u64,
) -> (LogInput, Vec<TrailEvent>) {
    let (hash, found) = match reader.decode(name, stored, cap) {
        Ok(content) => (Ok(digest::hex_sha256(content)), events::find(content)),
        Err(e) => (Err(reason(e)), Vec::new()),
    };
    let log = LogInput {
        name: name.to_string(),
        account: info.account.clone(),
        region: info.region.clone(),
        hash,
    };
    (log, found)
}

/// Parses one digest file as stored.
fn read_digest(
    reader: &mut Reader,
    name: &str,
    key: &str,
    n: &DigestName,
    stored: &[u8],
    cap: u64,
) -> DigestInput {
    let digest = reader
        .decode(name, stored, cap)
        .map_err(reason)
        .and_then(|c| digest::parse(c).map_err(|e| e.to_string()));
    DigestInput {
        name: name.to_string(),
        key: key.to_string(),
        trail: TrailKey {
            trail: n.trail.clone(),
            account: n.account.clone(),
            region: n.region.clone(),
        },
        backfill: n.backfill,
        end: n.end,
        digest,
        signature: None,
        bucket: None,
    }
}

/// An input error without the name it starts with (the report names the object itself).
fn reason(e: InputError) -> String {
    match e {
        InputError::Io { source, .. } => source.to_string(),
        InputError::TooLarge { cap, .. } => {
            format!("larger than the {cap}-byte limit when decompressed (see --max-size)")
        }
        InputError::Gzip { .. } => "truncated or corrupt gzip data".into(),
    }
}

/// The signature a sidecar records.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sidecar {
    pub signature: String,
    pub signature_algorithm: String,
}
