//! Secrets in the configuration (webhook URLs, tokens, passwords, signing keys) and hiding them.
//!
//! A secret is written as `env:NAME` (an environment variable), `file:/path` (a file's contents,
//! trailing newline removed) or literally, and is resolved when the configuration is read, so a
//! missing variable or unreadable file is a configuration error at its key. A [`Secret`] never
//! shows its value in `Debug` output; [`redact_url`], [`redact_secret_url`] and [`hide_path`]
//! make URLs printable.
//!
//! Behind those, every resolved secret is remembered for the life of the process (its value, and
//! for a URL the user information, path segments and query values that could be its secret;
//! short values and short plain words are not), and
//! [`scrub`] replaces any of them, and any `user:password@` in a URL, in text about to leave: log
//! lines at every level go through [`Scrubbing`], and error texts are scrubbed before they are
//! printed or stored as a dead letter's reason. So an error that quotes a URL or a header (a
//! client library's, a receiver's answer) cannot carry the secret out.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::io::{self, Write};
use std::sync::RwLock;

/// Every secret value resolved in this process and the secret-looking parts of URL-shaped ones,
/// longest first.
static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Values shorter than this are not looked for in text (they would match ordinary words)...
const MIN_LOOKED_FOR: usize = 6;
/// ...nor are plain lowercase words shorter than this (a header such as `X-Team = "security"`
/// is read as a secret, but its value must not blank every log line naming a security group).
const MIN_PLAIN_LOOKED_FOR: usize = 20;

/// A resolved secret. `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Resolves `env:NAME`, `file:/path` or a literal, and remembers the value for [`scrub`].
    pub fn resolve(value: &str) -> Result<Secret, String> {
        let secret = if let Some(var) = value.strip_prefix("env:") {
            std::env::var(var)
                .map(Secret)
                .map_err(|_| format!("environment variable {var} is not set"))?
        } else if let Some(path) = value.strip_prefix("file:") {
            std::fs::read_to_string(path)
                .map(|s| Secret(s.trim_end_matches(['\n', '\r']).to_string()))
                .map_err(|e| format!("cannot read {path}: {e}"))?
        } else {
            Secret(value.to_string())
        };
        remember(&secret.0);
        Ok(secret)
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        let text = String::deserialize(d)?;
        Secret::resolve(&text).map_err(serde::de::Error::custom)
    }
}

/// Remembers a secret value (and, for a URL, the parts that may be its secret) for [`scrub`].
pub fn remember(value: &str) {
    let mut found: Vec<String> = Vec::new();
    if looked_for(value.trim()) {
        found.push(value.to_string());
        found.push(value.trim().to_string());
    }
    for part in url_parts(value) {
        if looked_for(&part) {
            let decoded = percent_encoding::percent_decode_str(&part)
                .decode_utf8_lossy()
                .into_owned();
            found.push(decoded);
            found.push(part);
        }
    }
    if found.is_empty() {
        return;
    }
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    for f in found {
        if !known.contains(&f) {
            known.push(f);
        }
    }
    known.sort_by_key(|k| std::cmp::Reverse(k.len()));
}

/// Whether a secret value is distinctive enough to look for in text: at least
/// [`MIN_LOOKED_FOR`] characters, and more than a plain lowercase word unless it is long.
fn looked_for(value: &str) -> bool {
    let word = value
        .chars()
        .all(|c| c.is_ascii_lowercase() || matches!(c, '-' | '_' | '.'));
    value.len() >= MIN_LOOKED_FOR && (!word || value.len() >= MIN_PLAIN_LOOKED_FOR)
}

/// The parts of a URL that [`redact_secret_url`] hides: user information, path segments that
/// are not plain words, query values.
fn url_parts(url: &str) -> Vec<String> {
    let Some((_, rest)) = url.split_once("://") else {
        return Vec::new();
    };
    let (rest, query) = rest
        .split_once('?')
        .map_or((rest, None), |(r, q)| (r, Some(q)));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut parts = Vec::new();
    if let Some((user, _)) = authority.rsplit_once('@') {
        parts.push(user.to_string());
        if let Some((_, password)) = user.split_once(':') {
            parts.push(password.to_string());
        }
    }
    let path = path.split_once('#').map_or(path, |(p, _)| p);
    parts.extend(path.split('/').filter(|s| !plain(s)).map(str::to_string));
    for kv in query.unwrap_or("").split('&') {
        let value = kv.split_once('=').map_or(kv, |(_, v)| v);
        parts.push(value.split_once('#').map_or(value, |(v, _)| v).to_string());
    }
    parts
}

/// `text` with every remembered secret, and the user information of every URL, replaced by
/// `***`.
pub fn scrub(text: &str) -> String {
    let mut out = text.to_string();
    {
        let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
        for k in known.iter() {
            if out.contains(k.as_str()) {
                out = out.replace(k.as_str(), "***");
            }
        }
    }
    scrub_userinfo(&out)
}

/// Every `scheme://user:password@host` in `text` as `scheme://***@host`.
fn scrub_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (before, after) = rest.split_at(i + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"')
            .unwrap_or(after.len());
        match after[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&after[at..end]);
            }
            None => out.push_str(&after[..end]),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// A writer that [`scrub`]s what goes through it: each `write` is one log line (as
/// `tracing-subscriber` writes them), scrubbed whole.
pub struct Scrubbing<W: Write>(pub W);

