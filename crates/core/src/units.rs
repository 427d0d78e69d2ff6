//! Durations and sizes as users write them, in rules, configuration and flags.
//!
//! Durations are jiff's friendly spans (`30s`, `10m`, `1h30m`, `7d`, `2w`, `1 hour`), with days
//! taken as 24 hours and weeks as 7 days; months and years have no fixed length and are refused.
//! Sizes are bytes with an optional binary unit (`512M`, `2GiB`, `1048576`). Both refuse zero,
//! negative values and values too large to represent, with an error that quotes the text.

use std::time::Duration;

/// Text that is not a duration or size trailwatch can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("'{0}' is not a duration (such as 30s, 10m, 1h30m, 7d or 2w)")]
    NotADuration(String),
    #[error("duration '{0}' must be more than zero")]
    NotPositive(String),
    #[error("duration '{0}' uses months or years, which have no fixed length: use days or weeks")]
    Calendar(String),
    #[error("duration '{0}' is too long")]
    DurationTooLong(String),
    #[error("invalid size '{0}' (a number with an optional unit K, M or G, such as 512M)")]
    NotASize(String),
    #[error("size '{0}' is too large")]
    SizeTooLarge(String),
}

/// The longest duration accepted: 100 years, far beyond any retention or window, and small
/// enough that adding it to any timestamp trailwatch handles cannot overflow.
const MAX_DURATION: Duration = Duration::from_secs(100 * 366 * 86_400);

/// Parses a duration: `30s`, `10m`, `1h30m`, `7d`, `2w`, `90 minutes`. Must be more than zero.
pub fn duration(text: &str) -> Result<Duration, UnitError> {
    let t = text.trim();
    let bad = || UnitError::NotADuration(t.to_string());
    // A bare number has no unit: refuse it rather than guess seconds.
    if t.is_empty() || t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let span: jiff::Span = match t.parse() {
        Ok(span) => span,
        Err(e) if e.to_string().contains("out of range") || e.to_string().contains("overflow") => {
            return Err(UnitError::DurationTooLong(t.to_string()));
        }
        Err(_) => return Err(bad()),
    };
    if span.get_years() != 0 || span.get_months() != 0 {
        return Err(UnitError::Calendar(t.to_string()));
    }
    let signed = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|_| UnitError::DurationTooLong(t.to_string()))?;
    if signed.is_negative() || signed.is_zero() {
        return Err(UnitError::NotPositive(t.to_string()));
    }
    let d = Duration::try_from(signed).map_err(|_| UnitError::DurationTooLong(t.to_string()))?;
    if d > MAX_DURATION {
        return Err(UnitError::DurationTooLong(t.to_string()));
    }
    Ok(d)
}

/// Parses a size in bytes: `512M`, `2G`, `2GiB`, `64KB`, `1048576`. Units are binary.
pub fn size(text: &str) -> Result<u64, UnitError> {
    let s = text.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| UnitError::NotASize(s.to_string()))?;
    let mult: u64 = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(UnitError::NotASize(s.to_string())),
    };
    n.checked_mul(mult)
        .ok_or_else(|| UnitError::SizeTooLarge(s.to_string()))
}

/// Serde `deserialize_with` helpers: configuration keys holding durations and sizes, parsed by
/// [`duration`] and [`size`] so a bad value is reported at its key (with the deserializer's
/// position, such as TOML's line and column).
pub mod de {
    use serde::{Deserialize, Deserializer, de::Error};
    use std::time::Duration;

    /// A duration written as text (`"90s"`, `"1h30m"`).
    pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::duration(&text).map_err(D::Error::custom)
    }

    /// An optional duration (use with `#[serde(default)]`).
    pub fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        duration(d).map(Some)
    }

    /// An optional size in bytes written as text (`"512M"`), with `#[serde(default)]`.
    pub fn opt_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let text = String::deserialize(d)?;
        super::size(&text).map(Some).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_spelling() {
        let secs = |s: &str| duration(s).map(|d| d.as_secs());
        for (text, want) in [
            ("30s", 30),
            ("10m", 600),
            ("1h", 3600),
            ("1h30m", 5400),
            ("1h 30m", 5400),
            (" 7d ", 7 * 86_400),
            ("2w", 14 * 86_400),
            ("90 minutes", 5400),
            ("1 day", 86_400),
        ] {
            assert_eq!(secs(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn durations_refused_with_the_reason() {
        assert!(matches!(duration("0s"), Err(UnitError::NotPositive(_))));
        assert!(matches!(duration("-1h"), Err(UnitError::NotPositive(_))));
        assert!(matches!(
            duration("5 parsecs"),
            Err(UnitError::NotADuration(_))
        ));
        assert!(matches!(duration("30"), Err(UnitError::NotADuration(_))));
        assert!(matches!(duration(""), Err(UnitError::NotADuration(_))));
        assert!(matches!(duration("1mo"), Err(UnitError::Calendar(_))));
        assert!(matches!(duration("1y"), Err(UnitError::Calendar(_))));
        // Once overflowed into a tiny duration and pruned everything.
        assert!(matches!(
            duration("30500000000000000w"),
            Err(UnitError::DurationTooLong(_) | UnitError::NotADuration(_))
        ));
        assert!(matches!(
            duration("1000000w"),
            Err(UnitError::DurationTooLong(_))
        ));
        let e = duration("5 parsecs").unwrap_err().to_string();
        assert!(e.contains("'5 parsecs'"), "{e}");
    }

    #[test]
    fn sizes() {
        assert_eq!(size("512M"), Ok(512 << 20));
        assert_eq!(size("2GiB"), Ok(2 << 30));
        assert_eq!(size("64KB"), Ok(64 << 10));
        assert_eq!(size("100"), Ok(100));
        assert!(matches!(size("12X"), Err(UnitError::NotASize(_))));
        assert!(matches!(size("M"), Err(UnitError::NotASize(_))));
        assert!(matches!(
            size("99999999999999G"),
            Err(UnitError::SizeTooLarge(_))
        ));
    }
}
