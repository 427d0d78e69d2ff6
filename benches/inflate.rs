//! Throughput of the per-record path against the physical floor, measured in the same run.
//!
//! The floor is gunzip alone (libdeflate, the fastest inflater we measured); the second baseline
//! adds the cheapest useful JSON work (serde_json, borrowed `eventSource`/`eventName`, the rest
//! skipped). trailwatch's scan (gunzip → split → prefilter → parse → catalog) is reported as a
//! ratio to both, on one thread and on every core. Rounds are interleaved so that noise from other
//! processes spreads over all variants alike; medians are reported.
//!
//! Corpus: every `.json.gz` under `$TRAILWATCH_BENCH_DIR` (default `target/bench-corpus`, which
//! `scripts/bench.py` generates with `../shared/tools/gen_corpus.py`); the compressed bytes are
//! loaded into memory first so disk speed does not count. Run: `cargo bench --bench inflate`.

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use trailwatch::catalog::Catalog;
use trailwatch::engine::{Engine, Filter};
use trailwatch::scan::scan_bytes;
use trailwatch::source::file::gunzip;

const ROUNDS: usize = 7;

fn main() {
    let dir = std::env::var_os("TRAILWATCH_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/bench-corpus"));
    let mut files = Vec::new();
    walk(&dir, &mut files);
    files.sort();
    if files.is_empty() {
        eprintln!(
            "no .json.gz files under {} (run scripts/bench.py to generate them)",
            dir.display()
        );
        std::process::exit(2);
    }
    let blobs: Vec<Vec<u8>> = files
        .iter()
        .map(|p| std::fs::read(p).expect("read corpus"))
        .collect();
    let compressed: usize = blobs.iter().map(Vec::len).sum();
    let catalog = Catalog::builtin().expect("catalog");
    let engine = Engine::new(catalog.entries().iter().map(trailwatch::rules::from_entry));
    let many = Engine::new(
        catalog
            .entries()
            .iter()
            .map(trailwatch::rules::from_entry)
            .chain(extra_rules(500)),
    );
    let filter = Filter::default();

    // Sanity: every variant sees the same data; report sizes and finding count once.
    let (bytes, records, findings) = totals(&blobs, &engine, &filter);
    println!(
        "corpus: {} files, {:.1} MB gzip, {:.1} MB JSON, {records} records, {findings} findings",
        blobs.len(),
        compressed as f64 / 1e6,
        bytes as f64 / 1e6,
    );

    let threads = rayon::current_num_threads();
    type Variant<'a> = (&'a str, Box<dyn Fn() -> u64 + 'a>);
    let variants: Vec<Variant> = vec![
        (
            "gunzip (libdeflate), 1 thread",
            Box::new(|| serial(&blobs, inflate_only)),
        ),
        (
            "gunzip + serde_json names, 1 thread",
            Box::new(|| serial(&blobs, inflate_names)),
        ),
        (
            "trailwatch scan, 1 thread",
            Box::new(|| serial(&blobs, |b, o| scan(b, o, &engine, &filter))),
        ),
        (
            "trailwatch scan + 500 YAML rules, 1 thread",
            Box::new(|| serial(&blobs, |b, o| scan(b, o, &many, &filter))),
        ),
        (
            "gunzip (libdeflate), all cores",
            Box::new(|| parallel(&blobs, inflate_only)),
        ),
        (
            "gunzip + serde_json names, all cores",
            Box::new(|| parallel(&blobs, inflate_names)),
        ),
        (
            "trailwatch scan, all cores",
            Box::new(|| parallel(&blobs, |b, o| scan(b, o, &engine, &filter))),
        ),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    for _ in 0..ROUNDS {
        for (i, (_, run)) in variants.iter().enumerate() {
            let start = Instant::now();
            std::hint::black_box(run());
            times[i].push(start.elapsed());
        }
    }
    println!(
        "{ROUNDS} interleaved rounds, {threads} cores; median wall time, ratio to gunzip alone\n"
    );
    println!("| variant | median s | MB/s (JSON) | records/s | × gunzip | × gunzip+names |");
    println!("|---|---|---|---|---|---|");
    let med: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    for (i, (name, _)) in variants.iter().enumerate() {
        let (floor, names) = if i < 4 {
            (med[0], med[1])
        } else {
            (med[4], med[5])
        };
        println!(
            "| {name} | {:.3} | {:.0} | {:.0} | {:.2} | {:.2} |",
            med[i],
            bytes as f64 / 1e6 / med[i],
            records as f64 / med[i],
            med[i] / floor,
            med[i] / names,
        );
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.to_string_lossy().ends_with(".json.gz")
            && !path.to_string_lossy().contains("Digest")
        {
            out.push(path);
        }
    }
}

