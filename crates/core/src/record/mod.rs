//! The CloudTrail record model: one parsed event, and the lenient accessors findings are built
//! from.
//!
//! A record is any JSON object with `eventSource` and `eventName` (or a CloudTrail Insights event,
//! which keeps them under `insightDetails`). Every other field may be missing, null or of an
//! unexpected type: accessors return `None` rather than fail, so one odd field never hides an
//! event. Records come out of [`container`] either as raw bytes (parsed here only when the
//! prefilter says they can match) or already parsed (envelopes, LookupEvents rows).

pub mod container;
pub mod split;
pub mod time;

use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value};

/// Records nested deeper than this are refused before parsing. Real records stay under 15.
pub const MAX_DEPTH: u32 = 128;

/// A record that could not be used, and why. Counted as a bad record; the rest of the input is
/// still processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("item is {0}, not a record object")]
    NotObject(&'static str),
    #[error("object has no eventSource/eventName (not a CloudTrail record)")]
    NotCloudTrail,
    #[error("EventBridge event of type '{0}' does not carry a CloudTrail record")]
    OtherEventBridge(String),
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// One parsed CloudTrail event.
#[derive(Debug, Clone)]
pub struct Record {
    value: Value,
    insight: bool,
}

/// What a JSON item turned out to be.
#[derive(Debug)]
pub enum Parsed {
    Record(Record),
    /// An object holding several records (`{"Records":[...]}` met inside JSON Lines).
    Many(Vec<Value>),
    /// A CloudTrail digest file's content: skipped, not an error.
    Digest,
}

impl Record {
    /// Parses one item's JSON text. `depth` is the nesting the splitter measured.
    pub fn parse_item(bytes: &[u8], depth: u32) -> Result<Parsed, RecordError> {
        if depth > MAX_DEPTH {
            return Err(RecordError::TooDeep);
        }
        let value: Value = sonic_rs::from_slice(bytes)
            .map_err(|e| RecordError::InvalidJson(short_error(&e.to_string())))?;
        Record::classify(value)
    }

    /// Parses JSON text of unknown nesting: measures the depth first, so that no input can make
    /// the recursive parser run out of stack.
    pub fn parse_text(bytes: &[u8]) -> Result<Parsed, RecordError> {
        let at = skip_ws(bytes, 0);
        let depth = match bytes.get(at) {
            Some(b'{' | b'[') => match split::value_end(bytes, at) {
                Some((_, depth)) => depth,
                None => {
                    return Err(RecordError::InvalidJson(
                        "unbalanced or truncated JSON".into(),
                    ));
                }
            },
            _ => 0,
        };
        Record::parse_item(bytes, depth)
    }

    /// Decides what a parsed JSON value is: a record, an EventBridge envelope around one, a
    /// LookupEvents row around one, a digest, or something that is not CloudTrail.
    pub fn classify(value: Value) -> Result<Parsed, RecordError> {
        let Some(obj) = value.as_object() else {
            return Err(RecordError::NotObject(kind_of(&value)));
        };
        // LookupEvents rows carry `EventSource`/`EventName` too (matched without regard to case
        // below), so the embedded record must be looked for first.
        if let Some(text) = obj.get(&"CloudTrailEvent").and_then(|v| v.as_str()) {
            return Record::parse_text(text.as_bytes());
        }
        if field(&value, "eventSource").is_some() && field(&value, "eventName").is_some() {
            return Ok(Parsed::Record(Record {
                value,
                insight: false,
            }));
        }
        if let Some(detail_type) = obj.get(&"detail-type").and_then(|v| v.as_str()) {
            let detail = obj.get(&"detail").filter(|d| d.is_object());
            return match detail {
                Some(d) if d.get("eventSource").is_some() || is_insight(d) => {
                    Record::classify(d.clone())
                }
                _ => Err(RecordError::OtherEventBridge(detail_type.to_string())),
            };
        }
        if is_insight(&value) {
            return Ok(Parsed::Record(Record {
                value,
                insight: true,
            }));
        }
        if let Some(records) = obj.get(&"Records").and_then(|r| r.as_array()) {
            return Ok(Parsed::Many(records.iter().cloned().collect()));
        }
        if obj.get(&"digestPublicKeyFingerprint").is_some() || obj.get(&"digestS3Object").is_some()
        {
            return Ok(Parsed::Digest);
        }
        Err(RecordError::NotCloudTrail)
    }

    /// The whole record as JSON.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Whether this is a CloudTrail Insights event (about an API's call rate, not one call).
    pub fn is_insight(&self) -> bool {
        self.insight
    }

    /// A top-level string field.
    pub fn str(&self, key: &str) -> Option<&str> {
        field(&self.value, key).and_then(|v| v.as_str())
    }

    pub fn event_source(&self) -> Option<&str> {
        self.str("eventSource")
    }

    pub fn event_name(&self) -> Option<&str> {
        self.str("eventName")
    }

    /// `eventTime` as written, if it is a string.
    pub fn event_time_raw(&self) -> Option<&str> {
        self.str("eventTime")
    }

    /// The account the event was delivered to: `recipientAccountId`, else the caller's account.
    pub fn account_id(&self) -> Option<&str> {
        self.str("recipientAccountId")
            .or_else(|| self.identity_str("accountId"))
    }

    pub fn region(&self) -> Option<&str> {
        self.str("awsRegion")
    }

    /// `readOnly`, accepting the strings "true"/"false" some producers write.
    pub fn read_only(&self) -> Option<bool> {
        let v = field(&self.value, "readOnly")?;
        v.as_bool()
            .or_else(|| match v.as_str()?.to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            })
    }

    /// A string field of `userIdentity`.
    pub fn identity_str(&self, key: &str) -> Option<&str> {
        field(&self.value, "userIdentity")
            .and_then(|u| field(u, key))
            .and_then(|v| v.as_str())
    }

    /// The identity type, e.g. `IAMUser`, `AssumedRole`, `Root`; `AWSService` for events an AWS
    /// service made on its own (`invokedBy` without a type).
    pub fn actor_type(&self) -> Option<&str> {
        self.identity_str("type")
            .or_else(|| self.identity_str("invokedBy").map(|_| "AWSService"))
    }

    /// The best description of who acted: the principal's ARN, else the service that invoked
    /// the call, else the user name or principal id.
    pub fn actor(&self) -> Option<String> {
        let issuer = || {
            self.value
                .get("userIdentity")
                .and_then(|u| u.get("sessionContext"))
                .and_then(|s| s.get("sessionIssuer"))
                .and_then(|i| i.get("arn"))
                .and_then(|v| v.as_str())
        };
        if let Some(arn) = self.identity_str("arn").filter(|s| !s.is_empty()) {
            return Some(arn.to_string());
        }
        if let Some(service) = self.identity_str("invokedBy") {
            return Some(service.to_string());
        }
        if let Some(arn) = issuer() {
            return Some(arn.to_string());
        }
        if let Some(name) = self.identity_str("userName") {
            return Some(name.to_string());
        }
        self.identity_str("principalId").map(str::to_string)
    }
}

