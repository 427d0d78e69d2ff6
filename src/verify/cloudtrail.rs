//! CloudTrail's `ListPublicKeys` API: the keys that signed each region's digests, asked for when
//! no `--public-keys` file is given. One call per region verified (digest keys are regional),
//! covering the hours of that region's digests, with the standard credential chain; an
//! endpoint override comes from the SDK's usual settings (`AWS_ENDPOINT_URL_CLOUDTRAIL`,
//! `AWS_ENDPOINT_URL` or `--endpoint-url`).

use super::chain::DigestInput;
use super::keys::PublicKeys;
use crate::aws::{self, AwsOptions};
use aws_sdk_cloudtrail::primitives::DateTime;
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;

/// The period each region's digests cover: region → (earliest end − 1 h, latest end).
pub fn periods(digests: &[DigestInput]) -> BTreeMap<String, (Timestamp, Timestamp)> {
    let mut out: BTreeMap<String, (Timestamp, Timestamp)> = BTreeMap::new();
    for d in digests {
        let start = d.end - SignedDuration::from_hours(1);
        out.entry(d.trail.region.clone())
            .and_modify(|(lo, hi)| {
                *lo = (*lo).min(start);
                *hi = (*hi).max(d.end);
            })
            .or_insert((start, d.end));
    }
    out
}

/// Adds the keys of every region in `periods` to `keys`; returns one error line per region
/// whose keys could not be listed (the digests of that region then fail as unknown keys).
pub async fn fetch(
    aws_opts: &AwsOptions,
    periods: &BTreeMap<String, (Timestamp, Timestamp)>,
    keys: &mut PublicKeys,
) -> Vec<String> {
    let conf = aws::sdk_config(aws_opts).await;
    let mut errors = Vec::new();
    for (region, (start, end)) in periods {
        let client = aws::cloudtrail_client(&conf, region);
        if let Err(e) = list(&client, *start, *end, keys).await {
            errors.push(format!("CloudTrail ListPublicKeys in {region}: {e}"));
        }
    }
    errors
}

/// One region's keys, following `NextToken` (reserved by AWS, honoured if ever sent).
async fn list(
    client: &aws_sdk_cloudtrail::Client,
    start: Timestamp,
    end: Timestamp,
    keys: &mut PublicKeys,
) -> Result<(), String> {
    let mut token: Option<String> = None;
    loop {
        let out = client
            .list_public_keys()
            .start_time(DateTime::from_secs(start.as_second()))
            .end_time(DateTime::from_secs(end.as_second()))
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| aws::describe(&e))?;
        for k in out.public_key_list() {
            match (k.fingerprint(), k.value()) {
                (Some(f), Some(v)) => keys.add(f, v.as_ref().to_vec()),
                _ => return Err("a listed key has no Fingerprint or Value".into()),
            }
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::chain::TrailKey;

    fn digest(region: &str, end: &str) -> DigestInput {
        DigestInput {
            name: String::new(),
            key: String::new(),
            trail: TrailKey {
                trail: "t".into(),
                account: "1".into(),
                region: region.into(),
            },
            backfill: false,
            end: end.parse().unwrap(),
            digest: Err(String::new()),
            signature: None,
            bucket: None,
        }
    }

    #[test]
    fn one_period_per_region_from_the_first_hour_to_the_last() {
        let p = periods(&[
            digest("eu-west-1", "2026-11-02T05:00:00Z"),
            digest("eu-west-1", "2026-11-02T01:00:00Z"),
            digest("us-east-1", "2026-11-03T00:00:00Z"),
        ]);
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            p["eu-west-1"],
            (t("2026-11-02T00:00:00Z"), t("2026-11-02T05:00:00Z"))
        );
        assert_eq!(
            p["us-east-1"],
            (t("2026-11-02T23:00:00Z"), t("2026-11-03T00:00:00Z"))
        );
        assert_eq!(p.len(), 2);
    }
}
