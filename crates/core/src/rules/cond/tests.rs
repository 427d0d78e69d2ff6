//! Tests of conditions: every condition form and field test of `docs/rules.md`, table-driven
//! through the YAML front end ([`yaml::condition`]), against one record with a field of each
//! shape. Each row also checks that `not` inverts it and that, when it matches, the record's raw
//! text holds one of the condition's prefilter needles (the prefilter may cost time but never a
//! finding).

use super::*;
use crate::rules::yaml;

/// The record the rows run against: one field per shape a test meets.
const RECORD: &str = r#"{
  "s": "Hello World", "e": "", "z": null,
  "num": 22, "ns": "22", "f": 2.5, "neg": -3, "pad": " 7 ", "sci": "1e3", "inf": "inf",
  "t": true, "ts": "TRUE", "fs": "false",
  "arr": ["alpha", "beta"], "nums": [1, 5, 10], "mixed": [7, "x", null, true],
  "empty": [], "nulls": [null], "nested": [["deep"]],
  "objs": [{"k": "x"}, {"k": "y"}], "one": {"k": "solo"},
  "ip": "10.1.2.3", "ip6": "2001:db8::1", "ips": ["8.8.8.8", "192.168.1.9"],
  "ipsp": " 172.16.0.1 ", "mapped": "::ffff:10.1.2.3", "host": "ec2.amazonaws.com",
  "arn": "arn:aws:iam::111122223333:role/Admin", "odd": "a[1]{b}!c\\d", "multi": "one\ntwo",
  "uni": "Ärger", "UserIdentity": {"UserName": "bob"}, "who": "bob", "shout": "BOB",
  "pick": "beta", "numtext": "22", "yn": "no",
  "pol": "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::1:user/a+b\"}}]}",
  "upol": "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Deny%22%2C%22Sid%22%3A%22a%2Bb+c%22%7D%5D%7D"
}"#;

/// A YAML condition, parsed as a rule's `where` is.
fn cond(src: &str) -> Result<Cond, String> {
    let v: serde_json::Value = yaml::from_yaml(src).map_err(|e| format!("not YAML: {e}"))?;
    yaml::condition(&v, "where")
}

/// Whether one of the needles occurs in `text` (exact ones as they are, the others without
/// regard to ASCII case, as the prefilter searches them).
fn found(text: &str, n: &Needles) -> bool {
    let lower = text.to_ascii_lowercase();
    n.exact.iter().any(|e| text.contains(e.as_str()))
        || n.nocase
            .iter()
            .any(|e| lower.contains(&e.to_ascii_lowercase()))
}

/// Runs `(condition, expected)` rows against [`RECORD`]; all failures are reported together.
fn check(rows: &[(&str, bool)]) {
    check_on(RECORD, rows);
}

