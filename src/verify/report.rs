//! Renderings of an [`Analysis`]: the table (one summary line per trail, account and region,
//! then one line per problem and per notice) and the JSON document. Pure: writes to any
//! `Write`.

use super::chain::{Analysis, Problem};
use serde::Serialize;
use std::io::{self, Write};

/// Run totals shown under the table and in the JSON.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub digests: u64,
    pub signatures_verified: u64,
    pub files_listed: u64,
    pub files_verified: u64,
    pub problems: u64,
    pub notices: u64,
    /// Inputs that could not be listed or read at all.
    pub unreadable: u64,
    pub files_read: u64,
    pub bytes_read: u64,
    pub seconds: f64,
}

impl Totals {
    pub fn of(a: &Analysis) -> Totals {
        let mut t = Totals {
            problems: a.problems.len() as u64,
            notices: a.notices.len() as u64,
            ..Totals::default()
        };
        for s in &a.trails {
            t.digests += s.digests;
            t.signatures_verified += s.signatures_verified;
            t.files_listed += s.files_listed;
            t.files_verified += s.files_verified;
        }
        t
    }

    /// Whether everything held: exit status 0.
    pub fn holds(&self) -> bool {
        self.problems == 0 && self.unreadable == 0
    }
}

fn period(a: Option<jiff::Timestamp>, b: Option<jiff::Timestamp>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{a} .. {b}"),
        _ => "-".into(),
    }
}

/// The table rendering.
pub fn table(out: &mut dyn Write, a: &Analysis, t: &Totals) -> io::Result<()> {
    let header = [
        "TRAIL", "ACCOUNT", "REGION", "PERIOD", "DIGESTS", "EMPTY", "FILES", "PROBLEMS",
    ];
    let mut rows: Vec<[String; 8]> = vec![header.map(String::from)];
    for s in &a.trails {
        let digests = match s.backfill_digests {
            0 => s.digests.to_string(),
            b => format!("{} (+{b} backfill)", s.digests - b),
        };
        rows.push([
            s.trail.clone(),
            s.account.clone(),
            s.region.clone(),
            period(s.first, s.last),
            digests,
            s.empty_digests.to_string(),
            format!("{}/{}", s.files_verified, s.files_listed),
            s.problems.to_string(),
        ]);
    }
    let mut widths = [0usize; 8];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in &rows {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(&format!("{c:<w$}"));
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    if !a.problems.is_empty() || !a.notices.is_empty() {
        writeln!(out)?;
    }
    for p in &a.problems {
        line(out, "", p)?;
    }
    for p in &a.notices {
        line(out, "notice: ", p)?;
    }
    writeln!(out)?;
    let verdict = if t.holds() { "holds" } else { "FAILED" };
    writeln!(
        out,
        "{verdict}: {} digests ({} signatures verified), {}/{} listed log files verified, {} \
         problems, {} notices, {} unreadable inputs; {} files, {:.1} MB read in {:.1} s",
        t.digests,
        t.signatures_verified,
        t.files_verified,
        t.files_listed,
        t.problems,
        t.notices,
        t.unreadable,
        t.files_read,
        t.bytes_read as f64 / 1e6,
        t.seconds
    )
}

fn line(out: &mut dyn Write, tag: &str, p: &Problem) -> io::Result<()> {
    writeln!(
        out,
        "{tag}{:<17} [{}] {}: {}",
        p.kind.as_str(),
        p.scope,
        p.object,
        p.reason
    )
}

/// The JSON rendering: `{"trails": [...], "problems": [...], "notices": [...], "totals": {...}}`.
pub fn json(out: &mut dyn Write, a: &Analysis, t: &Totals) -> io::Result<()> {
    #[derive(Serialize)]
    struct Doc<'a> {
        holds: bool,
        #[serde(flatten)]
        analysis: &'a Analysis,
        totals: &'a Totals,
    }
    let doc = Doc {
        holds: t.holds(),
        analysis: a,
        totals: t,
    };
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::other)?;
    writeln!(out)
}
