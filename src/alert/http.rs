//! The HTTP policy every HTTP sink shares: how clients are built (timeouts, user agent), how a
//! JSON body is posted (headers, idempotency key, signature), and what an answer means — 2xx
//! delivered; 408, 429 and 5xx retried (honouring `Retry-After`, in seconds or as an HTTP date,
//! up to an hour); any other status a permanent failure, which goes to the dead letters. Errors
//! never include the URL, which may hold a secret.

use super::SendError;
use super::secret::Secret;
use std::time::Duration;

/// Default timeout of one request for sinks without a `timeout` key.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// A client with the whole-request `timeout` (connecting gets at most 10 s of it).
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("trailwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// Idempotency key and optional signing secret of a webhook request.
pub struct Signed<'a> {
    pub key: &'a str,
    pub secret: Option<&'a Secret>,
}

/// Posts a JSON body and classifies the answer.
pub async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
    signed: Option<Signed<'_>>,
) -> Result<(), SendError> {
    let mut req = http.post(url).header("content-type", "application/json");
    for (h, v) in headers {
        req = req.header(*h, *v);
    }
    if let Some(s) = signed {
        req = req.header("idempotency-key", s.key);
        if let Some(secret) = s.secret {
            req = req.header(
                "x-trailwatch-signature",
                super::render::signature(secret.expose().as_bytes(), &body),
            );
        }
    }
    let resp = req.body(body).send().await.map_err(transport_error)?;
    classify(
        resp.status().as_u16(),
        retry_after(resp.headers()),
        String::new,
    )
}

/// A transport error, without the URL (which may hold a secret).
pub fn transport_error(e: reqwest::Error) -> SendError {
    if e.is_builder() {
        return SendError::Permanent(
            "the request could not be built (check the sink's URL and headers)".into(),
        );
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    SendError::retry(what)
}

/// How long the receiver asked to wait (`Retry-After`: seconds or an HTTP date), at most an hour.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(3600)));
    }
    // An HTTP date: wait until then.
    let when = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let secs = when.as_second() - jiff::Timestamp::now().as_second();
    Some(Duration::from_secs(secs.clamp(0, 3600) as u64))
}

/// What an HTTP status means for a delivery.
pub fn classify(
    status: u16,
    after: Option<Duration>,
    detail: impl FnOnce() -> String,
) -> Result<(), SendError> {
    match status {
        200..=299 => Ok(()),
        429 | 408 | 500..=599 => Err(SendError::Retry {
            reason: format!("HTTP {status}{}", detail()),
            after,
        }),
        _ => Err(SendError::Permanent(format!("HTTP {status}{}", detail()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(classify(204, None, String::new), Ok(()));
        assert!(matches!(
            classify(429, Some(Duration::from_secs(3)), String::new),
            Err(SendError::Retry { after: Some(d), .. }) if d == Duration::from_secs(3)
        ));
        assert!(matches!(
            classify(503, None, String::new),
            Err(SendError::Retry { .. })
        ));
        assert!(matches!(
            classify(404, None, String::new),
            Err(SendError::Permanent(_))
        ));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after", "99999".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3600)));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }
}
