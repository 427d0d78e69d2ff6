//! The tracker on hand-made chains: intact, broken, restarted, late, silent and resumed.

use super::*;
use crate::verify::digest::{self, Previous};

const HOUR: i64 = 3600;
/// 2026-10-01T00:00:00Z.
const T0: i64 = 1_790_812_800;

fn key(end: i64) -> String {
    let t = Timestamp::from_second(end)
        .unwrap()
        .strftime("%Y%m%dT%H%M%SZ");
    format!(
        "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2026/10/01/\
         111122223333_CloudTrail-Digest_eu-west-1_main_eu-west-1_{t}.json.gz"
    )
}

fn name(end: i64) -> DigestName {
    digest::parse_name(&key(end)).unwrap()
}

fn hash(end: i64) -> String {
    format!("{:064x}", end)
}

fn sig(end: i64) -> String {
    format!("{:0512x}", end)
}

/// The digest ending at `end`, linked to the one an hour before unless `start`.
fn dig(end: i64, start: bool) -> Digest {
    Digest {
        start: Timestamp::from_second(end - HOUR).unwrap(),
        end: Timestamp::from_second(end).unwrap(),
        bucket: "b".into(),
        object: key(end),
        fingerprint: "f".into(),
        hash: hash(end),
        previous: (!start).then(|| Previous {
            key: key(end - HOUR),
            hash: hash(end - HOUR),
            signature: sig(end - HOUR),
        }),
        logs: Vec::new(),
        signing_string: String::new(),
    }
}

fn timing() -> Timing {
    Timing {
        late_after: HOUR,
        silent_after: Some(2 * HOUR),
        usual_hours: 3,
    }
}

fn feed(t: &mut Tracker, d: Digest, now: i64) -> Vec<Alarm> {
    let end = d.end.as_second();
    let s = sig(end);
    t.digest(
        now,
        &key(end),
        &name(end),
        &Ok(d),
        Some(&s),
        &Signature::Valid,
    )
}

#[test]
fn an_intact_chain_raises_nothing() {
    let mut t = Tracker::new(timing(), T0);
    assert!(feed(&mut t, dig(T0 + HOUR, true), T0 + HOUR).is_empty());
    for h in 2..30 {
        let end = T0 + h * HOUR;
        assert!(
            feed(&mut t, dig(end, false), end + 600).is_empty(),
            "hour {h}"
        );
        assert!(t.tick(end + 1200).is_empty(), "hour {h}");
    }
    // Delivered again: nothing new.
    assert!(feed(&mut t, dig(T0 + 29 * HOUR, false), T0 + 30 * HOUR).is_empty());
    assert_eq!(t.chains(), 1);
}

#[test]
fn an_edited_previous_digest_breaks_the_link() {
    let mut t = Tracker::new(timing(), T0);
    feed(&mut t, dig(T0 + HOUR, true), T0);
    let mut d = dig(T0 + 2 * HOUR, false);
    d.previous.as_mut().unwrap().hash = "00".repeat(32);
    let a = feed(&mut t, d, T0);
    assert!(
        matches!(&a[..], [Alarm::ChainBroken { reason, .. }] if reason.contains("previousDigestHashValue")),
        "{a:?}"
    );
    let mut d = dig(T0 + 3 * HOUR, false);
    d.previous.as_mut().unwrap().signature = "ab".into();
    let a = feed(&mut t, d, T0);
    assert!(
        matches!(&a[..], [Alarm::ChainBroken { reason, .. }] if reason.contains("Signature")),
        "{a:?}"
    );
}

#[test]
fn a_deleted_digest_is_named_when_the_next_one_arrives() {
    let mut t = Tracker::new(timing(), T0);
    for h in 1..=3 {
        feed(&mut t, dig(T0 + h * HOUR, h == 1), T0);
    }
    // The digest of hour 4 never arrives; hour 5 names it.
    let a = feed(&mut t, dig(T0 + 5 * HOUR, false), T0);
    assert!(a.is_empty(), "not received yet is not proof: {a:?}");
    // Hour 4 arrives late and joins both sides: fine.
    let a = feed(&mut t, dig(T0 + 4 * HOUR, false), T0);
    assert!(a.is_empty(), "{a:?}");
    // A digest naming a previous that should be among those kept, but is not.
    let mut d = dig(T0 + 6 * HOUR, false);
    d.previous.as_mut().unwrap().key = key(T0 + 5 * HOUR - 1800);
    let a = feed(&mut t, d, T0);
    assert!(a.is_empty(), "it may still come: {a:?}");
    assert!(t.tick(T0 + HOUR).is_empty(), "within the margin");
    let a = t.tick(T0 + HOUR + 1);
    assert!(
        matches!(&a[..], [Alarm::ChainBroken { reason, key: k, .. }] if reason.contains("has not arrived") && *k == key(T0 + 6 * HOUR)),
        "{a:?}"
    );
    assert!(t.tick(T0 + 2 * HOUR).is_empty(), "reported once");
}

#[test]
fn digests_in_any_order_raise_nothing() {
    let mut t = Tracker::new(timing(), T0);
    feed(&mut t, dig(T0 + HOUR, true), T0);
    for h in [5, 3, 4, 2, 8, 6, 7] {
        let a = feed(&mut t, dig(T0 + h * HOUR, false), T0);
        assert!(a.is_empty(), "hour {h}: {a:?}");
    }
    assert!(t.tick(T0 + 2 * HOUR).is_empty());
}

