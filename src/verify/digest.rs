//! The digest model: what one CloudTrail digest file says, what its key says, and the string
//! CloudTrail signs for it. Pure: bytes in, values out.
//!
//! The format follows AWS's "CloudTrail digest file structure" and "Custom implementations of
//! CloudTrail log file integrity validation" pages: a digest is gzip-compressed JSON; its hash
//! and the hashes of the log files it lists are SHA-256 over the *uncompressed* content, in hex;
//! the signature (RSA PKCS#1 v1.5 with SHA-256, hex) covers
//!
//! ```text
//! digestEndTime \n digestS3Bucket/digestS3Object \n hex(sha256(digest)) \n previousDigestSignature
//! ```
//!
//! where a starting digest (one with no previous digest) has the literal `null` in the last
//! place, as AWS's own validator writes it.

use jiff::Timestamp;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// The fields of a digest file that verification reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestFile {
    pub aws_account_id: Option<String>,
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    pub digest_signature_algorithm: Option<String>,
    pub previous_digest_s3_bucket: Option<String>,
    pub previous_digest_s3_object: Option<String>,
    pub previous_digest_hash_value: Option<String>,
    pub previous_digest_hash_algorithm: Option<String>,
    pub previous_digest_signature: Option<String>,
    #[serde(default)]
    pub log_files: Vec<LogEntry>,
}

/// One log file a digest lists.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub s3_bucket: Option<String>,
    pub s3_object: String,
    pub hash_value: String,
    pub hash_algorithm: Option<String>,
}

/// A SHA-256 value, kept as its 32 bytes (a hex string would take three times the memory, and
/// a year of a busy trail lists hundreds of thousands of files).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Hash(pub [u8; 32]);

impl Sha256Hash {
    /// Of bytes.
    pub fn of(bytes: &[u8]) -> Sha256Hash {
        Sha256Hash(Sha256::digest(bytes).into())
    }

    /// From 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<Sha256Hash> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Sha256Hash(out))
    }
}

impl std::fmt::Display for Sha256Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for Sha256Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Why a digest's content cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("not a digest file: {0}")]
    Json(String),
    #[error("{field} is not a UTC timestamp: {value:?}")]
    Time { field: &'static str, value: String },
    #[error("unsupported {field} {value:?}")]
    Algorithm { field: &'static str, value: String },
    #[error("previousDigest* fields are partly null (a starting digest has all of them null)")]
    PartialPrevious,
    #[error("logFiles lists {object} with hashValue {value:?}, which is not a SHA-256 in hex")]
    LogHash { object: String, value: String },
}

/// The link from a digest to the one before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    /// `previousDigestS3Object`, from `AWSLogs/` on (see [`logical_key`]).
    pub key: String,
    pub hash: String,
    pub signature: String,
}

/// A parsed, checked digest: everything later stages need, without the JSON.
#[derive(Debug, Clone)]
pub struct Digest {
    pub start: Timestamp,
    pub end: Timestamp,
    pub bucket: String,
    /// `digestS3Object` as written.
    pub object: String,
    pub fingerprint: String,
    /// Hex SHA-256 of the uncompressed digest.
    pub hash: String,
    pub previous: Option<Previous>,
    /// Listed log files: (`AWSLogs/...` key, SHA-256 of the uncompressed file).
    pub logs: Vec<(Box<str>, Sha256Hash)>,
    /// The exact bytes CloudTrail signed.
    pub signing_string: String,
}

fn time(field: &'static str, value: &str) -> Result<Timestamp, DigestError> {
    value.parse().map_err(|_| DigestError::Time {
        field,
        value: value.to_string(),
    })
}

fn sha256(field: &'static str, algo: Option<&str>) -> Result<(), DigestError> {
    match algo {
        None | Some("SHA-256") => Ok(()),
        Some(other) => Err(DigestError::Algorithm {
            field,
            value: other.to_string(),
        }),
    }
}

