//! SQS message bodies: decides what one message means for a CloudTrail watcher.
//!
//! A queue that feeds the watcher can carry S3 event notifications, CloudTrail's own SNS
//! notifications, EventBridge events (S3 "Object Created" or CloudTrail records themselves),
//! SNS envelopes around any of these (unless raw message delivery is on), and noise such as
//! `s3:TestEvent` or SNS subscription confirmations. [`parse`] reads the shape from the content,
//! never from the order of keys, and says which objects to fetch, whether the body already holds
//! records, or why there is nothing to do.
//!
//! This module is pure and synchronous: it fetches nothing, and it does not filter keys (digest
//! files under `CloudTrail-Digest/` are returned; the caller skips them).

use percent_encoding::percent_decode_str;
use serde_json::Value;

/// An S3 object a notification points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    /// The object key, decoded (S3 event notifications form-URL-encode it).
    pub key: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub sequencer: Option<String>,
}

/// What a message body asks the watcher to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// New objects to read (S3 event notification, SNS-wrapped S3 notification, CloudTrail's own
    /// SNS notification, EventBridge "Object Created").
    Objects(Vec<ObjectRef>),
    /// The body itself holds CloudTrail record(s): an EventBridge event whose detail-type is a
    /// CloudTrail one or whose detail is a CloudTrail record, a `{"Records":[...]}` log file or a
    /// bare record, possibly SNS-wrapped. Carries the JSON text (unwrapped from SNS if needed),
    /// which the caller scans like a file.
    Inline(String),
    /// Nothing to do, with the reason: `s3:TestEvent` (direct or SNS-wrapped), SNS subscription
    /// and unsubscribe confirmations, S3 events that are not object creation, EventBridge S3
    /// events other than "Object Created", and notifications that list no object.
    Ignore(String),
}

/// Why a message body could not be understood. Records are numbered from 1.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NotifyError {
    #[error("message body is not JSON: {0}")]
    NotJson(String),
    #[error("unrecognised message body ({0})")]
    Unknown(String),
    #[error("malformed message body: {0}")]
    Malformed(String),
}

/// SNS envelopes nested deeper than this are refused rather than unwrapped.
const MAX_SNS_DEPTH: usize = 4;

/// Decides what one SQS message body means.
pub fn parse(body: &str) -> Result<Notice, NotifyError> {
    let value = serde_json::from_str(body).map_err(|e| NotifyError::NotJson(e.to_string()))?;
    classify(&value, body, 0)
}

/// Classifies a parsed value; `text` is its JSON text, handed back for [`Notice::Inline`].
fn classify(v: &Value, text: &str, depth: usize) -> Result<Notice, NotifyError> {
    let Some(obj) = v.as_object() else {
        return Err(unknown(describe(v)));
    };
    if let Some(records) = obj.get("Records") {
        let items = records
            .as_array()
            .ok_or_else(|| malformed("Records is not an array"));
        return records_array(items?, text);
    }
    let sns_like = obj.contains_key("TopicArn") || obj.contains_key("MessageId");
    if let Some(kind) = str_at(v, "/Type").filter(|_| sns_like) {
        return sns(v, kind, depth);
    }
    if str_at(v, "/Event") == Some("s3:TestEvent") {
        return Ok(Notice::Ignore("s3:TestEvent".into()));
    }
    if obj.contains_key("s3ObjectKey") || obj.contains_key("s3Bucket") {
        return cloudtrail_sns(v);
    }
    if obj.contains_key("detail-type") {
        return eventbridge(v, text);
    }
    // A single CloudTrail record, which the scanner reads like a one-record file.
    if is_cloudtrail_record(v) {
        return Ok(Notice::Inline(text.to_string()));
    }
    Err(unknown(describe(v)))
}

