//! One finding per event: every rule of the record, attempts one level lower, partial
//! suppressions and thresholds as findings of their own.

use super::*;
use crate::finding::Outcome as CallOutcome;
use crate::record::Parsed;

fn rec(json: &str) -> Record {
    match Record::parse_item(json.as_bytes(), 2).unwrap() {
        Parsed::Record(r) => r,
        other => panic!("{other:?}"),
    }
}

fn engine(show: bool) -> Engine {
    let text = r#"
rules:
  - id: t.stop
    title: Logging stopped
    severity: critical
    description: d
    attack: [TA0005, T1562.008]
    controls: [CloudWatch.5]
    match: { names: [StopLogging] }
  - id: t.root
    title: Root activity
    severity: high
    description: d
    attack: [TA0004, T1078.004, TA0005]
    controls: [CloudWatch.1, CIS 4.3]
    where: { field: userIdentity.type, equals: Root }
    suppress:
      - reason: break-glass drill
        source_ip: [10.0.0.0/8]
  - id: t.denied
    title: Denied
    severity: medium
    description: d
    on_failure: keep
    where: { field: errorCode, equals: AccessDenied }
  - id: t.burst
    title: Denied burst
    severity: high
    description: d
    on_failure: keep
    where: { field: errorCode, equals: AccessDenied }
    threshold: { count: 3, window: 10m }
"#;
    let loaded = crate::rules::yaml::parse("t.yaml", text, "user");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    Engine::new(loaded.rules).with_suppressions(Vec::new(), "2026-01-01".parse().unwrap(), show)
}

#[test]
fn one_finding_per_event_with_every_rule_highest_first() {
    let out = engine(false).evaluate(
        &rec(
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","eventID":"e1",
            "userIdentity":{"type":"Root"}}"#,
        ),
        || "t#1".into(),
    );
    assert_eq!(out.findings.len(), 1);
    let f = &out.findings[0];
    assert_eq!(f.rule_id, "t.stop");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.outcome, CallOutcome::Success);
    let ids: Vec<&str> = f.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["t.stop", "t.root"]);
    assert_eq!(f.identity(), "event\u{1f}e1");
    // Controls and ATT&CK ids of every rule, each once, the top rule's first.
    assert_eq!(f.controls, ["CloudWatch.5", "CloudWatch.1", "CIS 4.3"]);
    assert_eq!(f.attack, ["TA0005", "T1562.008", "TA0004", "T1078.004"]);
    assert_eq!(f.field("rules").as_deref(), Some("t.stop;t.root"));
}

#[test]
fn a_failed_call_is_an_attempt_one_level_lower() {
    let out = engine(false).evaluate(
        &rec(
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","eventID":"e2",
            "errorCode":"AccessDenied","userIdentity":{"type":"IAMUser"}}"#,
        ),
        || "t#1".into(),
    );
    // The event, and the threshold rule's match (pending in noise) as its own finding.
    assert_eq!(out.findings.len(), 2);
    let f = &out.findings[0];
    assert_eq!(f.outcome, CallOutcome::Failure);
    assert_eq!((f.rule_id.as_str(), f.severity), ("t.stop", Severity::High));
    // `on_failure: keep` rules keep their severity.
    assert_eq!(f.rules[1].id, "t.denied");
    assert_eq!(f.rules[1].severity, Severity::Medium);
    let burst = &out.findings[1];
    assert!(burst.aggregate);
    assert_eq!(burst.rule_id, "t.burst");
    assert_ne!(burst.identity(), f.identity());
}

#[test]
fn a_suppression_silences_only_the_rules_it_names() {
    let root_stop = r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging",
        "userIdentity":{"type":"Root"},"sourceIPAddress":"10.1.1.1"}"#;
    let out = engine(false).evaluate(&rec(root_stop), || "t#1".into());
    assert_eq!(out.findings.len(), 1);
    let ids: Vec<&str> = out.findings[0]
        .rules
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(ids, ["t.stop"]);
    assert_eq!(out.findings[0].suppressed_by, None);
    assert_eq!(
        out.suppressed,
        [("t.root".to_string(), "break-glass drill".to_string())]
    );
    // No rule left: dropped, or shown marked with --show-suppressed.
    let root_only = r#"{"eventSource":"s3.amazonaws.com","eventName":"ListBuckets",
        "userIdentity":{"type":"Root"},"sourceIPAddress":"10.1.1.1"}"#;
    assert!(
        engine(false)
            .evaluate(&rec(root_only), || "t#1".into())
            .findings
            .is_empty()
    );
    let shown = engine(true).evaluate(&rec(root_only), || "t#1".into());
    assert_eq!(
        shown.findings[0].suppressed_by.as_deref(),
        Some("break-glass drill")
    );
}

