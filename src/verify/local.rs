//! Local copies of a trail bucket: folders in the S3 layout (`.../AWSLogs/...`), as `aws s3 sync`
//! or `verify --fetch-signatures` leave them. Digest signatures come from sidecars
//! (`<digest>.json.gz.sig.json`, see [`super::SIDECAR`]). Keys are matched from their
//! `AWSLogs/` segment on, so the folder may sit anywhere and the bucket prefix may be dropped.

use super::{Collected, Options, SIDECAR, Sidecar, prefix_of, read_digest, read_log};
use crate::source::file::{self, Reader};
use crate::source::layout::parse_key;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Log files read in parallel before their results are folded in.
const BATCH: usize = 1024;

fn key_of(path: &Path) -> Option<String> {
    let s = path.to_str()?.replace('\\', "/");
    let at = if s.starts_with("AWSLogs/") {
        0
    } else {
        s.find("/AWSLogs/")? + 1
    };
    Some(s[at..].to_string())
}

/// Reads every digest and log file under `paths`.
pub fn collect(paths: &[PathBuf], opts: &Options) -> Collected {
    let inputs = file::collect(paths);
    let mut out = Collected {
        passed_over: inputs.passed_over as u64,
        ..Collected::default()
    };
    out.unreadable
        .extend(inputs.errors.iter().map(|e| e.to_string()));
    let digests: Vec<(PathBuf, String, super::DigestName)> = inputs
        .digests
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(SIDECAR))
        .filter_map(|p| {
            let key = key_of(&p)?;
            let n = super::digest::parse_name(&key)?;
            Some((p, key, n))
        })
        .filter(|(_, _, n)| opts.wants_digest(n))
        .collect();
    let read: Vec<_> = digests
        .par_iter()
        .map_init(Reader::default, |reader, (path, key, n)| {
            let name = path.display().to_string();
            let stored = std::fs::read(path);
            let size = stored.as_ref().map_or(0, |b| b.len() as u64);
            let mut d = match stored {
                Ok(bytes) => read_digest(reader, &name, key, n, &bytes, opts.max_size),
                Err(e) => {
                    let mut d = read_digest(reader, &name, key, n, &[], opts.max_size);
                    d.digest = Err(e.to_string());
                    d
                }
            };
            d.signature = sidecar(path);
            (d, size)
        })
        .collect();
    for (d, size) in read {
        out.files += 1;
        out.bytes += size;
        out.digests.push(d);
    }
    // Only the paths are kept until read (keys are taken again from them): one path per file
    // is most of what a run holds.
    let mut logs = Vec::new();
    for path in inputs.files {
        let wanted = key_of(&path)
            .and_then(|k| parse_key(&k))
            .is_some_and(|info| opts.wants_log(&info));
        match wanted {
            true => logs.push(path),
            false => out.passed_over += 1,
        }
    }
    logs.shrink_to_fit();
    for batch in logs.chunks(BATCH) {
        let read: Vec<_> = batch
            .par_iter()
            .map_init(Reader::default, |reader, path| {
                let key = key_of(path).unwrap_or_default();
                let name = path.display().to_string();
                let (read, size) = match std::fs::read(path) {
                    Ok(bytes) => (read_log(reader, &name, &bytes, opts.max_size), bytes.len()),
                    Err(e) => ((Err(e.to_string()), Vec::new()), 0),
                };
                (name, key, read, size as u64)
            })
            .collect();
        for (name, key, read, size) in read {
            out.add_log(prefix_of(&name, &key), key, read, size);
        }
    }
    out
}

/// The signature in a digest's sidecar, if it has a readable one.
pub(crate) fn sidecar(digest: &Path) -> Option<String> {
    let mut p = digest.as_os_str().to_owned();
    p.push(SIDECAR);
    let text = std::fs::read(PathBuf::from(p)).ok()?;
    let s: Sidecar = serde_json::from_slice(&text).ok()?;
    (s.signature_algorithm == "SHA256withRSA").then_some(s.signature)
}

/// Writes a digest's sidecar next to it.
pub fn write_sidecar(digest: &Path, s: &Sidecar) -> std::io::Result<()> {
    let mut p = digest.as_os_str().to_owned();
    p.push(SIDECAR);
    let text = serde_json::to_vec(s).map_err(std::io::Error::other)?;
    std::fs::write(PathBuf::from(p), text)
}
