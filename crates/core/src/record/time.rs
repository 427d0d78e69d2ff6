//! Timestamps: CloudTrail's `eventTime` in the shapes seen in the wild, and the `--since` /
//! `--until` arguments.
//!
//! Real delivery files always write `YYYY-MM-DDTHH:MM:SSZ`, but exports and hand-written tests
//! use fractional seconds, offsets (`+11:00`), a space instead of `T`, or no zone at all (taken
//! as UTC).

use jiff::{Span, Timestamp, civil::DateTime, tz::TimeZone};

/// Parses an event time leniently; `None` when it is not a recognisable date and time.
pub fn parse_event_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Some(ts);
    }
    // No offset: a civil date-time, read as UTC.
    let civil: DateTime = s.replacen(' ', "T", 1).parse().ok()?;
    civil
        .to_zoned_datetime(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// Formats a timestamp the way findings show it: RFC 3339 in UTC, e.g. `2026-11-20T09:05:12Z`.
pub fn format(ts: Timestamp) -> String {
    ts.to_string()
}

/// A `--since`/`--until` value that is neither a time nor a duration.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid time '{0}': expected RFC 3339 (2026-11-20T09:00:00Z), a date (2026-11-20) or a duration back from now (90m, 24h, 7d, 2w)"
)]
pub struct BadTime(pub String);

/// Parses a time bound: an RFC 3339 timestamp, a date (midnight UTC), or a duration such as
/// `24h` counted back from `now`.
pub fn parse_bound(s: &str, now: Timestamp) -> Result<Timestamp, BadTime> {
    let bad = || BadTime(s.to_string());
    if let Some(ts) = parse_event_time(s) {
        return Ok(ts);
    }
    if let Ok(date) = s.parse::<jiff::civil::Date>() {
        return date
            .to_zoned_datetime(TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|_| bad());
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = s.split_at(split);
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    let span = Span::new()
        .try_seconds(n.checked_mul(seconds).ok_or_else(bad)?)
        .map_err(|_| bad())?;
    now.checked_sub(span).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> String {
        format(parse_event_time(s).unwrap())
    }

    #[test]
    fn event_time_shapes() {
        assert_eq!(t("2026-11-20T09:05:12Z"), "2026-11-20T09:05:12Z");
        assert_eq!(t("2026-11-20T09:05:12.250Z"), "2026-11-20T09:05:12.25Z");
        assert_eq!(t("2023-07-10T22:31:14+11:00"), "2023-07-10T11:31:14Z");
        assert_eq!(t("2022-12-11 19:42:55"), "2022-12-11T19:42:55Z");
        assert_eq!(t("2025-01-20 16:52:14.000000000"), "2025-01-20T16:52:14Z");
        assert!(parse_event_time("yesterday").is_none());
        assert!(parse_event_time("").is_none());
    }

    #[test]
    fn bounds() {
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        assert_eq!(
            format(parse_bound("24h", now).unwrap()),
            "2026-11-22T12:00:00Z"
        );
        assert_eq!(
            format(parse_bound("2w", now).unwrap()),
            "2026-11-09T12:00:00Z"
        );
        assert_eq!(
            format(parse_bound("2026-11-20", now).unwrap()),
            "2026-11-20T00:00:00Z"
        );
        assert!(parse_bound("24x", now).is_err());
        assert!(parse_bound("99999999999999999d", now).is_err());
    }
}