/// `{"Records":[...]}`: an S3 event notification, or a CloudTrail log file sent as the body.
///
/// A CloudTrail log file is not a notification, but it does hold CloudTrail records, so it is
/// returned as [`Notice::Inline`] rather than refused. Lambda event batches (`aws:sqs`,
/// `aws:sns`) are refused: they wrap message bodies and are not one.
fn records_array(items: &[Value], text: &str) -> Result<Notice, NotifyError> {
    if items.is_empty() {
        return Ok(Notice::Ignore("empty Records array".into()));
    }
    if items.iter().any(|r| source_of(r) == Some("aws:s3")) {
        return s3_records(items);
    }
    let batch = |r| source_of(r).filter(|s| s.starts_with("aws:"));
    if let Some(src) = items.iter().find_map(batch) {
        return Err(unknown(format!("a Records batch from {src}")));
    }
    if items.iter().all(is_cloudtrail_record) {
        return Ok(Notice::Inline(text.to_string()));
    }
    Err(unknown("Records neither from S3 nor CloudTrail"))
}

fn s3_records(items: &[Value]) -> Result<Notice, NotifyError> {
    let mut objects = Vec::new();
    let mut skipped: Vec<&str> = Vec::new();
    for (i, r) in items.iter().enumerate() {
        let bad = |what: &str| malformed(format!("S3 notification record {} {what}", i + 1));
        if source_of(r) != Some("aws:s3") {
            return Err(bad("is not an aws:s3 event"));
        }
        let name = str_at(r, "/eventName").ok_or_else(|| bad("has no eventName"))?;
        if !name.starts_with("ObjectCreated:") {
            if !skipped.contains(&name) {
                skipped.push(name);
            }
            continue;
        }
        let bucket = str_at(r, "/s3/bucket/name").ok_or_else(|| bad("has no s3.bucket.name"))?;
        let raw_key = str_at(r, "/s3/object/key").ok_or_else(|| bad("has no s3.object.key"))?;
        let key = decode_form_key(raw_key).ok_or_else(|| bad("has a key that is not UTF-8"))?;
        objects.push(object(bucket, key, r.pointer("/s3/object"), "eTag"));
    }
    if objects.is_empty() {
        let why = format!("no ObjectCreated records ({})", skipped.join(", "));
        return Ok(Notice::Ignore(why));
    }
    Ok(Notice::Objects(objects))
}

/// An SNS envelope (SNS-to-SQS delivery without raw message delivery).
fn sns(v: &Value, kind: &str, depth: usize) -> Result<Notice, NotifyError> {
    match kind {
        "Notification" if depth >= MAX_SNS_DEPTH => Err(malformed("SNS envelopes nested too deep")),
        "Notification" => {
            let msg = str_at(v, "/Message").ok_or_else(|| malformed("SNS Message is missing"))?;
            let inner = serde_json::from_str(msg)
                .map_err(|e| unknown(format!("an SNS Message that is not JSON: {e}")))?;
            classify(&inner, msg, depth + 1).map_err(|e| match e {
                NotifyError::Unknown(s) => unknown(format!("an SNS notification carrying {s}")),
                NotifyError::Malformed(s) => malformed(format!("in the SNS Message: {s}")),
                other => other,
            })
        }
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
            Ok(Notice::Ignore(format!("SNS {kind}")))
        }
        other => Err(unknown(format!("an SNS message of Type {other:?}"))),
    }
}

/// CloudTrail's own SNS notification: `{"s3Bucket":..,"s3ObjectKey":[..]}`, keys not encoded.
fn cloudtrail_sns(v: &Value) -> Result<Notice, NotifyError> {
    let bad = |what: String| malformed(format!("CloudTrail notification {what}"));
    let bucket = str_at(v, "/s3Bucket").ok_or_else(|| bad("has no s3Bucket".into()))?;
    let keys = v.get("s3ObjectKey").and_then(Value::as_array);
    let keys = keys.ok_or_else(|| bad("has no s3ObjectKey array".into()))?;
    if keys.is_empty() {
        return Ok(Notice::Ignore("CloudTrail notification, no keys".into()));
    }
    let key_at = |i: usize, k: &Value| match k.as_str().filter(|k| !k.is_empty()) {
        Some(k) => Ok(object(bucket, k.to_string(), None, "")),
        None => Err(bad(format!("s3ObjectKey {} is not a key", i + 1))),
    };
    let objects = keys.iter().enumerate().map(|(i, k)| key_at(i, k));
    objects.collect::<Result<_, _>>().map(Notice::Objects)
}

