//! The `--where` language: every operator on a matching and a non-matching record, the short
//! forms, the prefilter literals they yield, and bad expressions with the position of the problem.

use super::*;

const RECORD: &str = r#"{
  "eventName": "GetSecretValue", "eventSource": "secretsmanager.amazonaws.com",
  "sourceIPAddress": "203.0.113.7", "errorCode": "AccessDenied", "readOnly": true,
  "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Deploy/alice",
    "accessKeyId": "ASIAEXAMPLE1", "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::111122223333:role/Deploy"}}},
  "resources": [{"ARN": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:db"}],
  "requestParameters": {"maxResults": 50, "name": "a, b"}
}"#;

fn holds(expr: &str) -> bool {
    let v: sonic_rs::Value = sonic_rs::from_str(RECORD).unwrap();
    parse(expr).unwrap_or_else(|e| panic!("{e}")).eval(&v)
}

fn cond_holds(c: &Cond) -> bool {
    let v: sonic_rs::Value = sonic_rs::from_str(RECORD).unwrap();
    c.eval(&v)
}

#[test]
fn every_operator_matches_and_refuses() {
    let table = [
        ("eventName = GetSecretValue", true),
        ("eventName = getsecretvalue", false),
        ("eventName =:i getsecretvalue", true),
        ("eventName == ListSecrets,GetSecretValue", true),
        ("eventName in ListSecrets, DescribeSecret", false),
        ("eventName != GetSecretValue", false),
        ("eventName != ListSecrets", true),
        ("userIdentity.arn prefix arn:aws:sts::", true),
        ("userIdentity.arn prefix arn:aws:iam::", false),
        ("userIdentity.arn suffix /alice", true),
        ("userIdentity.arn suffix /ALICE", false),
        ("userIdentity.arn suffix:i /ALICE", true),
        ("userIdentity.arn contains Deploy", true),
        ("userIdentity.arn contains deploy", false),
        ("userIdentity.arn contains:i deploy", true),
        ("userIdentity.arn glob *:assumed-role/*", true),
        ("userIdentity.arn glob *:user/*", false),
        ("userIdentity.arn glob:i *DEPLOY*", true),
        ("userIdentity.arn regex ^arn:aws:sts::[0-9]{12}:", true),
        ("userIdentity.arn ~ ^arn:aws:iam::", false),
        ("sourceIPAddress cidr 203.0.113.0/24", true),
        ("sourceIPAddress cidr 10.0.0.0/8, 192.168.0.0/16", false),
        ("requestParameters.maxResults > 10", true),
        ("requestParameters.maxResults >= 50", true),
        ("requestParameters.maxResults < 50", false),
        ("requestParameters.maxResults <= 49", false),
        ("errorCode exists", true),
        ("errorMessage exists", false),
        ("errorMessage missing", true),
        ("errorCode missing", false),
        ("not errorCode exists", false),
        ("not sourceIPAddress cidr 10.0.0.0/8", true),
        ("resources[*].ARN glob *:secret:*", true),
        ("readOnly = true", true),
        // A quoted value keeps its comma; unquoted, the comma separates alternatives.
        ("requestParameters.name = 'a, b'", true),
        ("requestParameters.name = a, b", false),
        ("requestParameters.name = \"x\", \"a, b\"", true),
        // Lower-cased keys of some exports still match.
        ("useridentity.accesskeyid = ASIAEXAMPLE1", true),
    ];
    for (expr, want) in table {
        assert_eq!(holds(expr), want, "{expr}");
    }
}

#[test]
fn short_forms() {
    assert!(cond_holds(&actor("alice").unwrap()));
    assert!(cond_holds(&actor("ALICE").unwrap()));
    assert!(cond_holds(&actor("*role/deploy").unwrap()));
    assert!(!cond_holds(&actor("bob").unwrap()));
    assert!(cond_holds(&access_key(&[
        "AKIAOTHER".into(),
        "ASIAEXAMPLE1".into()
    ])));
    assert!(!cond_holds(&access_key(&["ASIAEXAMPLE".into()])));
    assert!(cond_holds(&source_ip(&["203.0.113.7".into()]).unwrap()));
    assert!(cond_holds(
        &source_ip(&["10.0.0.1".into(), "203.0.113.0/28".into()]).unwrap()
    ));
    assert!(!cond_holds(&source_ip(&["203.0.113.8".into()]).unwrap()));
    assert!(source_ip(&["300.1.1.1/8".into()]).is_err());
    assert!(cond_holds(&event(&["GetSecret*".into()]).unwrap()));
    assert!(!cond_holds(&event(&["ListSecrets".into()]).unwrap()));
    assert!(cond_holds(&error(&[]).unwrap()));
    assert!(cond_holds(&error(&["*Denied".into()]).unwrap()));
    assert!(!cond_holds(&error(&["Throttling".into()]).unwrap()));
}

#[test]
fn literal_filters_yield_prefilter_literals() {
    let n = parse("userIdentity.accessKeyId = AKIA1234567890")
        .unwrap()
        .needles();
    assert_eq!(n.unwrap().exact, vec!["AKIA1234567890".to_string()]);
    assert!(actor("alice").unwrap().needles().is_some());
    assert!(
        parse("sourceIPAddress cidr 10.0.0.0/8")
            .unwrap()
            .needles()
            .is_none()
    );
    assert!(parse("not errorCode exists").unwrap().needles().is_none());
}

#[test]
fn bad_expressions_point_at_the_problem() {
    let cases = [
        ("", 0, "empty expression"),
        ("userIdentity.arn", 16, "an operator must follow"),
        ("userIdentity.arn globb *x*", 17, "unknown operator 'globb'"),
        ("userIdentity.arn glob", 21, "'glob' needs a value"),
        ("userIdentity..arn = x", 0, "field path"),
        ("a[x] = 1", 0, "bad index"),
        ("errorCode exists yes", 17, "takes no value"),
        ("n > ten", 4, "takes a number"),
        ("ip cidr 10.0.0.0/33", 8, "bad CIDR"),
        ("arn ~ (unclosed", 6, "bad regex"),
        ("arn = 'open", 6, "unclosed ' quote"),
        ("arn = 'a' b", 6, "unexpected text"),
        ("arn = a,,b", 6, "empty value"),
        ("n >:i 3", 2, "does not take :i"),
        ("not", 3, "must follow 'not'"),
    ];
    for (expr, at, message) in cases {
        let e = parse(expr).expect_err(expr);
        assert_eq!(e.at, at, "{expr}: {e}");
        assert!(e.message.contains(message), "{expr}: {}", e.message);
        // The rendering shows the expression and a caret under the problem.
        let shown = e.to_string();
        let caret = shown.lines().last().unwrap();
        assert_eq!(
            caret.find('^').unwrap(),
            2 + expr[..at].chars().count(),
            "{shown}"
        );
    }
}
