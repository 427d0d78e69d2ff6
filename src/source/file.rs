//! Local files and directories: finds the inputs of a scan and reads each one into memory,
//! decompressing gzip (detected by its magic bytes, never by the file name) with a size cap.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// File name endings a directory walk passes over: documentation and tooling that sits next to
/// log files. A file named on the command line is always read.
const NOT_LOGS: &[&str] = &[
    ".md", ".txt", ".csv", ".tsv", ".yaml", ".yml", ".toml", ".html", ".py", ".sh", ".rs", ".pdf",
    ".png", ".jpg", ".zip", ".tar", ".parquet",
];

/// What walking the command-line paths found.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Files to read, directories' contents sorted by path.
    pub files: Vec<PathBuf>,
    /// Digest files (under `CloudTrail-Digest/`), skipped without reading.
    pub digests: Vec<PathBuf>,
    /// Files a directory walk passed over by name (see `NOT_LOGS`) or because they are hidden.
    pub passed_over: usize,
    /// Paths that could not be listed or opened.
    pub errors: Vec<InputError>,
    /// The files named themselves (not found by a walk): these stay errors when not CloudTrail.
    pub named: std::collections::HashSet<PathBuf>,
}

impl Inputs {
    /// Whether a file was found by a directory walk (not named on the command line).
    pub fn walked(&self, name: &str) -> bool {
        !self.named.contains(Path::new(name))
    }
}

/// Why an input could not be read. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: larger than the {cap}-byte limit when decompressed (see --max-size)")]
    TooLarge { path: String, cap: u64 },
    #[error("{path}: truncated or corrupt gzip data")]
    Gzip { path: String },
}

/// Expands files and directories (recursively) into the list of inputs.
pub fn collect(paths: &[PathBuf]) -> Inputs {
    let mut inputs = Inputs::default();
    for path in paths {
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => walk(path, &mut inputs),
            Ok(_) => {
                inputs.named.insert(path.clone());
                inputs.files.push(path.clone());
            }
            Err(source) => inputs.errors.push(io_error(path, source)),
        }
    }
    inputs
}

fn walk(dir: &Path, inputs: &mut Inputs) {
    let entries = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(source) => return inputs.errors.push(io_error(dir, source)),
    };
    let mut paths: Vec<(PathBuf, Kind)> = Vec::new();
    for entry in entries {
        match entry.and_then(|e| Ok((e.path(), e.file_type()?))) {
            Ok((path, ft)) => {
                // Symbolic links to directories are not followed, so a walk always ends; links
                // to files are read. Pipes, sockets and devices are passed over.
                let kind = if ft.is_dir() {
                    Kind::Dir
                } else if ft.is_file() || (ft.is_symlink() && path.is_file()) {
                    Kind::File
                } else {
                    Kind::Other
                };
                paths.push((path, kind));
            }
            Err(source) => inputs.errors.push(io_error(dir, source)),
        }
    }
    paths.sort();
    for (path, kind) in paths {
        let is_dir = kind == Kind::Dir;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || kind == Kind::Other {
            inputs.passed_over += 1;
        } else if is_dir && name == "CloudTrail-Digest" {
            collect_digests(&path, inputs);
        } else if is_dir {
            walk(&path, inputs);
        } else if NOT_LOGS
            .iter()
            .any(|ext| name.to_ascii_lowercase().ends_with(ext))
        {
            inputs.passed_over += 1;
        } else {
            inputs.files.push(path);
        }
    }
}

/// Whether a walk of `root` would read the file at `path` (under `root`): no hidden folder or
/// file on the way, not under `CloudTrail-Digest/`, not passed over by name (see `NOT_LOGS`).
/// For callers told about single files (file notifications) rather than walking.
pub fn walk_takes(root: &Path, path: &Path) -> bool {
    let Ok(rest) = path.strip_prefix(root) else {
        return false;
    };
    let names: Vec<String> = rest
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let Some(last) = names.last() else {
        return false;
    };
    let lower = last.to_ascii_lowercase();
    names
        .iter()
        .all(|n| !n.starts_with('.') && n != "CloudTrail-Digest")
        && !NOT_LOGS.iter().any(|ext| lower.ends_with(ext))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Dir,
    File,
    Other,
}

fn collect_digests(dir: &Path, inputs: &mut Inputs) {
    let mut nested = Inputs::default();
    walk(dir, &mut nested);
    inputs.digests.extend(nested.files);
    inputs.digests.extend(nested.digests);
    inputs.errors.extend(nested.errors);
}

/// Whether a path is a CloudTrail digest file by its location.
pub fn is_digest_path(path: &Path) -> bool {
    path.components()
        .any(|c| c.as_os_str() == "CloudTrail-Digest")
}