/// An EventBridge event. CloudTrail is checked before S3 because S3 API calls recorded by
/// CloudTrail arrive with `source: aws.s3` too.
fn eventbridge(v: &Value, text: &str) -> Result<Notice, NotifyError> {
    let bad = |what: &str| malformed(format!("EventBridge event has no {what}"));
    let kind = str_at(v, "/detail-type").ok_or_else(|| bad("detail-type string"))?;
    let detail = v.get("detail").filter(|d| d.is_object());
    if kind.ends_with("via CloudTrail") || detail.is_some_and(is_cloudtrail_record) {
        return Ok(Notice::Inline(text.to_string()));
    }
    if str_at(v, "/source") != Some("aws.s3") {
        return Err(unknown(format!("an EventBridge event of type {kind:?}")));
    }
    if kind != "Object Created" {
        return Ok(Notice::Ignore(format!("EventBridge S3 event {kind}")));
    }
    let bucket = str_at(v, "/detail/bucket/name").ok_or_else(|| bad("detail.bucket.name"))?;
    // EventBridge keys are not URL-encoded: `+` is a plus sign.
    let key = str_at(v, "/detail/object/key").ok_or_else(|| bad("detail.object.key"))?;
    let found = object(bucket, key.to_string(), v.pointer("/detail/object"), "etag");
    Ok(Notice::Objects(vec![found]))
}

/// Builds an [`ObjectRef`] from the notification's object JSON, if any; optional fields of the
/// wrong type are treated as absent.
fn object(bucket: &str, key: String, meta: Option<&Value>, etag: &str) -> ObjectRef {
    let text = |name: &str| meta.and_then(|m| m.get(name)?.as_str()).map(str::to_string);
    ObjectRef {
        bucket: bucket.to_string(),
        key,
        size: meta.and_then(|m| m.get("size")?.as_u64()),
        etag: text(etag),
        sequencer: text("sequencer"),
    }
}

/// Decodes an S3 notification key: `+` is a space, then percent escapes (so `%2B` is a `+`).
fn decode_form_key(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    Some(percent_decode_str(&spaced).decode_utf8().ok()?.into_owned())
}

fn is_cloudtrail_record(v: &Value) -> bool {
    str_at(v, "/eventName").is_some() && source_of(v).is_some_and(|s| !s.starts_with("aws:"))
}

fn source_of(v: &Value) -> Option<&str> {
    str_at(v, "/eventSource").or_else(|| str_at(v, "/EventSource"))
}

/// A non-empty string at a JSON pointer.
fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)?.as_str().filter(|s| !s.is_empty())
}

fn malformed(msg: impl Into<String>) -> NotifyError {
    NotifyError::Malformed(msg.into())
}

fn unknown(msg: impl Into<String>) -> NotifyError {
    NotifyError::Unknown(msg.into())
}

