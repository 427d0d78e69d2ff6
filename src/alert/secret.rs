//! Secrets in the configuration (webhook URLs, tokens, passwords, signing keys) and hiding them.
//!
//! A secret is written as `env:NAME` (an environment variable), `file:/path` (a file's contents,
//! trailing newline removed) or literally, and is resolved when the configuration is read, so a
//! missing variable or unreadable file is a configuration error at its key. A [`Secret`] never
//! shows its value in `Debug` output; [`redact_url`] and [`hide_path`] make URLs printable.

use serde::{Deserialize, Deserializer};
use std::fmt;

/// A resolved secret. `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Resolves `env:NAME`, `file:/path` or a literal.
    pub fn resolve(value: &str) -> Result<Secret, String> {
        if let Some(var) = value.strip_prefix("env:") {
            return std::env::var(var)
                .map(Secret)
                .map_err(|_| format!("environment variable {var} is not set"));
        }
        if let Some(path) = value.strip_prefix("file:") {
            return std::fs::read_to_string(path)
                .map(|s| Secret(s.trim_end_matches(['\n', '\r']).to_string()))
                .map_err(|e| format!("cannot read {path}: {e}"));
        }
        Ok(Secret(value.to_string()))
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
    let plain = |seg: &str| {
        seg.len() <= 24
            && seg
                .chars()
                .all(|c| c.is_ascii_lowercase() || matches!(c, '-' | '_' | '.'))
    };
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
