//! `type = "email"`: sends a rendered alert (subject, plain text and HTML) over SMTP to a fixed
//! list of recipients; with `digest`, one mail per period listing every finding.
//!
//! One [`Email::send`] is one SMTP session: connect, optional STARTTLS or implicit TLS (rustls),
//! optional AUTH (PLAIN or LOGIN), one transaction to all recipients, QUIT. No connection is
//! kept between sends. What goes in the subject and bodies is decided by the caller.

use super::{Env, Kind, Sent, Sink};
use crate::alert::secret::Secret;
use crate::alert::{Delivery, SendError, render};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls as LettreTls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// `[sinks.NAME]` with `type = "email"`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub host: String,
    /// Default: 465 with `tls`, 587 with `starttls`, 25 with `none`.
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: Tls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub to: Recipients,
    /// One mail per period listing every finding due.
    #[serde(default, deserialize_with = "crate::units::de::opt_duration")]
    pub digest: Option<Duration>,
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::units::de::duration"
    )]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `to`: one address or a list of them.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged, expecting = "an address or a list of addresses")]
pub enum Recipients {
    One(String),
    Many(Vec<String>),
}

impl Config {
    /// The SMTP settings.
    pub fn smtp(&self) -> EmailConfig {
        let port = self.port.unwrap_or(match self.tls {
            Tls::Tls => 465,
            Tls::StartTls => 587,
            Tls::None => 25,
        });
        EmailConfig {
            host: self.host.clone(),
            port,
            tls: self.tls.clone(),
            username: self.username.clone(),
            password: self.password.as_ref().map(|p| p.expose().to_string()),
            from: self.from.clone(),
            to: match &self.to {
                Recipients::One(a) => vec![a.clone()],
                Recipients::Many(a) => a.clone(),
            },
            timeout: self.timeout,
        }
    }
}

impl Kind for Config {
    fn redacted(&self) -> serde_json::Value {
        let c = self.smtp();
        serde_json::json!({
            "type": "email", "host": c.host, "port": c.port,
            "tls": format!("{:?}", c.tls).to_lowercase(), "username": c.username,
            "password": c.password.as_ref().map(|_| "***"), "from": c.from,
            "to": c.to, "digest_secs": self.digest.map(|d| d.as_secs())})
    }

    fn check(&self) -> Result<(), String> {
        Email::new(&self.smtp()).map(|_| ())
    }

    fn build(&self, _env: &Env<'_>) -> Result<Box<dyn Sink>, String> {
        Ok(Box::new(EmailSink {
            email: Email::new(&self.smtp())?,
            digest: self.digest,
        }))
    }
}

struct EmailSink {
    email: Email,
    digest: Option<Duration>,
}

#[async_trait::async_trait]
impl Sink for EmailSink {
    async fn send(&self, d: &Delivery) -> Result<Sent, SendError> {
        let (subject, text, html) = render::email_single(&d.finding, d.count);
        self.email.send(&subject, &text, &html).await?;
        Ok(Sent::Done)
    }

    async fn send_summary(&self, items: &[Delivery], _why: &str) -> Result<Sent, SendError> {
        let (subject, text, html) = super::summary(items);
        self.email.send(&subject, &text, &html).await?;
        Ok(Sent::Done)
    }

    fn digest(&self) -> Option<Duration> {
        self.digest
    }
}

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// Plain text throughout (a relay on localhost or a trusted network; usually port 25).
    None,
    /// Plain connect, then STARTTLS, which is required: a server that does not offer it fails
    /// the send (usually port 587).
    #[default]
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

