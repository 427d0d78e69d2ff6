//! `--format ocsf`: each finding as an OCSF Detection Finding (class 2004, OCSF [`VERSION`]),
//! one JSON object per line, for Amazon Security Lake and the SIEMs that read OCSF.
//!
//! The finding is the Detection Finding (`finding_info`: the rule as the analytic, the title,
//! why it matters; severity; first and last seen for folded repeats), and the CloudTrail event
//! it is about is its evidence, mapped as OCSF API Activity maps a CloudTrail record: the `api`
//! (operation, service, error), the `actor` (the principal), and the `src_endpoint` (the
//! caller's address). `finding_info.related_events` names the event as an API Activity (class
//! 6003) by its `eventID`. The `cloud` profile carries the account and region. The output is
//! checked against the published JSON schema of this OCSF version in the tests.

use crate::finding::Finding;
use serde_json::{Map, Value, json};

/// The OCSF version written (`metadata.version`). Detection Finding exists since 1.1.0, the
/// version Amazon Security Lake reads.
pub const VERSION: &str = "1.1.0";

/// The OCSF severity id of a trailwatch severity.
fn severity_id(s: crate::catalog::Severity) -> u8 {
    use crate::catalog::Severity::*;
    match s {
        Info => 1,
        Low => 2,
        Medium => 3,
        High => 4,
        Critical => 5,
    }
}

/// The API Activity activity of a CloudTrail event name: (id, name).
fn api_activity(event_name: &str, read_only: Option<bool>) -> (u8, &'static str) {
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| event_name.starts_with(p));
    if starts(&["Create", "Run", "Allocate", "Register", "Import"]) {
        (1, "Create")
    } else if read_only == Some(true) || starts(&["Get", "List", "Describe", "Lookup", "Head"]) {
        (2, "Read")
    } else if starts(&[
        "Update", "Put", "Modify", "Set", "Attach", "Detach", "Enable", "Disable",
    ]) {
        (3, "Update")
    } else if starts(&["Delete", "Remove", "Terminate", "Deregister"]) {
        (4, "Delete")
    } else {
        (99, "Other")
    }
}

/// Milliseconds since the epoch of an RFC 3339 time, when it is one.
fn millis(t: Option<&str>) -> Option<i64> {
    t.and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond())
}

/// Inserts `value` under `key` unless it is null.
fn put(map: &mut Map<String, Value>, key: &str, value: Value) {
    if !value.is_null() {
        map.insert(key.to_string(), value);
    }
}

