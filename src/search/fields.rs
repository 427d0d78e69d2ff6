//! The columns of a search result: named ones (`time`, `actor`, `access_key`, ...) that read a
//! record the way findings do, and any field path (`requestParameters.bucketName`).

use crate::record::Record;
use crate::rules::FieldPath;
use crate::rules::path::scalar_text;
use sonic_rs::JsonValueTrait;

/// One column.
#[derive(Debug, Clone)]
pub enum Field {
    Named(Named),
    /// Any field path; the column is named by the path.
    Path(FieldPath),
}

/// The named columns, in the order `--fields` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    Time,
    Event,
    Source,
    Account,
    Region,
    Actor,
    ActorType,
    AccessKey,
    SourceIp,
    UserAgent,
    Error,
    EventId,
    Location,
    /// The rules the event matched (filled by the writer from the hit).
    Findings,
}

const NAMES: &[(&str, Named)] = &[
    ("time", Named::Time),
    ("event", Named::Event),
    ("source", Named::Source),
    ("account", Named::Account),
    ("region", Named::Region),
    ("actor", Named::Actor),
    ("actor_type", Named::ActorType),
    ("access_key", Named::AccessKey),
    ("source_ip", Named::SourceIp),
    ("user_agent", Named::UserAgent),
    ("error", Named::Error),
    ("event_id", Named::EventId),
    ("location", Named::Location),
    ("findings", Named::Findings),
];

/// The columns of the JSON Lines, JSON and CSV output by default: every named one.
pub const DEFAULT: &str = "time,event,source,account,region,actor,actor_type,access_key,\
                           source_ip,user_agent,error,event_id,location,findings";
/// The columns of the table by default.
pub const TABLE: &str = "time,event,account,region,actor,source_ip,error,findings";

impl Field {
    /// A column by name, else a field path.
    pub fn parse(text: &str) -> Result<Field, String> {
        let text = text.trim();
        if let Some((_, n)) = NAMES.iter().find(|(name, _)| *name == text) {
            return Ok(Field::Named(*n));
        }
        FieldPath::parse(text).map(Field::Path).map_err(|e| {
            format!(
                "--fields: '{text}' is neither a column ({}) nor a field path: {e}",
                names()
            )
        })
    }

    /// A comma-separated list.
    pub fn list(text: &str) -> Result<Vec<Field>, String> {
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Field::parse)
            .collect()
    }

    /// The column's header.
    pub fn name(&self) -> String {
        match self {
            Field::Named(n) => NAMES
                .iter()
                .find(|(_, m)| m == n)
                .map(|(name, _)| name.to_string())
                .unwrap_or_default(),
            Field::Path(p) => p.to_string(),
        }
    }

    /// The cell of one record (`None` for the findings column, which the hit carries).
    pub fn cell(&self, r: &Record, location: &str) -> Option<String> {
        let s = |v: Option<&str>| v.map(str::to_string);
        match self {
            Field::Named(n) => match n {
                Named::Time => s(r.event_time_raw()),
                Named::Event => s(r.event_name()),
                Named::Source => s(r.event_source()),
                Named::Account => s(r.account_id()),
                Named::Region => s(r.region()),
                Named::Actor => r.actor(),
                Named::ActorType => s(r.actor_type()),
                Named::AccessKey => s(r.identity_str("accessKeyId")),
                Named::SourceIp => s(r.str("sourceIPAddress")),
                Named::UserAgent => s(r.str("userAgent")),
                Named::Error => s(r.str("errorCode")),
                Named::EventId => s(r.str("eventID")),
                Named::Location => Some(location.to_string()),
                Named::Findings => None,
            },
            Field::Path(p) => {
                let mut out = None;
                p.any(r.value(), &mut |v| {
                    out = scalar_text(v).or_else(|| {
                        (!v.is_null()).then(|| sonic_rs::to_string(v).unwrap_or_default())
                    });
                    out.is_some()
                });
                out
            }
        }
    }
}

fn names() -> String {
    NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}