/// Hex SHA-256 of bytes.
pub fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Parses the uncompressed content of a digest file.
pub fn parse(content: &[u8]) -> Result<Digest, DigestError> {
    let file: DigestFile =
        serde_json::from_slice(content).map_err(|e| DigestError::Json(e.to_string()))?;
    let hash = hex_sha256(content);
    if let Some(a) = file.digest_signature_algorithm.as_deref()
        && a != "SHA256withRSA"
    {
        return Err(DigestError::Algorithm {
            field: "digestSignatureAlgorithm",
            value: a.to_string(),
        });
    }
    let previous = match (
        &file.previous_digest_s3_object,
        &file.previous_digest_hash_value,
        &file.previous_digest_signature,
    ) {
        (None, None, None) => None,
        (Some(key), Some(hash), Some(signature)) => {
            sha256(
                "previousDigestHashAlgorithm",
                file.previous_digest_hash_algorithm.as_deref(),
            )?;
            Some(Previous {
                key: logical_key(key).to_string(),
                hash: hash.to_ascii_lowercase(),
                signature: signature.to_ascii_lowercase(),
            })
        }
        _ => return Err(DigestError::PartialPrevious),
    };
    let mut logs = Vec::with_capacity(file.log_files.len());
    for l in &file.log_files {
        sha256("logFiles.hashAlgorithm", l.hash_algorithm.as_deref())?;
        let hash = Sha256Hash::from_hex(&l.hash_value).ok_or_else(|| DigestError::LogHash {
            object: l.s3_object.clone(),
            value: l.hash_value.clone(),
        })?;
        logs.push((logical_key(&l.s3_object).into(), hash));
    }
    let signing_string = signing_string(
        &file.digest_end_time,
        &file.digest_s3_bucket,
        &file.digest_s3_object,
        &hash,
        file.previous_digest_signature.as_deref(),
    );
    Ok(Digest {
        start: time("digestStartTime", &file.digest_start_time)?,
        end: time("digestEndTime", &file.digest_end_time)?,
        bucket: file.digest_s3_bucket,
        object: file.digest_s3_object,
        fingerprint: file.digest_public_key_fingerprint.to_ascii_lowercase(),
        hash,
        previous,
        logs,
        signing_string,
    })
}

/// The data-signing string of a digest (see the module documentation).
pub fn signing_string(
    end_time: &str,
    bucket: &str,
    object: &str,
    hex_hash: &str,
    previous_signature: Option<&str>,
) -> String {
    format!(
        "{end_time}\n{bucket}/{object}\n{hex_hash}\n{}",
        previous_signature.unwrap_or("null")
    )
}

/// A key from its `AWSLogs/` segment on: how local copies (which lose the bucket and often the
/// prefix) and S3 objects are matched against what digests name.
pub fn logical_key(key: &str) -> &str {
    if key.starts_with("AWSLogs/") {
        return key;
    }
    match key.find("/AWSLogs/") {
        Some(at) => &key[at + 1..],
        None => key,
    }
}

/// What a digest's file name says: `ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOMEREGION_END.json.gz`,
/// with `_backfill` before `.json.gz` for backfill digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestName {
    pub account: String,
    pub region: String,
    pub trail: String,
    pub home_region: String,
    pub end: Timestamp,
    pub backfill: bool,
}

/// Parses a digest key's file name; None when it does not follow CloudTrail's naming.
pub fn parse_name(key: &str) -> Option<DigestName> {
    let name = key.rsplit('/').next()?;
    let stem = name.strip_suffix(".json.gz")?;
    let (stem, backfill) = match stem.strip_suffix("_backfill") {
        Some(s) => (s, true),
        None => (stem, false),
    };
    let (account, rest) = stem.split_once("_CloudTrail-Digest_")?;
    let (region, rest) = rest.split_once('_')?;
    let (rest, end) = rest.rsplit_once('_')?;
    let (trail, home_region) = rest.rsplit_once('_')?;
    let end = utc("%Y%m%dT%H%M%SZ", end)?;
    (!trail.is_empty()).then(|| DigestName {
        account: account.to_string(),
        region: region.to_string(),
        trail: trail.to_string(),
        home_region: home_region.to_string(),
        end,
        backfill,
    })
}

/// The time in a log file's name (`ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_UNIQUE.json.gz`).
pub fn log_time(key: &str) -> Option<Timestamp> {
    let name = key.rsplit('/').next()?;
    let rest = name.split_once("_CloudTrail_")?.1;
    let stamp = rest.split('_').nth(1)?;
    utc("%Y%m%dT%H%MZ", stamp)
}