/// The finding as an OCSF Detection Finding. `now_ms` is the time of writing, used when the
/// event's own time is unknown.
pub fn detection_finding(f: &Finding, now_ms: i64) -> Value {
    let event_ms = f
        .time
        .map(|t| t.as_millisecond())
        .or_else(|| millis(f.event_time.as_deref()));
    let time = event_ms.unwrap_or(now_ms);
    let operation = f.event_name.clone().unwrap_or_default();

    let mut api = Map::new();
    api.insert("operation".into(), json!(operation));
    put(
        &mut api,
        "service",
        f.event_source
            .as_ref()
            .map_or(Value::Null, |s| json!({ "name": s })),
    );
    if f.error_code.is_some() || f.error_message.is_some() {
        let mut response = Map::new();
        put(&mut response, "error", json!(f.error_code));
        put(&mut response, "error_message", json!(f.error_message));
        api.insert("response".into(), Value::Object(response));
    }
    let mut evidence = Map::new();
    evidence.insert("api".into(), Value::Object(api));
    if let Some(actor) = &f.actor {
        let mut user = Map::new();
        // An ARN names the principal; anything else is the best description there was.
        if actor.starts_with("arn:") {
            user.insert("uid".into(), json!(actor));
            if let Some(name) = actor.rsplit(['/', ':']).next().filter(|n| !n.is_empty()) {
                user.insert("name".into(), json!(name));
            }
        } else {
            user.insert("name".into(), json!(actor));
        }
        put(&mut user, "type", json!(f.actor_type));
        put(
            &mut user,
            "account",
            f.account_id.as_ref().map_or(
                Value::Null,
                |a| json!({ "uid": a, "type_id": 10, "type": "AWS Account" }),
            ),
        );
        evidence.insert("actor".into(), json!({ "user": user }));
    }
    if let Some(ip) = &f.source_ip {
        // A service calling on a user's behalf appears as its name, not an address.
        let key = if ip.parse::<std::net::IpAddr>().is_ok() {
            "ip"
        } else {
            "svc_name"
        };
        evidence.insert("src_endpoint".into(), json!({ key: ip }));
    }
    let (activity_id, activity) = api_activity(&operation, f.read_only);

    let mut info = Map::new();
    info.insert("uid".into(), json!(super::finding_uid(&f.identity())));
    info.insert("title".into(), json!(f.title));
    info.insert("desc".into(), json!(f.why));
    info.insert("types".into(), json!([format!("trailwatch/{}", f.pack)]));
    info.insert(
        "analytic".into(),
        json!({ "uid": f.rule_id, "name": f.rule_id, "type_id": 1, "type": "Rule", "category": f.service }),
    );
    put(
        &mut info,
        "first_seen_time",
        json!(millis(f.first_time.as_deref())),
    );
    put(
        &mut info,
        "last_seen_time",
        json!(millis(f.last_time.as_deref())),
    );
    if let Some(id) = &f.event_id {
        info.insert(
            "related_events".into(),
            json!([{
                "uid": id,
                "type_uid": 600300 + u32::from(activity_id),
                "type": format!("API Activity: {activity}"),
                "product_uid": "cloudtrail",
            }]),
        );
    }
    let mut cloud = Map::new();
    cloud.insert("provider".into(), json!("AWS"));
    put(&mut cloud, "region", json!(f.region));
    put(
        &mut cloud,
        "account",
        f.account_id.as_ref().map_or(
            Value::Null,
            |a| json!({ "uid": a, "type_id": 10, "type": "AWS Account" }),
        ),
    );

    let mut out = Map::new();
    for (k, v) in [
        ("class_uid", json!(2004)),
        ("class_name", json!("Detection Finding")),
        ("category_uid", json!(2)),
        ("category_name", json!("Findings")),
        ("activity_id", json!(1)),
        ("activity_name", json!("Create")),
        ("type_uid", json!(200401)),
        ("type_name", json!("Detection Finding: Create")),
        ("time", json!(time)),
        ("severity_id", json!(severity_id(f.severity))),
        ("severity", json!(capitalised(f.severity.as_str()))),
        ("status_id", json!(1)),
        ("status", json!("New")),
        ("message", json!(f.summary)),
        ("finding_info", Value::Object(info)),
        ("evidences", json!([evidence])),
        ("cloud", Value::Object(cloud)),
        (
            "metadata",
            json!({
                "version": VERSION,
                "profiles": ["cloud"],
                "product": {
                    "name": "trailwatch",
                    "vendor_name": "trailwatch",
                    "version": env!("CARGO_PKG_VERSION"),
                },
                "uid": super::finding_uid(&f.identity()),
            }),
        ),
    ] {
        out.insert(k.into(), v);
    }
    put(&mut out, "count", json!(f.count));
    let mut unmapped = Map::new();
    put(&mut unmapped, "user_agent", json!(f.user_agent));
    put(&mut unmapped, "location", json!(f.location));
    put(&mut unmapped, "suppressed_by", json!(f.suppressed_by));
    out.insert("unmapped".into(), Value::Object(unmapped));
    Value::Object(out)
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|first| first.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activities_follow_the_event_name() {
        assert_eq!(api_activity("CreateUser", Some(false)), (1, "Create"));
        assert_eq!(api_activity("DescribeInstances", None), (2, "Read"));
        assert_eq!(api_activity("ConsoleLogin", Some(true)), (2, "Read"));
        assert_eq!(api_activity("PutBucketPolicy", Some(false)), (3, "Update"));
        assert_eq!(api_activity("DeleteTrail", Some(false)), (4, "Delete"));
        assert_eq!(api_activity("StopLogging", Some(false)), (99, "Other"));
    }

    #[test]
    fn a_finding_maps_to_a_detection_finding() {
        let mut f = Finding::blank("guide.iam.CreateUser");
        f.severity = crate::catalog::Severity::High;
        f.event_name = Some("CreateUser".into());
        f.event_source = Some("iam.amazonaws.com".into());
        f.event_time = Some("2026-11-20T09:05:12Z".into());
        f.event_id = Some("e-1".into());
        f.actor = Some("arn:aws:iam::111122223333:user/alice".into());
        f.source_ip = Some("iam.amazonaws.com".into());
        f.account_id = Some("111122223333".into());
        let v = detection_finding(&f, 0);
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(v["type_uid"], 200401);
        assert_eq!(v["severity_id"], 4);
        assert_eq!(v["severity"], "High");
        assert_eq!(v["time"], 1_795_165_512_000i64);
        assert_eq!(v["evidences"][0]["api"]["operation"], "CreateUser");
        assert_eq!(v["evidences"][0]["actor"]["user"]["name"], "alice");
        assert_eq!(
            v["evidences"][0]["src_endpoint"]["svc_name"],
            "iam.amazonaws.com"
        );
        assert_eq!(v["finding_info"]["related_events"][0]["type_uid"], 600301);
        assert_eq!(v["metadata"]["version"], VERSION);
    }
}