#[test]
fn an_out_of_order_arrival_is_checked_against_the_later_digest() {
    let mut t = Tracker::new(timing(), T0);
    feed(&mut t, dig(T0 + HOUR, true), T0);
    feed(&mut t, dig(T0 + 3 * HOUR, false), T0);
    // Hour 2 arrives after hour 3, and is not what hour 3 says it was.
    let mut d = dig(T0 + 2 * HOUR, false);
    d.hash = "11".repeat(32);
    let a = feed(&mut t, d, T0);
    assert!(
        matches!(&a[..], [Alarm::ChainBroken { key: k, .. }] if *k == key(T0 + 3 * HOUR)),
        "{a:?}"
    );
}

#[test]
fn a_restart_is_reported_with_the_gap() {
    let mut t = Tracker::new(timing(), T0);
    feed(&mut t, dig(T0 + HOUR, true), T0);
    let a = feed(&mut t, dig(T0 + 5 * HOUR, true), T0);
    assert!(
        matches!(&a[..], [Alarm::ChainRestarted { since, start, .. }] if *since == T0 + HOUR && *start == T0 + 4 * HOUR),
        "{a:?}"
    );
}

#[test]
fn late_digests_once_then_resumed() {
    let mut t = Tracker::new(timing(), T0);
    feed(&mut t, dig(T0 + HOUR, true), T0 + HOUR);
    // Due at end + 1 h + 1 h margin.
    assert!(t.tick(T0 + 3 * HOUR).is_empty());
    let a = t.tick(T0 + 3 * HOUR + 1);
    assert!(
        matches!(&a[..], [Alarm::DigestLate { due, .. }] if *due == T0 + 3 * HOUR),
        "{a:?}"
    );
    assert!(t.tick(T0 + 9 * HOUR).is_empty(), "reported once");
    let a = feed(&mut t, dig(T0 + 2 * HOUR, false), T0 + 9 * HOUR);
    assert!(matches!(&a[..], [Alarm::DigestResumed { .. }]), "{a:?}");
    assert!(
        t.tick(T0 + 9 * HOUR).len() == 1,
        "late again: the next is overdue"
    );
}

#[test]
fn nothing_is_late_for_having_been_unwatched() {
    let mut t = Tracker::new(timing(), T0 + 50 * HOUR);
    t.restore(
        vec![(
            ChainKey {
                trail: "main".into(),
                account: "111122223333".into(),
                region: "eu-west-1".into(),
            },
            Chain {
                links: vec![Link {
                    key: key(T0 + HOUR),
                    start: T0,
                    end: T0 + HOUR,
                    hash: hash(T0 + HOUR),
                    signature: None,
                    previous: None,
                }],
                late_since: None,
                expected: Vec::new(),
            },
        )],
        Vec::new(),
    );
    assert!(t.tick(T0 + 50 * HOUR + 60).is_empty(), "just started");
    assert_eq!(t.tick(T0 + 51 * HOUR + 1).len(), 1);
}

#[test]
fn unreadable_and_badly_signed_digests_are_alarms() {
    let mut t = Tracker::new(timing(), T0);
    let e = T0 + HOUR;
    let a = t.digest(
        T0,
        &key(e),
        &name(e),
        &Err("not gzip".into()),
        None,
        &Signature::NotChecked,
    );
    assert!(matches!(&a[..], [Alarm::Unreadable { .. }]), "{a:?}");
    let a = t.digest(
        T0,
        &key(e),
        &name(e),
        &Ok(dig(e, true)),
        Some(&sig(e)),
        &Signature::Invalid("bad".into()),
    );
    assert!(matches!(&a[..], [Alarm::SignatureInvalid { .. }]), "{a:?}");
    let e = T0 + 2 * HOUR;
    let a = t.digest(
        T0,
        &key(e),
        &name(e),
        &Ok(dig(e, false)),
        None,
        &Signature::Missing,
    );
    assert!(matches!(&a[..], [Alarm::SignatureMissing { .. }]), "{a:?}");
}

#[test]
fn silence_needs_a_usual_sender_and_ends_with_the_next_file() {
    let mut t = Tracker::new(timing(), T0);
    let hour = |h: i64| Timestamp::from_second(T0 + h * HOUR).ok();
    assert!(t.log_file(T0, "1", "eu-west-1", hour(0), "k0").is_empty());
    assert!(t.log_file(T0, "1", "eu-west-1", hour(0), "k0b").is_empty());
    assert!(
        t.tick(T0 + 5 * HOUR).is_empty(),
        "one hour seen is not usual"
    );
    t.log_file(T0 + 5 * HOUR, "1", "eu-west-1", hour(1), "k1");
    t.log_file(T0 + 5 * HOUR, "1", "eu-west-1", hour(2), "k2");
    assert!(t.tick(T0 + 7 * HOUR).is_empty());
    let a = t.tick(T0 + 7 * HOUR + 1);
    assert!(
        matches!(&a[..], [Alarm::Silent { last_at, .. }] if *last_at == T0 + 5 * HOUR),
        "{a:?}"
    );
    assert!(t.tick(T0 + 9 * HOUR).is_empty(), "reported once");
    let a = t.log_file(T0 + 9 * HOUR, "1", "eu-west-1", hour(9), "k9");
    assert!(
        matches!(&a[..], [Alarm::Resumed { silent_since, .. }] if *silent_since == T0 + 7 * HOUR + 1),
        "{a:?}"
    );
    let (_, activity) = t.changed();
    assert_eq!(activity.len(), 1);
    assert_eq!(activity[0].1.hours.len(), 4);
}
