//! Tests of the YAML rule front end: loading, errors naming file, line and rule.

use super::*;

const GOOD: &str = r#"
pack: acme
rules:
  - id: acme.open-ssh
    title: SSH open to the world
    severity: high
    description: An ingress rule opened SSH to everyone.
    match: { sources: [ec2.amazonaws.com], names: [AuthorizeSecurityGroupIngress] }
    where:
      all:
        - field: requestParameters.ipPermissions.items[*].ipRanges.items[*].cidrIp
          in: [0.0.0.0/0]
        - field: requestParameters.ipPermissions.items[*].fromPort
          lte: 22
    threshold: { count: 3, window: 10m, group_by: [sourceIPAddress] }
    tests:
      - record: { eventSource: ec2.amazonaws.com, eventName: AuthorizeSecurityGroupIngress }
        expect: no-match
  - id: acme.broken
    title: Broken
    severity: urgent
    description: x
  - id: acme.glob
    title: Deletes
    severity: low
    description: Any delete.
    match: { names: ["Delete*"] }
"#;

#[test]
fn one_bad_rule_does_not_stop_the_others() {
    let l = parse("acme.yaml", GOOD, "user");
    assert_eq!(l.rules.len(), 2, "{:?}", l.errors);
    assert_eq!(l.rules[0].pack, "acme");
    assert_eq!(l.rules[0].threshold.as_ref().unwrap().count, 3);
    assert_eq!(l.errors.len(), 1);
    let e = l.errors[0].to_string();
    assert!(
        e.starts_with("acme.yaml:19: rule 'acme.broken': unknown severity"),
        "{e}"
    );
}

#[test]
fn attack_and_controls_are_read_and_checked() {
    let rule = |extra: &str| {
        parse(
            "a.yaml",
            &format!("id: a.x\ntitle: t\nseverity: low\ndescription: d\n{extra}"),
            "user",
        )
    };
    let l = rule("attack: [ta0005, T1562.008, TA0005]\ncontrols: [CloudWatch.5, cis 4.5]\n");
    assert!(l.errors.is_empty(), "{:?}", l.errors);
    assert_eq!(l.rules[0].attack, vec!["TA0005", "T1562.008"]);
    assert_eq!(l.rules[0].controls, vec!["CloudWatch.5", "CIS 4.5"]);
    let l = rule("");
    assert!(l.rules[0].attack.is_empty() && l.rules[0].controls.is_empty());
    for (extra, want) in [
        (
            "attack: [T1562.8]\n",
            "attack: 'T1562.8' is not an ATT&CK id",
        ),
        ("attack: [T9999]\n", "attack: 'T9999' is not a known ATT&CK"),
        ("attack: T1098\n", "`attack` must be a list"),
        ("attack: [1098]\n", "`attack` must be a list of strings"),
        (
            "controls: [cloudwatch1]\n",
            "control 'cloudwatch1' is neither",
        ),
        ("controls: [CIS]\n", "control 'CIS' is neither"),
    ] {
        let l = rule(extra);
        assert!(l.rules.is_empty(), "{extra}");
        let e = l.errors[0].to_string();
        assert!(e.contains("rule 'a.x'") && e.contains(want), "{extra}: {e}");
    }
}

#[test]
fn syntax_and_shape_errors_name_the_file() {
    let l = parse("bad.yaml", "rules: [ {id: x", "user");
    assert!(
        l.errors[0].to_string().starts_with("bad.yaml"),
        "{:?}",
        l.errors
    );
    let l = parse(
        "typo.yaml",
        "id: x\ntitle: t\nseverity: low\ndescription: d\nwehre: {}\n",
        "user",
    );
    assert!(
        l.errors[0].to_string().contains("unknown key 'wehre'"),
        "{:?}",
        l.errors
    );
    let l = parse(
        "t.yaml",
        "id: x\ntitle: t\nseverity: low\ndescription: d\nwhere: {field: a, equals: 1, prefix: b}\n",
        "user",
    );
    assert!(
        l.errors[0].to_string().contains("exactly one test"),
        "{:?}",
        l.errors
    );
}