/// Where and how to send, and to whom.
///
/// `Debug` shows whether a password is set, never the password.
#[derive(Clone)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    /// AUTH (PLAIN or LOGIN, whichever the server offers) when set; needs `password` too.
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender: `alerts@example.com` or `Trailwatch <alerts@example.com>`.
    pub from: String,
    /// The recipients, in the same forms as `from`; all of them get the one message (To:).
    pub to: Vec<String>,
    /// Bounds one whole send: connecting, TLS, AUTH and the transaction.
    pub timeout: Duration,
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("to", &self.to)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// An SMTP sink, built once from an [`EmailConfig`] and used for many sends.
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    /// `host:port`, for messages.
    server: String,
    timeout: Duration,
    /// Only to scrub it from error texts, should a server ever echo it.
    password: Option<String>,
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("server", &self.server)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Email {
    /// Checks the configuration (host, port, addresses, credentials, timeout) and builds the
    /// transport. Connects to nothing. An error says what is wrong and never shows the password.
    pub fn new(cfg: &EmailConfig) -> Result<Email, String> {
        let host = cfg.host.trim();
        // An IPv6 address may come bracketed, as in a URL.
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(inner) if inner.parse::<IpAddr>().is_ok() => inner,
            _ => host,
        };
        if host.is_empty() {
            return Err("email: the SMTP host is empty".into());
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("email: bad SMTP host {host:?}"));
        }
        if cfg.port == 0 {
            return Err("email: the SMTP port is 0".into());
        }
        if cfg.timeout.is_zero() {
            return Err("email: the timeout is 0".into());
        }
        let from = parse_mailbox(&cfg.from).map_err(|e| format!("email: bad from address {e}"))?;
        if cfg.to.is_empty() {
            return Err("email: no recipient (to)".into());
        }
        let to = cfg
            .to
            .iter()
            .map(|a| parse_mailbox(a).map_err(|e| format!("email: bad to address {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let credentials = match (&cfg.username, &cfg.password) {
            (None, None) => None,
            (Some(user), Some(password)) => {
                if user.is_empty() {
                    return Err("email: the SMTP username is empty".into());
                }
                Some(Credentials::new(user.clone(), password.clone()))
            }
            (Some(_), None) => return Err("email: an SMTP username needs a password".into()),
            (None, Some(_)) => return Err("email: an SMTP password needs a username".into()),
        };
        let server = match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{host}]:{}", cfg.port),
            _ => format!("{host}:{}", cfg.port),
        };
        if credentials.is_some() && cfg.tls == Tls::None && !is_loopback(host) {
            tracing::warn!("email: SMTP credentials for {server} go over the network unencrypted");
        }

        let tls_parameters = || {
            TlsParameters::new(host.to_string())
                .map_err(|e| format!("email: TLS setup for {host}: {e}"))
        };
        let tls = match cfg.tls {
            Tls::None => LettreTls::None,
            Tls::StartTls => LettreTls::Required(tls_parameters()?),
            Tls::Tls => LettreTls::Wrapper(tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(cfg.port)
            .tls(tls)
            .timeout(Some(cfg.timeout));
        if let Some(credentials) = credentials {
            builder = builder.credentials(credentials);
        }
        Ok(Email {
            transport: builder.build(),
            from,
            to,
            server,
            timeout: cfg.timeout,
            password: cfg.password.clone().filter(|p| !p.is_empty()),
        })
    }

    /// Sends one message (subject, plain text body, HTML body) as multipart/alternative to every
    /// recipient. Errors map to SendError: connection/timeout/4xx SMTP → Retry, 5xx permanent SMTP
    /// codes and bad addresses → Permanent. Never log or include the password in errors.
    ///
    /// In detail: refused or failed connections, the timeout, TLS failures, garbled replies and
    /// 4xx replies are [`SendError::Retry`]; 5xx replies (including 535 for bad credentials and a
    /// 550 for any one recipient: the transaction is all or nothing), a server without STARTTLS
    /// when it is required, no common AUTH mechanism, and a message that cannot be built are
    /// [`SendError::Permanent`]. Control characters in the subject become spaces.
    pub async fn send(&self, subject: &str, text: &str, html: &str) -> Result<(), SendError> {
        let message = self.message(subject, text, html)?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(self.error(&e)),
            Err(_elapsed) => Err(SendError::retry(format!(
                "SMTP {}: no answer within {:?}",
                self.server, self.timeout
            ))),
        }
    }

    fn message(&self, subject: &str, text: &str, html: &str) -> Result<Message, SendError> {
        let subject: String = subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .message_id(None)
            .user_agent(concat!("trailwatch/", env!("CARGO_PKG_VERSION")).to_string());
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                text.to_string(),
                html.to_string(),
            ))
            .map_err(|e| SendError::Permanent(format!("email: cannot build the message: {e}")))
    }

    fn error(&self, e: &lettre::transport::smtp::Error) -> SendError {
        let reason = self.scrub(format!("SMTP {}: {}", self.server, chain(e)));
        if e.is_permanent() || e.is_client() {
            // 5xx, or what this configuration can never do with this server (STARTTLS required
            // but not offered, no AUTH mechanism in common, 8-bit content without 8BITMIME).
            SendError::Permanent(reason)
        } else {
            // 4xx, connection, network, timeout, TLS, unparsable reply.
            SendError::retry(reason)
        }
    }

    fn scrub(&self, text: String) -> String {
        match &self.password {
            Some(p) if text.contains(p.as_str()) => text.replace(p.as_str(), "<redacted>"),
            _ => text,
        }
    }
}