/// Describes an unrecognised value for [`NotifyError::Unknown`], naming at most 8 keys.
fn describe(v: &Value) -> String {
    let Some(map) = v.as_object().filter(|m| !m.is_empty()) else {
        let kind = match v {
            Value::Object(_) => "an empty JSON object",
            Value::Array(_) => "a JSON array",
            Value::String(_) => "a JSON string",
            _ => "a JSON scalar",
        };
        return kind.to_string();
    };
    let mut keys: Vec<String> = map.keys().map(|k| k.chars().take(64).collect()).collect();
    keys.sort_unstable();
    let more = keys.len().saturating_sub(8);
    keys.truncate(8);
    let list = keys.join(", ");
    match more {
        0 => format!("a JSON object with keys: {list}"),
        n => format!("a JSON object with keys: {list}, and {n} more"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CORPUS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/corpus/cloudtrail-rs-envelopes/envelopes"
    );

    /// Expected outcomes, one line per corpus file, one ` | `-separated entry per message body.
    /// `sqs-*` files are batches whose `Records[*].body` are bodies; `sns-*` files are Lambda SNS
    /// events, refused whole, whose `Records[*].Sns` is the envelope SNS delivers to SQS.
    const EXPECTED: &str = "\
eventbridge-object-annotation-created.json: ignore: EventBridge S3 event Object Annotation Created
eventbridge-object-created-plus-key.json: s3://ct-siem-sync/my+file.json.gz
eventbridge-object-created-unsupported-version.json: s3://amzn-s3-demo-bucket1/example-key
eventbridge-object-created.json: s3://amzn-s3-demo-bucket1/example-key
eventbridge-object-deleted.json: ignore: EventBridge S3 event Object Deleted
eventbridge-object-restore-completed.json: ignore: EventBridge S3 event Object Restore Completed
s3-event-object-created.json: $CT
s3-event-urlencoded-key.json: s3://ct-siem-sync/my file=a.json.gz
s3-test-event.json: ignore: s3:TestEvent
sns-s3-event.json: $LAMBDA | $CT
sns-s3-test-event.json: $LAMBDA | ignore: s3:TestEvent
sqs-batch-partial-garbage.json: $CT | not json | s3://ct-siem-sync/second-sibling-object.json.gz
sqs-s3-event.json: $CT
sqs-sns-event.json: $CT";

    /// One line per outcome, so expectations read as a table.
    fn summary(body: &str) -> String {
        match parse(body) {
            Ok(Notice::Objects(o)) => {
                let url = |o: &ObjectRef| format!("s3://{}/{}", o.bucket, o.key);
                o.iter().map(url).collect::<Vec<_>>().join(" ")
            }
            Ok(Notice::Inline(_)) => "inline".into(),
            Ok(Notice::Ignore(why)) => format!("ignore: {why}"),
            Err(NotifyError::NotJson(_)) => "not json".into(),
            Err(e) => e.to_string(),
        }
    }

    fn outcomes(name: &str, text: &str) -> String {
        let v: Value = serde_json::from_str(text).expect("corpus file is JSON");
        let items = || v["Records"].as_array().expect("batch has Records").iter();
        let mut out: Vec<String> = Vec::new();
        if name.starts_with("sqs-") {
            out.extend(items().map(|r| summary(r["body"].as_str().expect("body"))));
        } else {
            out.push(summary(text));
        }
        if name.starts_with("sns-") {
            out.extend(items().map(|r| summary(&r["Sns"].to_string())));
        }
        format!("{name}: {}", out.join(" | "))
    }

    #[test]
    fn corpus_envelopes() {
        if !std::path::Path::new(CORPUS).is_dir() {
            let on_ci = std::env::var("CI").as_deref() == Ok("true");
            assert!(!on_ci, "{CORPUS} absent on CI");
            eprintln!("skipped: {CORPUS} absent");
            return;
        }
        let mut got = Vec::new();
        for entry in std::fs::read_dir(CORPUS).expect("corpus readable") {
            let path = entry.expect("dir entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).expect("name");
            if name.ends_with(".json") {
                let text = std::fs::read_to_string(&path).expect("read");
                got.push(outcomes(name, &text));
            }
        }
        got.sort();
        let lambda = "unrecognised message body (a Records batch from aws:sns)";
        let ct = "s3://lambda-artifacts-deafc19498e3f2df/b21b84d653bb07b05b1e6b33684dc11b";
        let want = EXPECTED.replace("$CT", ct).replace("$LAMBDA", lambda);
        assert_eq!(got.join("\n"), want);
    }

    fn s3_body(records: &[(&str, Option<&str>)]) -> String {
        let record = |(event, key): &(&str, Option<&str>)| {
            let object = json!({"key": key, "size": 42, "eTag": "abc", "sequencer": "0A"});
            let s3 = json!({"bucket": {"name": "trail"}, "object": object});
            json!({"eventSource": "aws:s3", "eventName": event, "s3": s3})
        };
        json!({"Records": records.iter().map(record).collect::<Vec<_>>()}).to_string()
    }

    fn sns(message: &str) -> String {
        let arn = "arn:aws:sns:us-east-1:111122223333:trail";
        json!({"Type": "Notification", "MessageId": "m-1", "TopicArn": arn, "Message": message})
            .to_string()
    }

    #[test]
    fn form_encoded_key_is_decoded() {
        let dir = "AWSLogs%2F111122223333%2FCloudTrail%2Fus-east-1%2F2026%2F11%2F03%2F";
        let want = ObjectRef {
            bucket: "trail".into(),
            key: "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/a b+c.json.gz".into(),
            size: Some(42),
            etag: Some("abc".into()),
            sequencer: Some("0A".into()),
        };
        let body = s3_body(&[("ObjectCreated:Put", Some(&format!("{dir}a+b%2Bc.json.gz")))]);
        assert_eq!(parse(&body), Ok(Notice::Objects(vec![want.clone()])));
        assert_eq!(parse(&sns(&body)), Ok(Notice::Objects(vec![want])));
    }

    #[test]
    fn cloudtrail_sns_notification_direct_and_wrapped() {
        let log = "AWSLogs/1/CloudTrail/x%2B.json.gz";
        let digest = "AWSLogs/1/CloudTrail-Digest/d+1.json.gz";
        let body = json!({"s3Bucket": "trail", "s3ObjectKey": [log, digest]}).to_string();
        let want = format!("s3://trail/{log} s3://trail/{digest}");
        assert_eq!(summary(&body), want);
        assert_eq!(summary(&sns(&body)), want);
        let err = "malformed message body: CloudTrail notification s3ObjectKey 2 is not a key";
        let broken = r#"{"s3Bucket":"trail","s3ObjectKey":["a",7]}"#;
        assert_eq!(summary(broken), err);
    }

    #[test]
    fn eventbridge_cloudtrail_events_are_inline() {
        // An S3 data event recorded by CloudTrail has source aws.s3, yet it is a record.
        let detail = json!({"eventSource": "s3.amazonaws.com", "eventName": "PutObject"});
        let kind = "AWS API Call via CloudTrail";
        let event = json!({"detail-type": kind, "source": "aws.s3", "detail": detail}).to_string();
        assert_eq!(parse(&event), Ok(Notice::Inline(event.clone())));
        assert_eq!(parse(&sns(&event)), Ok(Notice::Inline(event)));
        let insight = r#"{"detail-type":"AWS Insight via CloudTrail","source":"aws.cloudtrail"}"#;
        assert_eq!(summary(insight), "inline");
        let err = r#"unrecognised message body (an EventBridge event of type "EC2 Spot")"#;
        let other = r#"{"detail-type":"EC2 Spot","source":"aws.ec2"}"#;
        assert_eq!(summary(other), err);
    }

    #[test]
    fn cloudtrail_records_as_body_are_inline() {
        let record = r#"{"eventSource":"iam.amazonaws.com","eventName":"CreateUser"}"#;
        let file = format!(r#"{{"Records":[{record}]}}"#);
        assert_eq!(parse(&file), Ok(Notice::Inline(file.clone())));
        assert_eq!(parse(record), Ok(Notice::Inline(record.into())));
    }

    #[test]
    fn object_removed_is_ignored() {
        let body = s3_body(&[("ObjectRemoved:Delete", Some("k"))]);
        let want = "ignore: no ObjectCreated records (ObjectRemoved:Delete)";
        assert_eq!(summary(&body), want);
    }

    #[test]
    fn sns_confirmations_are_ignored() {
        for kind in ["SubscriptionConfirmation", "UnsubscribeConfirmation"] {
            let body = json!({"Type": kind, "MessageId": "m", "TopicArn": "arn", "Message": "."});
            assert_eq!(summary(&body.to_string()), format!("ignore: SNS {kind}"));
        }
    }

    #[test]
    fn random_json_is_unknown_and_names_its_keys() {
        let want = "unrecognised message body (a JSON object with keys: alpha, zeta)";
        assert_eq!(summary(r#"{"zeta":1,"alpha":{"beta":2}}"#), want);
        let many: serde_json::Map<_, _> = (0..10).map(|i| (format!("k{i}"), json!(i))).collect();
        let want = "a JSON object with keys: k0, k1, k2, k3, k4, k5, k6, k7, and 2 more";
        assert_eq!(parse(&json!(many).to_string()), Err(unknown(want)));
        assert_eq!(parse("[1]"), Err(unknown("a JSON array")));
    }

    #[test]
    fn not_json_is_an_error() {
        assert!(matches!(parse("not json"), Err(NotifyError::NotJson(_))));
    }

    #[test]
    fn s3_record_without_key_is_malformed() {
        let (good, bad) = (
            ("ObjectCreated:Put", Some("k")),
            ("ObjectCreated:Copy", None),
        );
        let body = s3_body(&[good, bad]);
        let want = "S3 notification record 2 has no s3.object.key";
        assert_eq!(parse(&body), Err(malformed(want)));
        let want = format!("in the SNS Message: {want}");
        assert_eq!(parse(&sns(&body)), Err(malformed(want)));
    }
}