#[test]
fn failed_console_sign_in_is_a_failure() {
    let r = rec(
        r#"{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin",
        "responseElements":{"ConsoleLogin":"Failure"}}"#,
    );
    assert_eq!(CallOutcome::of(&r), CallOutcome::Failure);
    let ok = rec(
        r#"{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin",
        "responseElements":{"ConsoleLogin":"Success"}}"#,
    );
    assert_eq!(CallOutcome::of(&ok), CallOutcome::Success);
}

#[test]
fn lower_when_sets_the_rule_severity_for_the_record_and_says_why() {
    let text = r#"
rules:
  - id: t.versioning
    title: Versioning changed
    severity: medium
    description: d
    match: { names: [PutBucketVersioning] }
    lower_when:
      - reason: versioning turned on
        where:
          all:
            - { field: requestParameters.VersioningConfiguration.Status, equals: Enabled }
            - not: { field: requestParameters.VersioningConfiguration.MfaDelete, equals: Disabled }
  - id: t.any-s3
    title: S3 change
    severity: low
    description: d
    match: { sources: [s3.amazonaws.com] }
"#;
    let loaded = crate::rules::yaml::parse("t.yaml", text, "user");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let engine = Engine::new(loaded.rules);
    let put = |config: &str, error: &str| {
        let json = format!(
            r#"{{"eventSource":"s3.amazonaws.com","eventName":"PutBucketVersioning",{error}
            "requestParameters":{{"bucketName":"b","VersioningConfiguration":{config}}}}}"#
        );
        let mut out = engine.evaluate(&rec(&json), || "t#1".into());
        assert_eq!(out.findings.len(), 1);
        out.findings.remove(0)
    };
    // Suspended: the rule's own severity, nothing lowered.
    let f = put(r#"{"Status":"Suspended"}"#, "");
    assert_eq!(
        (f.rule_id.as_str(), f.severity),
        ("t.versioning", Severity::Medium)
    );
    assert_eq!(f.rules[0].lowered, None);
    // Enabled: info, with the reason; the other rule is now the top one.
    let f = put(r#"{"Status":"Enabled"}"#, "");
    assert_eq!(
        (f.rule_id.as_str(), f.severity),
        ("t.any-s3", Severity::Low)
    );
    let v = f.rules.iter().find(|r| r.id == "t.versioning").unwrap();
    assert_eq!(v.severity, Severity::Info);
    assert_eq!(v.lowered.as_deref(), Some("versioning turned on"));
    // Enabled while MFA delete is switched off: not lowered.
    let f = put(r#"{"Status":"Enabled","MfaDelete":"Disabled"}"#, "");
    assert_eq!(f.severity, Severity::Medium);
    // A failed suspension: an attempt, one level lower.
    let f = put(
        r#"{"Status":"Suspended"}"#,
        r#""errorCode":"AccessDenied","#,
    );
    assert_eq!(
        (f.rule_id.as_str(), f.severity),
        ("t.versioning", Severity::Low)
    );
    // The reason travels with the finding (JSON), and absent reasons are left out.
    let json = serde_json::to_value(put(r#"{"Status":"Enabled"}"#, "")).unwrap();
    assert_eq!(json["rules"][1]["lowered"], "versioning turned on");
    assert!(json["rules"][0].get("lowered").is_none());
}

#[test]
fn lower_when_is_refused_on_thresholds_and_at_or_above_the_rule() {
    let rule = |extra: &str| {
        crate::rules::yaml::parse(
            "t.yaml",
            &format!("id: t.x\ntitle: t\nseverity: low\ndescription: d\n{extra}"),
            "user",
        )
    };
    let when = "lower_when: [{ reason: r, where: { field: a, equals: 1 } }]\n";
    let l = rule(&format!("{when}threshold: {{ count: 2, window: 1m }}\n"));
    assert!(
        l.errors[0]
            .to_string()
            .contains("does not apply to a threshold rule"),
        "{:?}",
        l.errors
    );
    let l = rule("lower_when: [{ reason: r, severity: low, where: { field: a, equals: 1 } }]\n");
    assert!(
        l.errors[0]
            .to_string()
            .contains("must be below the rule's severity low"),
        "{:?}",
        l.errors
    );
    assert!(rule(when).errors.is_empty());
}

#[test]
fn repeats_fold_by_a_rule_at_the_event_severity_that_has_a_window() {
    use crate::noise::{Noise, Verdict};
    let text = r#"
rules:
  - id: t.cis-root
    title: Root (CIS)
    severity: high
    description: d
    where: { field: userIdentity.type, equals: Root }
  - id: t.root
    title: Root
    severity: high
    description: d
    where: { field: userIdentity.type, equals: Root }
    dedup: { key: [userIdentity.accountId, eventName], window: 1h }
  - id: t.any-delete
    title: Deletes
    severity: low
    description: d
    match: { names: ["Delete*"] }
    dedup: { key: [eventName], window: 1h }
"#;
    let loaded = crate::rules::yaml::parse("t.yaml", text, "user");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let engine = Engine::new(loaded.rules);
    let mut noise = Noise::new(true);
    let mut judge = |json: &str| {
        let mut f = engine
            .evaluate(&rec(json), || "t#1".into())
            .findings
            .remove(0);
        (f.rule_id.clone(), noise.judge(engine.policy(&f), &mut f))
    };
    let root = |time: &str, name: &str, account: &str| {
        format!(
            r#"{{"eventSource":"s3.amazonaws.com","eventName":"{name}","eventTime":"{time}",
            "userIdentity":{{"type":"Root","accountId":"{account}"}}}}"#
        )
    };
    // The top rule (load order) has no window; the other high rule's folds the repeat.
    let (top, first) = judge(&root("2026-01-01T00:00:00Z", "ListBuckets", "1"));
    assert_eq!((top.as_str(), first), ("t.cis-root", Verdict::Emit));
    let (_, again) = judge(&root("2026-01-01T00:10:00Z", "ListBuckets", "1"));
    assert!(matches!(again, Verdict::Folded { .. }), "{again:?}");
    // A lower rule's window never folds a higher event: root deletes in two accounts are two
    // findings, though the low delete rule's key (the event name) is the same.
    let (_, a) = judge(&root("2026-01-01T00:20:00Z", "DeleteBucket", "1"));
    let (_, b) = judge(&root("2026-01-01T00:30:00Z", "DeleteBucket", "2"));
    assert_eq!((a, b), (Verdict::Emit, Verdict::Emit));
    // Without root, the delete rule is the top rule and its window applies.
    let plain = |time: &str| {
        format!(
            r#"{{"eventSource":"s3.amazonaws.com","eventName":"DeleteBucket","eventTime":"{time}"}}"#
        )
    };
    assert_eq!(judge(&plain("2026-01-01T01:00:00Z")).1, Verdict::Emit);
    assert!(matches!(
        judge(&plain("2026-01-01T01:05:00Z")).1,
        Verdict::Folded { .. }
    ));
}

#[test]
fn sigma_tags_join_the_event_attack_ids() {
    let sigma = r#"
title: Trail stopped
id: 5f0c7a1e-0000-4000-8000-0000000000aa
logsource: { product: aws, service: cloudtrail }
detection:
  selection: { eventSource: cloudtrail.amazonaws.com, eventName: StopLogging }
  condition: selection
level: high
tags: [attack.defense_evasion, attack.t1562.008, attack.t1070]
"#;
    let mut rules = crate::rules::sigma::parse("s.yml", sigma).rules;
    assert_eq!(rules.len(), 1);
    let yaml = crate::rules::yaml::parse(
        "t.yaml",
        "id: t.stop\ntitle: t\nseverity: critical\ndescription: d\nattack: [TA0005, T1562.008]\nmatch: { names: [StopLogging] }\n",
        "user",
    );
    rules.extend(yaml.rules);
    let engine = Engine::new(rules);
    let out = engine.evaluate(
        &rec(r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging"}"#),
        || "t#1".into(),
    );
    let f = &out.findings[0];
    assert_eq!(f.rule_id, "t.stop");
    assert_eq!(f.rules.len(), 2);
    assert_eq!(f.attack, ["TA0005", "T1562.008", "T1070"]);
}
