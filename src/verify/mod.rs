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
pub mod track;

use crate::source::file::{InputError, Reader};
use crate::source::layout::{KeyInfo, Kind};
use chain::{DigestInput, LogInput, Range, TrailKey};
use digest::DigestName;
use digest::Sha256Hash;
use events::TrailEvent;
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use std::sync::Arc;

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
    /// The distinct name prefixes of the log files (folders, buckets), shared by their files.
    prefixes: HashMap<Box<str>, Arc<str>>,
}

/// One log file as read: its hash or why not, and the trail events found in it.
pub(crate) type LogRead = (Result<Sha256Hash, String>, Vec<TrailEvent>);

impl Collected {
    /// Takes in one log file, known to users as `prefix` + `key` (its `AWSLogs/...` key).
    fn add_log(&mut self, prefix: &str, key: String, read: LogRead, stored: u64) {
        self.files += 1;
        self.bytes += stored;
        let (hash, events) = read;
        self.events.extend(events);
        let prefix = match self.prefixes.get(prefix) {
            Some(p) => Arc::clone(p),
            None => {
                let p: Arc<str> = Arc::from(prefix);
                self.prefixes.insert(prefix.into(), Arc::clone(&p));
                p
            }
        };
        let hash = hash.map_err(String::into_boxed_str);
        self.logs.insert(key, LogInput { prefix, hash });
    }
}

/// The part of `name` before `key`, which it ends with (else all of it: then the name shown
/// repeats the key, and nothing is lost).
fn prefix_of<'a>(name: &'a str, key: &str) -> &'a str {
    name.strip_suffix(key).unwrap_or(name)
}

/// Hashes one log file's content (uncompressed) and finds the trail events in it.
fn read_log(reader: &mut Reader, name: &str, stored: &[u8], cap: u64) -> LogRead {
    match reader.decode(name, stored, cap) {
        Ok(content) => (Ok(Sha256Hash::of(content)), events::find(content)),
        Err(e) => (Err(reason(e)), Vec::new()),
    }
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