/// `e` and its sources, each once (lettre's `Display` already shows its first source).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

fn parse_mailbox(address: &str) -> Result<Mailbox, String> {
    address
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| format!("{address:?}: {e}"))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EmailConfig {
        EmailConfig {
            host: "127.0.0.1".into(),
            port: 2525,
            tls: Tls::None,
            username: Some("user".into()),
            password: Some("hunter2-secret".into()),
            from: "Trailwatch <alerts@example.com>".into(),
            to: vec!["a@example.com".into(), "B <b@example.org>".into()],
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let cfg = config();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let email = Email::new(&cfg).unwrap();
        let shown = format!("{email:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn new_checks_the_configuration() {
        let bad = |f: fn(&mut EmailConfig)| {
            let mut cfg = config();
            f(&mut cfg);
            let e = Email::new(&cfg).unwrap_err();
            assert!(!e.contains("hunter2"), "{e}");
            e
        };
        assert!(bad(|c| c.host = " ".into()).contains("host"));
        assert!(bad(|c| c.port = 0).contains("port"));
        assert!(bad(|c| c.timeout = Duration::ZERO).contains("timeout"));
        assert!(bad(|c| c.from = "not an address".into()).contains("from"));
        assert!(bad(|c| c.to.clear()).contains("recipient"));
        assert!(bad(|c| c.to.push("x@".into())).contains("\"x@\""));
        assert!(bad(|c| c.password = None).contains("needs a password"));
        assert!(bad(|c| c.username = None).contains("needs a username"));
        for tls in [Tls::None, Tls::StartTls, Tls::Tls] {
            Email::new(&EmailConfig { tls, ..config() }).unwrap();
        }
        Email::new(&EmailConfig {
            username: None,
            password: None,
            host: "[::1]".into(),
            ..config()
        })
        .unwrap();
    }

    #[test]
    fn the_message_is_multipart_alternative_with_a_clean_subject() {
        let email = Email::new(&config()).unwrap();
        let message = email
            .message("two\r\nlines", "plain → text", "<p>html</p>")
            .unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains("Subject: two  lines\r\n"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain; charset=utf-8"), "{raw}");
        assert!(raw.contains("text/html; charset=utf-8"), "{raw}");
        assert!(raw.contains("Message-ID: <"), "{raw}");
        assert!(
            raw.is_ascii(),
            "encoded for servers without 8BITMIME: {raw}"
        );
        let envelope = message.envelope();
        assert_eq!(envelope.from().unwrap().to_string(), "alerts@example.com");
        assert_eq!(envelope.to().len(), 2);
    }
}
