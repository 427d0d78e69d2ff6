//! Chain analysis on hand-made digests (no signatures: those are covered end to end).

use super::*;
use crate::verify::digest::Previous;

fn digest(h: i64, previous: Option<i64>) -> DigestInput {
    let t0: Timestamp = "2026-11-02T00:00:00Z".parse().unwrap();
    let at = |h: i64| t0 + SignedDuration::from_hours(h);
    let key = |h: i64| format!("AWSLogs/1/CloudTrail-Digest/r/d{h}.json.gz");
    DigestInput {
        name: key(h),
        key: key(h),
        trail: TrailKey {
            trail: "t".into(),
            account: "1".into(),
            region: "r".into(),
        },
        backfill: false,
        end: at(h + 1),
        digest: Ok(Digest {
            start: at(h),
            end: at(h + 1),
            bucket: "b".into(),
            object: key(h),
            fingerprint: "f".into(),
            hash: format!("hash{h}"),
            previous: previous.map(|p| Previous {
                key: key(p),
                hash: format!("hash{p}"),
                signature: format!("sig{p}"),
            }),
            logs: vec![],
            signing_string: String::new(),
        }),
        signature: None,
        bucket: None,
    }
}

fn kinds(digests: &[DigestInput]) -> Vec<Kind> {
    let a = analyse(
        digests,
        &HashMap::new(),
        &[],
        &PublicKeys::default(),
        Range::default(),
    );
    let mut k: Vec<Kind> = a.problems.iter().map(|p| p.kind).collect();
    k.retain(|k| !matches!(k, Kind::SignatureInvalid | Kind::SignatureMissing));
    k
}

#[test]
fn links_gaps_and_unreadable_links() {
    let chain: Vec<_> = (0..4).map(|h| digest(h, (h > 0).then(|| h - 1))).collect();
    assert_eq!(kinds(&chain), []);
    // Two deleted digests in a row: one problem naming the hole.
    let holed = vec![digest(0, None), digest(3, Some(2))];
    assert_eq!(kinds(&holed), [Kind::DigestMissing]);
    // A restart nothing explains.
    assert_eq!(kinds(&[digest(0, None), digest(2, None)]), [Kind::Gap]);
    // An unreadable previous digest is reported once, not as a broken link too.
    let mut bad = chain.clone();
    bad[1].digest = Err("truncated or corrupt gzip data".into());
    assert_eq!(kinds(&bad), [Kind::DigestUnreadable]);
}