fn utc(format: &str, s: &str) -> Option<Timestamp> {
    let dt = jiff::civil::DateTime::strptime(format, s).ok()?;
    jiff::tz::Offset::UTC.to_timestamp(dt).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/\
                       111122223333_CloudTrail-Digest_us-east-2_my_trail_us-east-1_20150817T150131Z.json.gz";

    #[test]
    fn signing_string_matches_the_documented_layout() {
        let s = signing_string(
            "2015-08-12T04:01:31Z",
            "b",
            "AWSLogs/x.json.gz",
            "4ff0",
            None,
        );
        assert_eq!(s, "2015-08-12T04:01:31Z\nb/AWSLogs/x.json.gz\n4ff0\nnull");
        let s = signing_string("t", "b", "k", "h", Some("ab12"));
        assert_eq!(s, "t\nb/k\nh\nab12");
    }

    #[test]
    fn names() {
        let n = parse_name(KEY).unwrap();
        assert_eq!(
            (n.account.as_str(), n.region.as_str(), n.trail.as_str()),
            ("111122223333", "us-east-2", "my_trail")
        );
        assert_eq!(n.home_region, "us-east-1");
        assert_eq!(n.end.to_string(), "2015-08-17T15:01:31Z");
        assert!(!n.backfill);
        let b = parse_name(&KEY.replace(".json.gz", "_backfill.json.gz")).unwrap();
        assert!(b.backfill && b.trail == "my_trail");
        assert_eq!(parse_name("AWSLogs/x/CloudTrail-Digest/a.json.gz"), None);
        let log = "AWSLogs/1/CloudTrail/us-east-2/2015/08/17/\
                   111122223333_CloudTrail_us-east-2_20150817T1445Z_9nYN7gp2eWAJHIfT.json.gz";
        assert_eq!(log_time(log).unwrap().to_string(), "2015-08-17T14:45:00Z");
        assert_eq!(logical_key("prefix/x/AWSLogs/1/a"), "AWSLogs/1/a");
        assert_eq!(logical_key("/data/AWSLogs/1/a"), "AWSLogs/1/a");
    }

    #[test]
    fn parse_checks_fields() {
        let doc = serde_json::json!({
            "digestStartTime": "2015-08-17T14:01:31Z",
            "digestEndTime": "2015-08-17T15:01:31Z",
            "digestS3Bucket": "b",
            "digestS3Object": KEY,
            "digestPublicKeyFingerprint": "AB",
            "digestSignatureAlgorithm": "SHA256withRSA",
            "previousDigestS3Bucket": null, "previousDigestS3Object": null,
            "previousDigestHashValue": null, "previousDigestHashAlgorithm": null,
            "previousDigestSignature": null,
            "logFiles": [{"s3Bucket": "b", "s3Object": "p/AWSLogs/1/f.json.gz",
                          "hashValue": "AB".repeat(32), "hashAlgorithm": "SHA-256"}]
        });
        let bytes = serde_json::to_vec(&doc).unwrap();
        let d = parse(&bytes).unwrap();
        assert_eq!(d.previous, None);
        assert_eq!(d.fingerprint, "ab");
        let hash = Sha256Hash([0xab; 32]);
        assert_eq!(d.logs, [("AWSLogs/1/f.json.gz".into(), hash)]);
        assert_eq!(hash.to_string(), "ab".repeat(32));
        let mut short = doc.clone();
        short["logFiles"][0]["hashValue"] = "AA".into();
        let bytes = serde_json::to_vec(&short).unwrap();
        assert!(matches!(parse(&bytes), Err(DigestError::LogHash { .. })));
        assert!(d.signing_string.ends_with(&format!("{}\nnull", d.hash)));
        let mut partial = doc.clone();
        partial["previousDigestS3Object"] = "AWSLogs/x".into();
        let bytes = serde_json::to_vec(&partial).unwrap();
        assert_eq!(parse(&bytes).unwrap_err(), DigestError::PartialPrevious);
        assert!(matches!(parse(b"{}"), Err(DigestError::Json(_))));
    }
}
