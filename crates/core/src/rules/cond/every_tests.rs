//! Tests of `every: true`: a field test that holds only when every value the path reaches passes
//! (and it reaches one), as rules that judge a whole change batch need.

use super::tests::{check_on, rejected};

/// A Route 53 change batch: two ACM validation records and, in `mixed`, one more record.
const BATCH: &str = r#"{
  "acm": {"changes": [
    {"action": "UPSERT", "resourceRecordSet": {"name": "_a1.example.com.", "type": "CNAME",
      "resourceRecords": [{"value": "_b1.abcdefg.acm-validations.aws."}]}},
    {"action": "UPSERT", "resourceRecordSet": {"name": "_a2.www.example.com.", "type": "CNAME",
      "resourceRecords": [{"value": "_b2.abcdefg.acm-validations.aws."}]}}]},
  "mixed": {"changes": [
    {"action": "UPSERT", "resourceRecordSet": {"name": "_a1.example.com.", "type": "CNAME",
      "resourceRecords": [{"value": "_b1.abcdefg.acm-validations.aws."}]}},
    {"action": "UPSERT", "resourceRecordSet": {"name": "www.example.com.", "type": "A",
      "resourceRecords": [{"value": "203.0.113.7"}]}}]},
  "list": ["INSERT", "INSERT"], "one": "INSERT", "empty": [], "nums": [2, 4, 8],
  "objs": [{"k": "x"}, {"k": "x"}]
}"#;

#[test]
fn every_value_must_pass_and_one_must_exist() {
    check_on(
        BATCH,
        &[
            (
                "{ field: 'acm.changes[*].resourceRecordSet.resourceRecords[*].value', suffix: .acm-validations.aws., every: true }",
                true,
            ),
            (
                "{ field: 'mixed.changes[*].resourceRecordSet.resourceRecords[*].value', suffix: .acm-validations.aws., every: true }",
                false,
            ),
            // Without `every`, one passing value is enough.
            (
                "{ field: 'mixed.changes[*].resourceRecordSet.resourceRecords[*].value', suffix: .acm-validations.aws. }",
                true,
            ),
            (
                "{ field: 'acm.changes[*].resourceRecordSet.type', equals: CNAME, every: true }",
                true,
            ),
            (
                "{ field: 'mixed.changes[*].resourceRecordSet.type', equals: CNAME, every: true }",
                false,
            ),
            // A terminal list is judged by its items.
            ("{ field: list, equals: INSERT, every: true }", true),
            ("{ field: one, equals: INSERT, every: true }", true),
            ("{ field: nums, gte: 2, every: true }", true),
            ("{ field: nums, gt: 2, every: true }", false),
            ("{ field: 'objs[*].k', in: [x, y], every: true }", true),
            // Nothing reached: false (there is no value to vouch for).
            ("{ field: empty, equals: INSERT, every: true }", false),
            ("{ field: missing, equals: INSERT, every: true }", false),
            // An object where a scalar was expected fails the test.
            ("{ field: objs, equals: x, every: true }", false),
            ("{ field: list, equals: INSERT, every: false }", true),
        ],
    );
}

#[test]
fn every_is_refused_where_it_means_nothing() {
    rejected(&[
        (
            "{ field: list, exists: true, every: true }",
            "`every` does not apply",
        ),
        (
            "{ field: list, equals_field: one, every: true }",
            "`every` does not apply",
        ),
        (
            "{ field: list, equals: INSERT, every: yes }",
            "every must be true or false",
        ),
    ]);
}