impl<W: Write> Write for Scrubbing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// A path segment or key that is a plain word: lowercase letters, `-`, `_`, `.`, at most 24
/// characters, no digits.
fn plain(seg: &str) -> bool {
    seg.len() <= 24
        && seg
            .chars()
            .all(|c| c.is_ascii_lowercase() || matches!(c, '-' | '_' | '.'))
}

/// A URL with any user name and password replaced by `***`, for printing.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{path}"),
        None => url.to_string(),
    }
}

/// A sink URL made printable when its secret may be in the path or the query (Discord
/// `/api/webhooks/ID/TOKEN`, Slack `/services/T../B../secret`, Teams workflow `sig=`, `?token=`,
/// PagerDuty routing keys): user information is dropped, every query value becomes `***`, and so
/// does every path segment that is not a plain word (lowercase letters, `-`, `_`, `.`, at most
/// 24 characters, no digits), so only the host and the route's fixed words remain.
pub fn redact_secret_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".into();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let path: Vec<&str> = path
        .split('/')
        .map(|seg| {
            if seg.is_empty() || plain(seg) {
                seg
            } else {
                "***"
            }
        })
        .collect();
    let mut out = format!("{scheme}://{host}{}", path.join("/"));
    if let Some(q) = query {
        let pairs: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if plain(k) => format!("{k}=***"),
                _ => "***".to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

/// A URL whose path is the secret (Slack incoming webhooks): `scheme://host/***`.
pub fn hide_path(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split('/').next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or(host);
            format!("{scheme}://{host}/***")
        }
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_in_urls() {
        assert_eq!(
            redact_url("https://user:pw@hooks.example.com/x"),
            "https://***@hooks.example.com/x"
        );
        assert_eq!(redact_url("http://127.0.0.1:5055"), "http://127.0.0.1:5055");
        assert_eq!(
            hide_path("https://u:p@hooks.slack.com/services/T/B/x"),
            "https://hooks.slack.com/***"
        );
    }

    #[test]
    fn hides_secrets_in_paths_and_queries_of_real_hook_shapes() {
        let cases = [
            (
                "https://hooks.slack.com/services/T0SENTINEL/B0SENTINEL/SeNtInElSeCrEt0",
                "https://hooks.slack.com/services/***/***/***",
            ),
            (
                "https://discord.com/api/webhooks/123456789012345678/SeNtInEl-tok_en",
                "https://discord.com/api/webhooks/***/***",
            ),
            (
                "https://prod-12.westus.logic.azure.com:443/workflows/0a1b2c3dSENT/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=SeNtInElSig",
                "https://prod-12.westus.logic.azure.com:443/workflows/***/triggers/manual/paths/invoke?api-version=***&sp=***&sv=***&sig=***",
            ),
            (
                "https://events.pagerduty.com/integration/R0UTINGKEYSENTINEL/enqueue",
                "https://events.pagerduty.com/integration/***/enqueue",
            ),
            (
                "http://u:SENTINELPW@127.0.0.1:8080/hook?token=SENTINELTOK&key=K1&SiG=x",
                "http://127.0.0.1:8080/hook?token=***&key=***&***",
            ),
            (
                "https://example.com/hook/sentinelsecretlowercasetoken#frag",
                "https://example.com/hook/***",
            ),
            ("not a url SENTINEL", "***"),
        ];
        for (url, want) in cases {
            let got = redact_secret_url(url);
            assert_eq!(got, want, "{url}");
            assert!(!got.to_lowercase().contains("sentinel"), "{got}");
        }
    }
    #[test]
    fn scrubs_remembered_secrets_and_url_user_information_from_text() {
        Secret::resolve("http://bob:UnitPw0rd1@127.0.0.1:1/h/UnitPathTok2?token=UnitQuery%2F3")
            .unwrap();
        Secret::resolve("UnitHeader4").unwrap();
        Secret::resolve("abc").unwrap();
        Secret::resolve("security").unwrap();
        Secret::resolve("correcthorsebatterystaple").unwrap();
        let text = "error sending request for url (http://bob:UnitPw0rd1@127.0.0.1:1/h/UnitPathTok2?token=UnitQuery%2F3): \
                    header UnitHeader4, decoded UnitQuery/3, other https://x:y@example.com/p, \
                    correcthorsebatterystaple, guide.security-groups, abc";
        let got = scrub(text);
        for s in [
            "UnitPw0rd1",
            "UnitPathTok2",
            "UnitQuery",
            "UnitHeader4",
            "x:y@",
            "bob",
        ] {
            assert!(!got.contains(s), "{s} in {got}");
        }
        assert!(got.contains("https://***@example.com/p"), "{got}");
        assert!(!got.contains("correcthorse"), "{got}");
        assert!(
            got.ends_with(", guide.security-groups, abc"),
            "short secrets and plain words are not looked for: {got}"
        );
        let mut w = Scrubbing(Vec::new());
        w.write_all(b"TRACE token UnitHeader4\n").unwrap();
        assert_eq!(w.0, b"TRACE token ***\n");
    }

    #[test]
    fn resolves_files_and_literals_and_never_shows_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "xoxb-1\n").unwrap();
        let s = Secret::resolve(&format!("file:{}", path.display())).unwrap();
        assert_eq!(s.expose(), "xoxb-1");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(Secret::resolve("plain").unwrap().expose(), "plain");
        let e = Secret::resolve("env:TRAILWATCH_SURELY_UNSET_VAR").unwrap_err();
        assert!(e.contains("TRAILWATCH_SURELY_UNSET_VAR"), "{e}");
    }
}