/// A key of an object; when the exact key is absent, the same key in another letter case
/// (Athena, Glue and some SIEM exports lower-case every key).
fn field<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    value.get(key).or_else(|| {
        let obj = value.as_object()?;
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn is_insight(v: &Value) -> bool {
    v.get("eventType").and_then(|t| t.as_str()) == Some("AwsCloudTrailInsight")
}

fn kind_of(v: &Value) -> &'static str {
    if v.is_array() {
        "an array"
    } else if v.is_str() {
        "a string"
    } else if v.is_number() {
        "a number"
    } else if v.is_boolean() {
        "a boolean"
    } else {
        "null"
    }
}

/// Index of the first non-whitespace byte at or after `at`.
pub fn skip_ws(buf: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = buf.get(at) {
        at += 1;
    }
    at
}

/// Keeps parser messages to one short line.
fn short_error(msg: &str) -> String {
    let line = msg.lines().next().unwrap_or(msg);
    line.chars().take(160).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> Record {
        match Record::parse_item(json.as_bytes(), 1).unwrap() {
            Parsed::Record(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lenient_fields() {
        let r = record(
            r#"{"eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","readOnly":"false",
                "userIdentity":null,"recipientAccountId":123,"awsRegion":"eu-west-1"}"#,
        );
        assert_eq!(r.read_only(), Some(false));
        assert_eq!(r.actor(), None);
        assert_eq!(r.account_id(), None);
        assert_eq!(r.region(), Some("eu-west-1"));
    }

    #[test]
    fn lower_case_keys_from_exports() {
        let r = record(
            r#"{"eventsource":"iam.amazonaws.com","eventname":"CreateUser","awsregion":"us-east-1"}"#,
        );
        assert_eq!(
            (r.event_source(), r.event_name()),
            (Some("iam.amazonaws.com"), Some("CreateUser"))
        );
        assert_eq!(r.region(), Some("us-east-1"));
    }

    #[test]
    fn actor_preference() {
        let r = record(
            r#"{"eventSource":"x","eventName":"y","userIdentity":{"type":"AssumedRole",
                "arn":"arn:aws:sts::1:assumed-role/R/s","accountId":"1"}}"#,
        );
        assert_eq!(
            r.actor().as_deref(),
            Some("arn:aws:sts::1:assumed-role/R/s")
        );
        assert_eq!(r.account_id(), Some("1"));
        let svc = record(
            r#"{"eventSource":"x","eventName":"y","userIdentity":{"accountId":"1","invokedBy":"secretsmanager.amazonaws.com"}}"#,
        );
        assert_eq!(svc.actor_type(), Some("AWSService"));
        assert_eq!(svc.actor().as_deref(), Some("secretsmanager.amazonaws.com"));
    }

    #[test]
    fn envelopes() {
        let eb = r#"{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.iam",
            "detail":{"eventSource":"iam.amazonaws.com","eventName":"CreateUser"}}"#;
        assert_eq!(record(eb).event_name(), Some("CreateUser"));
        let s3 = r#"{"detail-type":"Object Created","detail":{"bucket":{"name":"b"}}}"#;
        assert!(matches!(
            Record::parse_item(s3.as_bytes(), 2),
            Err(RecordError::OtherEventBridge(t)) if t == "Object Created"
        ));
        let lookup = r#"{"EventId":"1","EventName":"CreateUser","EventSource":"iam.amazonaws.com",
            "CloudTrailEvent":"{\"eventSource\":\"iam.amazonaws.com\",\"eventName\":\"CreateUser\",\"userIdentity\":{\"type\":\"Root\"}}"}"#;
        let r = record(lookup);
        assert_eq!(r.event_source(), Some("iam.amazonaws.com"));
        // The embedded record is used, not the row (whose names match without regard to case).
        assert!(r.value().get("userIdentity").is_some());
        let insight =
            r#"{"eventType":"AwsCloudTrailInsight","insightDetails":{"eventName":"RunInstances"}}"#;
        assert!(record(insight).is_insight());
    }

    #[test]
    fn bad_items() {
        assert_eq!(
            Record::parse_item(b"7", 0).unwrap_err(),
            RecordError::NotObject("a number")
        );
        assert_eq!(
            Record::parse_item(b"{\"a\":1}", 1).unwrap_err(),
            RecordError::NotCloudTrail
        );
        assert!(matches!(
            Record::parse_item(b"{\"a\":", 1),
            Err(RecordError::InvalidJson(_))
        ));
        assert_eq!(
            Record::parse_item(b"[]", 500).unwrap_err(),
            RecordError::TooDeep
        );
    }
}
