//! CloudTrail's own trail events in log content: `StopLogging`, `StartLogging`, `DeleteTrail`,
//! `CreateTrail` and `UpdateTrail` (which turns log file validation on and off). They explain
//! digest gaps. Pure: uncompressed log bytes in, events out.
//!
//! Almost no log file holds one, so a byte search for the names comes first; only files that
//! contain one are split into records (by the core's container decoder) and only the records
//! containing a name are parsed.

use crate::record::container::{self, Item};
use jiff::Timestamp;
use memchr::memmem;
use serde_json::Value;

const NAMES: [&str; 5] = [
    "StopLogging",
    "StartLogging",
    "DeleteTrail",
    "CreateTrail",
    "UpdateTrail",
];

/// What an event did to a trail's digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Logging or validation stopped (StopLogging, DeleteTrail, validation turned off).
    Stop,
    /// Logging or validation (re)started.
    Start,
}

/// One successful trail event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailEvent {
    pub time: Timestamp,
    pub name: String,
    /// The trail as the request named it (a name or an ARN).
    pub trail: String,
    pub actor: String,
    pub effect: Effect,
}

impl TrailEvent {
    /// Whether the event is about trail `name` (given by name or by ARN).
    pub fn is_about(&self, name: &str) -> bool {
        self.trail == name
            || self
                .trail
                .rsplit_once(":trail/")
                .is_some_and(|(_, n)| n == name)
    }
}

fn mentions(bytes: &[u8]) -> bool {
    NAMES
        .iter()
        .any(|n| memmem::find(bytes, n.as_bytes()).is_some())
}

/// The trail events in the uncompressed content of one log file.
pub fn find(content: &[u8]) -> Vec<TrailEvent> {
    let mut out = Vec::new();
    if !mentions(content) {
        return out;
    }
    container::decode(content, |_, item| match item {
        Item::Raw { bytes, .. } if mentions(bytes) => {
            if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
                collect(&v, &mut out);
            }
        }
        Item::Raw { .. } => {}
        Item::Value(v) => {
            if let Ok(v) = serde_json::to_value(&v) {
                collect(&v, &mut out);
            }
        }
    });
    out
}

fn collect(v: &Value, out: &mut Vec<TrailEvent>) {
    if let Some(records) = v.get("Records").and_then(Value::as_array) {
        records.iter().for_each(|r| collect(r, out));
        return;
    }
    out.extend(event(v));
}

fn event(v: &Value) -> Option<TrailEvent> {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    if s("eventSource")? != "cloudtrail.amazonaws.com" || v.get("errorCode").is_some() {
        return None;
    }
    let name = s("eventName")?;
    let params = v.get("requestParameters");
    let param = |k: &str| params.and_then(|p| p.get(k));
    let validation = param("enableLogFileValidation").and_then(Value::as_bool);
    let effect = match name {
        "StopLogging" | "DeleteTrail" => Effect::Stop,
        "StartLogging" | "CreateTrail" => Effect::Start,
        "UpdateTrail" => match validation? {
            false => Effect::Stop,
            true => Effect::Start,
        },
        _ => return None,
    };
    let identity = v.get("userIdentity");
    let actor = identity
        .and_then(|u| u.get("arn"))
        .or_else(|| identity.and_then(|u| u.get("invokedBy")))
        .and_then(Value::as_str)
        .unwrap_or("an unknown principal");
    Some(TrailEvent {
        time: s("eventTime")?.parse().ok()?,
        name: name.to_string(),
        trail: param("name").and_then(Value::as_str)?.to_string(),
        actor: actor.to_string(),
        effect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_stop_and_start_only() {
        let rec = |name: &str, extra: Value| {
            let mut r = serde_json::json!({
                "eventTime": "2026-11-03T14:02:00Z", "eventSource": "cloudtrail.amazonaws.com",
                "eventName": name, "userIdentity": {"arn": "arn:aws:iam::1:user/mallory"},
                "requestParameters": {"name": "arn:aws:cloudtrail:us-east-1:1:trail/main"}
            });
            if let (Some(o), Some(e)) = (r.as_object_mut(), extra.as_object()) {
                o.extend(e.clone());
            }
            r
        };
        let doc = serde_json::json!({"Records": [
            rec("StopLogging", serde_json::json!({})),
            rec("StopLogging", serde_json::json!({"errorCode": "AccessDenied"})),
            rec("DescribeTrails", serde_json::json!({})),
            rec("UpdateTrail", serde_json::json!({
                "requestParameters": {"name": "main", "enableLogFileValidation": true}})),
        ]});
        let found = find(&serde_json::to_vec(&doc).unwrap());
        assert_eq!(found.len(), 2);
        assert_eq!(
            (found[0].effect, found[0].actor.as_str()),
            (Effect::Stop, "arn:aws:iam::1:user/mallory")
        );
        assert!(found[0].is_about("main") && !found[0].is_about("mai"));
        assert_eq!(
            (found[1].effect, found[1].trail.as_str()),
            (Effect::Start, "main")
        );
        assert!(find(br#"{"Records":[]}"#).is_empty());
    }
}