fn io_error(path: &Path, source: std::io::Error) -> InputError {
    InputError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reusable buffers for reading inputs on one thread.
#[derive(Default)]
pub struct Reader {
    raw: Vec<u8>,
    out: Vec<u8>,
    inflater: Option<libdeflater::Decompressor>,
}

impl Reader {
    /// Reads a file, gunzipping it if it is gzip, and returns its content.
    pub fn read(&mut self, path: &Path, cap: u64) -> Result<&[u8], InputError> {
        let name = || path.display().to_string();
        let io = |source| InputError::Io {
            path: name(),
            source,
        };
        self.raw.clear();
        let file = fs::File::open(path).map_err(io)?;
        // Read at most cap + 1 bytes so that a huge plain file is refused without loading it.
        file.take(cap.saturating_add(1))
            .read_to_end(&mut self.raw)
            .map_err(io)?;
        if !is_gzip(&self.raw) {
            if self.raw.len() as u64 > cap {
                return Err(InputError::TooLarge { path: name(), cap });
            }
            return Ok(&self.raw);
        }
        let inflater = self
            .inflater
            .get_or_insert_with(libdeflater::Decompressor::new);
        let n = gunzip(inflater, &self.raw, &mut self.out, cap).map_err(|e| match e {
            GunzipError::TooLarge => InputError::TooLarge { path: name(), cap },
            GunzipError::Corrupt => InputError::Gzip { path: name() },
        })?;
        Ok(&self.out[..n])
    }
}

impl Reader {
    /// Decodes an input already in memory (an S3 object, a message body): gunzips it when it is
    /// gzip, and checks the size cap. `name` is used in errors.
    pub fn decode<'a>(
        &'a mut self,
        name: &str,
        bytes: &'a [u8],
        cap: u64,
    ) -> Result<&'a [u8], InputError> {
        if !is_gzip(bytes) {
            if bytes.len() as u64 > cap {
                return Err(InputError::TooLarge {
                    path: name.to_string(),
                    cap,
                });
            }
            return Ok(bytes);
        }
        let inflater = self
            .inflater
            .get_or_insert_with(libdeflater::Decompressor::new);
        let n = gunzip(inflater, bytes, &mut self.out, cap).map_err(|e| match e {
            GunzipError::TooLarge => InputError::TooLarge {
                path: name.to_string(),
                cap,
            },
            GunzipError::Corrupt => InputError::Gzip {
                path: name.to_string(),
            },
        })?;
        Ok(&self.out[..n])
    }
}

/// Whether bytes start with the gzip magic number.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Why a gzip buffer could not be decompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GunzipError {
    TooLarge,
    Corrupt,
}

/// Decompresses a whole gzip buffer into `out` (replacing its content), refusing output larger
/// than `cap`.
///
/// The fast path inflates in one call with libdeflate, sized from the gzip trailer. A stream of
/// several gzip members (which the trailer does not describe) or a trailer that lies falls back to
/// a streaming decoder, so no member is ever dropped silently.
pub fn gunzip(
    inflater: &mut libdeflater::Decompressor,
    gz: &[u8],
    out: &mut Vec<u8>,
    cap: u64,
) -> Result<usize, GunzipError> {
    let trailer = gz
        .len()
        .checked_sub(4)
        .and_then(|at| gz.get(at..))
        .unwrap_or_default();
    let isize = trailer.try_into().map(u32::from_le_bytes).unwrap_or(0) as usize;
    if isize as u64 <= cap {
        // The buffer only ever grows: zeroing it again for every file would cost as much as a
        // tenth of the inflate itself.
        if out.len() < isize {
            out.resize(isize, 0);
        }
        match inflater.gzip_decompress(gz, &mut out[..isize]) {
            Ok(n) if n == isize => return Ok(n),
            Err(libdeflater::DecompressionError::BadData) => return Err(GunzipError::Corrupt),
            // Several members, or a size that wrapped past 4 GiB: take the slow path.
            Ok(_) | Err(libdeflater::DecompressionError::InsufficientSpace) => {}
        }
    }
    out.clear();
    let mut decoder = flate2::read::MultiGzDecoder::new(gz).take(cap.saturating_add(1));
    decoder.read_to_end(out).map_err(|_| GunzipError::Corrupt)?;
    if out.len() as u64 > cap {
        return Err(GunzipError::TooLarge);
    }
    Ok(out.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
        let mut out = vec![0; c.gzip_compress_bound(data.len())];
        let n = c.gzip_compress(data, &mut out).unwrap();
        out.truncate(n);
        out
    }

    #[test]
    fn walk_takes_what_a_walk_reads() {
        let root = Path::new("/logs");
        assert!(walk_takes(root, Path::new("/logs/a/b.json.gz")));
        assert!(!walk_takes(root, Path::new("/logs/.tmp/b.json")));
        assert!(!walk_takes(root, Path::new("/logs/a/.b.json")));
        assert!(!walk_takes(
            root,
            Path::new("/logs/x/CloudTrail-Digest/d.json.gz")
        ));
        assert!(!walk_takes(root, Path::new("/logs/README.md")));
        assert!(!walk_takes(root, Path::new("/elsewhere/b.json")));
        assert!(!walk_takes(root, root));
    }

    #[test]
    fn gunzip_paths() {
        let mut d = libdeflater::Decompressor::new();
        let mut out = Vec::new();
        let a = gz(b"{\"Records\":[]}");
        let n = gunzip(&mut d, &a, &mut out, 1 << 20).unwrap();
        assert_eq!(&out[..n], b"{\"Records\":[]}");
        // Two members concatenated: both are read.
        let mut two = gz(b"[1,");
        two.extend(gz(b"2]"));
        let n = gunzip(&mut d, &two, &mut out, 1 << 20).unwrap();
        assert_eq!(&out[..n], b"[1,2]");
        // Truncated and oversized.
        assert_eq!(
            gunzip(&mut d, &a[..a.len() - 6], &mut out, 1 << 20),
            Err(GunzipError::Corrupt)
        );
        let big = gz(&vec![b' '; 10_000]);
        assert_eq!(
            gunzip(&mut d, &big, &mut out, 100),
            Err(GunzipError::TooLarge)
        );
    }
}