fn median(t: &mut [Duration]) -> f64 {
    t.sort();
    t[t.len() / 2].as_secs_f64()
}

/// Per-thread scratch space: an inflater and the output buffer.
struct Scratch {
    inflater: libdeflater::Decompressor,
    out: Vec<u8>,
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            inflater: libdeflater::Decompressor::new(),
            out: Vec::new(),
        }
    }
    fn inflate(&mut self, gz: &[u8]) -> usize {
        gunzip(&mut self.inflater, gz, &mut self.out, u64::MAX).expect("corpus gzip")
    }
}

fn serial(blobs: &[Vec<u8>], f: impl Fn(&[u8], &mut Scratch) -> u64) -> u64 {
    let mut scratch = Scratch::new();
    blobs.iter().map(|b| f(b, &mut scratch)).sum()
}

fn parallel(blobs: &[Vec<u8>], f: impl Fn(&[u8], &mut Scratch) -> u64 + Sync) -> u64 {
    blobs
        .par_iter()
        .map_init(Scratch::new, |s, b| f(b, s))
        .sum()
}

fn inflate_only(gz: &[u8], s: &mut Scratch) -> u64 {
    s.inflate(gz) as u64
}

#[derive(serde::Deserialize)]
struct Names<'a> {
    #[serde(rename = "eventSource", borrow)]
    _source: Option<&'a str>,
    #[serde(rename = "eventName", borrow)]
    name: Option<&'a str>,
}

#[derive(serde::Deserialize)]
struct Delivery<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<Names<'a>>,
}

fn inflate_names(gz: &[u8], s: &mut Scratch) -> u64 {
    let n = s.inflate(gz);
    let d: Delivery = serde_json::from_slice(&s.out[..n]).expect("corpus JSON");
    d.records.iter().filter(|r| r.name.is_some()).count() as u64
}

fn scan(gz: &[u8], s: &mut Scratch, engine: &Engine, filter: &Filter) -> u64 {
    let n = s.inflate(gz);
    scan_bytes("bench", &s.out[..n], engine, filter)
        .findings
        .len() as u64
}

fn totals(blobs: &[Vec<u8>], engine: &Engine, filter: &Filter) -> (u64, u64, u64) {
    let mut s = Scratch::new();
    let (mut bytes, mut records, mut findings) = (0, 0, 0);
    for b in blobs {
        let n = s.inflate(b);
        let r = scan_bytes("bench", &s.out[..n], engine, filter);
        bytes += n as u64;
        records += r.records;
        findings += r.findings.len() as u64;
    }
    (bytes, records, findings)
}

/// `n` YAML rules of the kinds users write: on catalog events with a condition, on name globs,
/// and a few that constrain no event name at all (they go through the prefilter's literals).
fn extra_rules(n: usize) -> Vec<trailwatch::rules::Rule> {
    let catalog = Catalog::builtin().expect("catalog");
    let entries = catalog.entries();
    let mut yaml = String::from("rules:\n");
    for i in 0..n {
        let e = &entries[i % entries.len()];
        let (matcher, cond) = match i % 10 {
            0 => (
                format!(
                    "{{ names: [\"{}*\"] }}",
                    &e.event_name[..e.event_name.len().min(6)]
                ),
                "{ field: userIdentity.type, equals: Root }".to_string(),
            ),
            1 if i % 100 == 1 => (
                "{}".to_string(),
                format!("{{ field: errorCode, equals: \"Bench{i}Denied\" }}"),
            ),
            _ => (
                format!(
                    "{{ sources: [{}], names: [{}] }}",
                    e.event_sources[0], e.event_name
                ),
                format!(
                    "{{ field: sourceIPAddress, cidr: [\"10.{}.0.0/16\"] }}",
                    i % 256
                ),
            ),
        };
        yaml += &format!(
            "  - id: bench.r{i}\n    title: t\n    severity: low\n    description: d\n    \
             match: {matcher}\n    where: {cond}\n"
        );
    }
    let loaded = trailwatch::rules::yaml::parse("bench.yaml", &yaml, "bench");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors.first());
    loaded.rules
}