/// [`check`] against another record.
pub(super) fn check_on(record: &str, rows: &[(&str, bool)]) {
    let rec: Value = sonic_rs::from_str(record).expect("test record");
    let mut failures = Vec::new();
    for &(src, want) in rows {
        let c = match cond(src) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{src}: rejected: {e}"));
                continue;
            }
        };
        let got = c.eval(&rec);
        if got != want {
            failures.push(format!("{src}: {got}, expected {want}"));
        }
        if Cond::Not(Box::new(c.clone())).eval(&rec) == got {
            failures.push(format!("{src}: `not` does not invert it"));
        }
        if let Some(n) = c.needles().filter(|n| got && !found(record, n)) {
            failures.push(format!("{src}: matches, but the text has none of {n:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Rows that must be rejected, with a part of the message each must give.
pub(super) fn rejected(rows: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for &(src, part) in rows {
        match cond(src) {
            Ok(c) => failures.push(format!("{src}: accepted as {c:?}")),
            Err(e) if !e.contains(part) => failures.push(format!("{src}: {e:?} lacks {part:?}")),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn equals_compares_scalars_by_type() {
    check(&[
        ("{field: s, equals: Hello World}", true),
        ("{field: s, equals: hello world}", false),
        ("{field: s, equals: Hello}", false),
        ("{field: e, equals: ''}", true),
        ("{field: s, equals: ''}", false),
        // Numbers compare as numbers, also against numeric strings.
        ("{field: num, equals: 22}", true),
        ("{field: num, equals: 22.0}", true),
        ("{field: num, equals: 23}", false),
        ("{field: ns, equals: 22}", true),
        ("{field: pad, equals: 7}", true),
        ("{field: sci, equals: 1000}", true),
        ("{field: f, equals: 2.5}", true),
        ("{field: neg, equals: -3}", true),
        ("{field: s, equals: 22}", false),
        ("{field: t, equals: 1}", false),
        // A string against a number or boolean compares with its JSON text.
        ("{field: num, equals: '22'}", true),
        ("{field: num, equals: '22.0'}", false),
        ("{field: f, equals: '2.5'}", true),
        ("{field: t, equals: 'true'}", true),
        // Booleans match booleans and their strings, in any case.
        ("{field: t, equals: true}", true),
        ("{field: t, equals: false}", false),
        ("{field: ts, equals: true}", true),
        ("{field: fs, equals: false}", true),
        ("{field: s, equals: true}", false),
        ("{field: num, equals: true}", false),
        // null matches a null value only: not an absent field, not "".
        ("{field: z, equals: null}", true),
        ("{field: missing, equals: null}", false),
        ("{field: e, equals: null}", false),
        ("{field: z, equals: ''}", false),
        ("{field: z, equals: 0}", false),
        ("{field: missing, equals: x}", false),
        // Objects are not scalars.
        ("{field: one, equals: solo}", false),
        ("{field: one.k, equals: solo}", true),
    ]);
}

#[test]
fn in_matches_any_item() {
    check(&[
        ("{field: s, in: [x, Hello World]}", true),
        ("{field: s, in: [x, y]}", false),
        ("{field: s, in: [hello world]}", false),
        ("{field: num, in: [1, 22]}", true),
        ("{field: num, in: ['22']}", true),
        ("{field: ns, in: [21, 22]}", true),
        ("{field: t, in: [22, true]}", true),
        ("{field: z, in: [x, null]}", true),
        ("{field: missing, in: [x, null]}", false),
        ("{field: arr, in: [gamma, alpha]}", true),
        ("{field: arr, in: [gamma, delta]}", false),
        // An empty list is accepted and matches nothing.
        ("{field: s, in: []}", false),
    ]);
}

#[test]
fn string_tests_prefix_suffix_contains() {
    check(&[
        ("{field: s, prefix: Hello}", true),
        ("{field: s, prefix: World}", false),
        ("{field: s, prefix: hello}", false),
        ("{field: s, prefix: [x, Hel]}", true),
        ("{field: s, prefix: Hello World}", true),
        ("{field: s, prefix: Hello World!}", false),
        ("{field: s, suffix: World}", true),
        ("{field: s, suffix: world}", false),
        ("{field: s, suffix: [Hello, orld]}", true),
        ("{field: s, contains: o W}", true),
        ("{field: s, contains: xyz}", false),
        ("{field: s, contains: [xyz, lo]}", true),
        ("{field: s, contains: ''}", true),
        ("{field: multi, contains: \"e\\nt\"}", true),
        // Numbers and booleans are tested as their JSON text; null, objects and absent never.
        ("{field: num, prefix: 2}", true),
        ("{field: num, suffix: 3}", false),
        ("{field: f, contains: '.'}", true),
        ("{field: t, contains: ru}", true),
        ("{field: z, contains: ''}", false),
        ("{field: z, prefix: n}", false),
        ("{field: one, contains: solo}", false),
        ("{field: missing, contains: ''}", false),
        // Arrays: any element.
        ("{field: arr, prefix: be}", true),
        ("{field: arr, suffix: ta}", true),
        ("{field: arr, contains: gam}", false),
        ("{field: mixed, contains: x}", true),
        ("{field: objs.k, suffix: y}", true),
        ("{field: 'objs[0].k', suffix: y}", false),
        ("{field: nested, contains: deep}", false),
        ("{field: yn, equals: no}", true),
        ("{field: yn, in: [yes, on, 'off', n, no]}", true),
        ("{field: uni, prefix: Är}", true),
        ("{field: uni, prefix: är}", false),
    ]);
}

#[test]
fn ignore_case_variants() {
    check(&[
        ("{field: s, equals: hello world, ignore_case: true}", true),
        ("{field: s, equals: hello world, ignore_case: false}", false),
        ("{field: s, equals: hello, ignore_case: true}", false),
        ("{field: s, in: [x, HELLO world], ignore_case: true}", true),
        ("{field: s, in: [x, y], ignore_case: true}", false),
        ("{field: num, equals: 22, ignore_case: true}", true),
        ("{field: shout, equals: bob, ignore_case: true}", true),
        ("{field: shout, equals: bob}", false),
        ("{field: s, prefix: hELLO, ignore_case: true}", true),
        ("{field: s, suffix: WORLD, ignore_case: true}", true),
        ("{field: s, contains: O w, ignore_case: true}", true),
        ("{field: s, contains: xyz, ignore_case: true}", false),
        ("{field: uni, prefix: äR, ignore_case: true}", true),
        ("{field: uni, equals: ÄRGER, ignore_case: true}", true),
        ("{field: arr, equals: BETA, ignore_case: true}", true),
        ("{field: z, equals: null, ignore_case: false}", true),
        ("{field: s, glob: 'hello *', ignore_case: true}", true),
        ("{field: s, glob: 'hello *'}", false),
        ("{field: s, regex: '^hello', ignore_case: true}", true),
        ("{field: s, regex: '^hello'}", false),
        ("{field: s, regex: '(?i)^hello'}", true),
        ("{field: who, equals_field: shout, ignore_case: true}", true),
        ("{field: who, equals_field: shout}", false),
    ]);
}

#[test]
fn glob_star_and_question_mark_only() {
    check(&[
        ("{field: arn, glob: 'arn:aws:iam::*:role/*'}", true),
        ("{field: arn, glob: 'arn:aws:iam::*:user/*'}", false),
        ("{field: arn, glob: '*role/admin'}", false),
        ("{field: arn, glob: '*role/admin', ignore_case: true}", true),
        ("{field: arn, glob: [x*, '*/Admin']}", true),
        // `*` crosses `/` and matches the empty run; the glob covers the whole value.
        ("{field: arn, glob: 'arn*Admin'}", true),
        ("{field: s, glob: 'Hello World*'}", true),
        ("{field: s, glob: 'World'}", false),
        ("{field: s, glob: '*World'}", true),
        ("{field: s, glob: '*'}", true),
        ("{field: e, glob: '*'}", true),
        ("{field: multi, glob: 'one*two'}", true),
        ("{field: arn, glob: 'arn:**'}", true),
        // `?` is one character.
        ("{field: num, glob: '2?'}", true),
        ("{field: num, glob: '2?2'}", false),
        ("{field: num, glob: '?'}", false),
        // ... of ASCII: `?` is one byte, so a non-ASCII character takes two or more.
        ("{field: uni, glob: '?rger'}", false),
        ("{field: uni, glob: '??rger'}", true),
        // Nothing else is special.
        ("{field: odd, glob: 'a[1]{b}!c\\d'}", true),
        ("{field: odd, glob: 'a[1]*'}", true),
        ("{field: odd, glob: '*{b}*'}", true),
        ("{field: odd, glob: '*}!c*'}", true),
        ("{field: odd, glob: '*!*'}", true),
        ("{field: odd, glob: '*c\\d'}", true),
        ("{field: odd, glob: '[a]*'}", false),
        ("{field: s, glob: '{Hello,Bye} World'}", false),
        // Types and arrays as for the string tests.
        ("{field: t, glob: 't*'}", true),
        ("{field: z, glob: '*'}", false),
        ("{field: missing, glob: '*'}", false),
        ("{field: arr, glob: 'b*'}", true),
        ("{field: arr, glob: 'g*'}", false),
        ("{field: objs.k, glob: '?'}", true),
    ]);
}

#[test]
fn regex_is_unanchored_rust_syntax() {
    check(&[
        ("{field: arn, regex: '::\\d+:role/'}", true),
        ("{field: arn, regex: '::\\d+:user/'}", false),
        ("{field: s, regex: World}", true),
        ("{field: s, regex: '^World'}", false),
        ("{field: s, regex: '^Hello World$'}", true),
        ("{field: s, regex: hello}", false),
        ("{field: s, regex: [x, 'o\\sW']}", true),
        ("{field: multi, regex: '^two'}", false),
        ("{field: multi, regex: '(?m)^two'}", true),
        ("{field: num, regex: '^\\d+$'}", true),
        ("{field: t, regex: '^t'}", true),
        ("{field: z, regex: ''}", false),
        ("{field: missing, regex: ''}", false),
        ("{field: one, regex: ''}", false),
        ("{field: arr, regex: '^b'}", true),
        ("{field: nums, regex: '^1\\d$'}", true),
        ("{field: uni, regex: '^\\w+$'}", true),
    ]);
}

#[test]
fn cidr_matches_ip_addresses() {
    check(&[
        ("{field: ip, cidr: 10.0.0.0/8}", true),
        ("{field: ip, cidr: 10.1.2.3/32}", true),
        ("{field: ip, cidr: 10.1.2.3/8}", true),
        ("{field: ip, cidr: 192.168.0.0/16}", false),
        ("{field: ip, cidr: [192.168.0.0/16, 10.1.0.0/16]}", true),
        ("{field: ip, cidr: 0.0.0.0/0}", true),
        ("{field: ip, cidr: '::/0'}", false),
        ("{field: ip6, cidr: '2001:db8::/32'}", true),
        ("{field: ip6, cidr: '2001:db9::/32'}", false),
        ("{field: ip6, cidr: 0.0.0.0/0}", false),
        // Surrounding space is ignored; an IPv4-mapped IPv6 address is IPv6.
        ("{field: ipsp, cidr: 172.16.0.0/12}", true),
        ("{field: mapped, cidr: 10.0.0.0/8}", false),
        ("{field: mapped, cidr: '::ffff:0:0/96'}", true),
        // Anything that is not an address never matches.
        ("{field: host, cidr: 0.0.0.0/0}", false),
        ("{field: num, cidr: 0.0.0.0/0}", false),
        ("{field: z, cidr: 0.0.0.0/0}", false),
        ("{field: missing, cidr: 0.0.0.0/0}", false),
        ("{field: ips, cidr: 192.168.0.0/16}", true),
        ("{field: ips, cidr: 10.0.0.0/8}", false),
    ]);
}

#[test]
fn exists_means_present_and_not_null() {
    check(&[
        ("{field: s, exists: true}", true),
        ("{field: e, exists: true}", true),
        ("{field: num, exists: true}", true),
        ("{field: t, exists: true}", true),
        ("{field: z, exists: true}", false),
        ("{field: missing, exists: true}", false),
        ("{field: z, exists: false}", true),
        ("{field: missing, exists: false}", true),
        ("{field: s, exists: false}", false),
        ("{field: one, exists: true}", true),
        ("{field: empty, exists: true}", true),
        ("{field: nulls, exists: true}", true),
        ("{field: objs.k, exists: true}", true),
        ("{field: objs.missing, exists: false}", true),
        ("{field: userIdentity.userName, exists: true}", true),
        ("{field: s.deeper, exists: true}", false),
        ("{field: 'pol.Statement[0].Effect', exists: true}", true),
    ]);
}

#[test]
fn equals_field_compares_two_fields() {
    check(&[
        ("{field: who, equals_field: userIdentity.userName}", true),
        ("{field: who, equals_field: s}", false),
        ("{field: who, equals_field: missing}", false),
        ("{field: missing, equals_field: who}", false),
        ("{field: missing, equals_field: nope}", false),
        ("{field: z, equals_field: z}", false),
        ("{field: num, equals_field: numtext}", true),
        ("{field: pick, equals_field: arr}", true),
        ("{field: arr, equals_field: pick}", true),
        ("{field: arr, equals_field: objs.k}", false),
        ("{field: s, equals_field: s}", true),
        ("{field: one, equals_field: one}", false),
    ]);
}

#[test]
fn numeric_comparisons() {
    check(&[
        ("{field: num, gt: 21}", true),
        ("{field: num, gt: 22}", false),
        ("{field: num, gte: 22}", true),
        ("{field: num, gte: 22.5}", false),
        ("{field: num, lt: 23}", true),
        ("{field: num, lt: 22}", false),
        ("{field: num, lte: 22}", true),
        ("{field: num, lte: 21.5}", false),
        ("{field: f, gt: 2}", true),
        ("{field: neg, lt: 0}", true),
        ("{field: neg, gte: -3}", true),
        // Numeric strings count, with surrounding space and exponents; other strings do not.
        ("{field: ns, gt: 21}", true),
        ("{field: pad, lte: 7}", true),
        ("{field: sci, gt: 999}", true),
        ("{field: s, gt: 0}", false),
        ("{field: s, lt: 0}", false),
        ("{field: e, lt: 1}", false),
        // Rust's float syntax: "inf" is a numeric string.
        ("{field: inf, gt: 1000000}", true),
        ("{field: t, gt: 0}", false),
        ("{field: z, lt: 1}", false),
        ("{field: missing, lt: 1}", false),
        ("{field: one, lt: 1}", false),
        // Arrays: any element.
        ("{field: nums, gt: 9}", true),
        ("{field: nums, gt: 10}", false),
        ("{field: nums, lt: 2}", true),
        ("{field: mixed, gte: 7}", true),
    ]);
}

#[test]
fn combinators_all_any_not() {
    check(&[
        ("{all: []}", true),
        ("{any: []}", false),
        (
            "{all: [{field: num, equals: 22}, {field: s, prefix: Hello}]}",
            true,
        ),
        (
            "{all: [{field: num, equals: 22}, {field: s, prefix: Bye}]}",
            false,
        ),
        (
            "{any: [{field: num, equals: 21}, {field: s, prefix: Hello}]}",
            true,
        ),
        (
            "{any: [{field: num, equals: 21}, {field: s, prefix: Bye}]}",
            false,
        ),
        ("{not: {field: num, equals: 21}}", true),
        ("{not: {field: num, equals: 22}}", false),
        ("{not: {not: {field: num, equals: 22}}}", true),
        // `not` negates the whole test: "no value passes", also for absent fields.
        ("{not: {field: arr, equals: alpha}}", false),
        ("{not: {field: arr, equals: gamma}}", true),
        ("{not: {field: missing, equals: x}}", true),
        ("{not: {field: missing, exists: true}}", true),
        (
            "{all: [{any: [{field: ip, cidr: 10.0.0.0/8}, {field: ip, cidr: 192.168.0.0/16}]}, \
             {not: {field: arn, glob: '*:user/*'}}, {field: s, regex: 'W.rld$'}]}",
            true,
        ),
        (
            "{any: [{all: [{field: t, equals: true}, {field: z, exists: true}]}, \
             {all: [{field: nums, gt: 100}]}]}",
            false,
        ),
    ]);
}

#[test]
fn paths_walk_arrays_case_and_embedded_json() {
    check(&[
        ("{field: 'objs[*].k', equals: y}", true),
        ("{field: objs.k, equals: y}", true),
        ("{field: 'objs[1].k', equals: y}", true),
        ("{field: 'objs[0].k', equals: y}", false),
        ("{field: 'objs[5].k', exists: false}", true),
        ("{field: 'one[*].k', equals: solo}", true),
        ("{field: 'arr[1]', equals: beta}", true),
        ("{field: USERIDENTITY.username, equals: bob}", true),
        ("{field: '\"s\"', equals: Hello World}", true),
        ("{field: 'pol.Statement[*].Effect', equals: Allow}", true),
        (
            "{field: pol.Statement.Principal.AWS, suffix: user/a+b}",
            true,
        ),
        ("{field: 'upol.Statement[*].Effect', equals: Deny}", true),
        // Form encoding: `+` is a space, `%2B` a plus.
        ("{field: 'upol.Statement[*].Sid', equals: a+b c}", true),
        ("{field: s.Statement, exists: true}", false),
    ]);
}

#[test]
fn case_folding_never_hides_a_match_from_the_prefilter() {
    // The Kelvin sign lower-cases to `k`, the dotted capital I to `i` + a combining dot: a
    // record spelled with them matches case-insensitive string tests, so the prefilter must not
    // require those ASCII letters in the text. (Regular expressions fold the long s to `s` too,
    // but give no needles.)
    let record = "{\"ua\": \"\u{212A}ali \u{17F}can sud\u{130}\"}";
    check_on(
        record,
        &[
            ("{field: ua, contains: kali, ignore_case: true}", true),
            ("{field: ua, prefix: kali, ignore_case: true}", true),
            ("{field: ua, contains: ' sudi', ignore_case: true}", true),
            ("{field: ua, contains: kali}", false),
            // Globs fold ASCII letters only.
            ("{field: ua, glob: '*KALI*', ignore_case: true}", false),
            ("{field: ua, glob: '*ALI*', ignore_case: true}", true),
            ("{field: ua, glob: '*scan*', ignore_case: true}", false),
            ("{field: ua, regex: kali, ignore_case: true}", true),
            ("{field: ua, regex: SCAN, ignore_case: true}", true),
        ],
    );
}

#[test]
fn malformed_conditions_are_rejected_with_the_reason() {
    rejected(&[
        ("{field: s}", "needs exactly one test"),
        ("{field: s, equals: a, prefix: b}", "needs exactly one test"),
        ("{field: s, like: a}", "unknown test 'like'"),
        ("{field: s, equals: [a, b]}", "expected a scalar"),
        ("{field: s, in: a}", "`in` needs a list"),
        ("{field: s, in: [[a]]}", "expected a scalar"),
        ("{field: s, prefix: []}", "needs at least one value"),
        (
            "{field: s, contains: {a: 1}}",
            "must be a string or a list of strings",
        ),
        ("{field: s, glob: []}", "needs at least one value"),
        ("{field: s, regex: '('}", "bad regex '('"),
        ("{field: ip, cidr: 10.0.0.1}", "bad CIDR '10.0.0.1'"),
        ("{field: ip, cidr: 300.0.0.0/8}", "bad CIDR"),
        ("{field: s, exists: 'yes'}", "`exists` takes true or false"),
        (
            "{field: s, equals_field: 3}",
            "`equals_field` takes a field path",
        ),
        ("{field: s, equals_field: 'a..b'}", "'a..b'"),
        ("{field: num, gt: '5'}", "`gt` takes a number"),
        ("{field: num, lte: null}", "`lte` takes a number"),
        (
            "{field: s, equals: a, ignore_case: 'yes'}",
            "ignore_case must be true or false",
        ),
        ("{field: 'a.', equals: x}", "field 'a.'"),
        (
            "{field: 3, equals: x}",
            "expected `all`, `any`, `not`, or `field`",
        ),
        (
            "{all: [], any: []}",
            "expected `all`, `any`, `not`, or `field`",
        ),
        (
            "{all: {field: s, exists: true}}",
            "where.all must be a list",
        ),
        ("{any: [x]}", "where.any[0]: a condition must be a mapping"),
        (
            "{not: [{field: s, exists: true}]}",
            "where.not: a condition must be a mapping",
        ),
        ("[a]", "a condition must be a mapping"),
    ]);
}

fn field(path: &str, test: Test) -> Cond {
    Cond::Field {
        path: FieldPath::parse(path).unwrap(),
        test,
    }
}

fn rec(json: &str) -> Value {
    sonic_rs::from_str(json).unwrap()
}

#[test]
fn tests_on_types() {
    let r = rec(
        r#"{"a":"22","n":22,"b":"false","ip":"10.1.2.3","arn":"arn:aws:iam::1:role/Admin","z":null}"#,
    );
    assert!(field("a", Test::Equals(vec![Scalar::Num(22.0)])).eval(&r));
    assert!(field("n", Test::Equals(vec![Scalar::Str("22".into())])).eval(&r));
    assert!(field("b", Test::Equals(vec![Scalar::Bool(false)])).eval(&r));
    assert!(field("n", Test::Num(Cmp::Lte, 22.0)).eval(&r));
    assert!(!field("n", Test::Num(Cmp::Gt, 22.0)).eval(&r));
    assert!(field("ip", Test::Cidr(vec!["10.0.0.0/8".parse().unwrap()])).eval(&r));
    assert!(!field("ip", Test::Cidr(vec!["::/0".parse().unwrap()])).eval(&r));
    assert!(
        field(
            "arn",
            Test::Glob(vec![glob("arn:aws:iam::*:role/*", false).unwrap()])
        )
        .eval(&r)
    );
    assert!(field("arn", Test::Glob(vec![glob("*ROLE/admin", true).unwrap()])).eval(&r));
    let contains = Test::Str {
        op: StrOp::Contains,
        needles: vec!["role/".into()],
        nocase: false,
    };
    assert!(field("arn", contains).eval(&r));
    assert!(field("arn", Test::Regex(vec![Regex::new(r"::\d+:role").unwrap()])).eval(&r));
    assert!(field("arn", Test::Exists(true)).eval(&r));
    assert!(field("z", Test::Exists(false)).eval(&r));
    assert!(field("missing", Test::Exists(false)).eval(&r));
    let not = Cond::Not(Box::new(field(
        "a",
        Test::Equals(vec![Scalar::Str("22".into())]),
    )));
    assert!(!not.eval(&r));
}

#[test]
fn needles_are_sound_and_ordered() {
    let c = Cond::all(vec![
        field("x", Test::Regex(vec![Regex::new("a").unwrap()])),
        field(
            "errorCode",
            Test::Equals(vec![Scalar::Str("AccessDenied".into())]),
        ),
        field("ip", Test::Exists(true)),
    ]);
    assert!(
        matches!(&c, Cond::All(v) if matches!(v.last(), Some(Cond::Field { test: Test::Regex(_), .. })))
    );
    assert_eq!(c.needles().unwrap().exact, ["AccessDenied"]);
    let any = Cond::any(vec![
        field("a", Test::Equals(vec![Scalar::Str("Root".into())])),
        field("b", Test::Regex(vec![Regex::new("x").unwrap()])),
    ]);
    assert_eq!(any.needles(), None);
    assert_eq!(
        needle("arn:aws:iam::*:role/terraform-*"),
        Some("terraform-".into())
    );
    assert_eq!(needle("0.0.0.0/0"), Some("0.0.0.0".into()));
    assert_eq!(needle("*"), None);
}
