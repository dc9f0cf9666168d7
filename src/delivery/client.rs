//! The one outgoing HTTP client: pooled, with connect and total timeouts,
//! no redirects followed, and the SSRF guard in its resolver. Every kind of
//! outgoing call (webhooks now; integrations and providers later) uses it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use reqwest::Url;

use super::ssrf::{forbidden_reason, GuardedResolver};
use crate::error::{Error, Result};

/// Response bodies are kept up to this many bytes.
pub const MAX_BODY_BYTES: usize = 4096;

/// What one request produced.
#[derive(Debug, Clone)]
pub struct Sent {
    pub status: Option<u16>,
    pub body: String,
    pub elapsed: Duration,
    /// Transport failure, timeout or refusal; `None` when a response came.
    pub error: Option<String>,
    /// The request ran out of time.
    pub timed_out: bool,
    /// The response's `Retry-After` (seconds or an HTTP date), if any.
    pub retry_after: Option<Duration>,
}

impl Sent {
    pub fn is_success(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

pub struct HttpClient {
    pub(super) client: reqwest::Client,
    pub(super) allow_private: bool,
}

impl HttpClient {
    pub fn new(allow_private: bool) -> Result<Self> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .redirect(Policy::none())
            // A proxy from the environment would resolve names itself and
            // walk around the guarded resolver.
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("Switchyard-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(Error::internal)?;
        Ok(Self { client, allow_private })
    }

    pub fn allow_private(&self) -> bool {
        self.allow_private
    }

    /// POSTs `body` with `headers`; never fails: problems are in `Sent::error`.
    pub async fn post(&self, url: &str, headers: &[(String, String)], body: Vec<u8>, timeout: Duration) -> Sent {
        let started = Instant::now();
        let failed = |e: String| Sent {
            status: None,
            body: String::new(),
            elapsed: started.elapsed(),
            error: Some(e),
            timed_out: false,
            retry_after: None,
        };
        let url = match Url::parse(url) {
            Ok(u) => u,
            Err(e) => return failed(format!("invalid URL: {e}")),
        };
        // Hostnames are checked by the resolver; IP literals never reach it.
        if !self.allow_private {
            let host = url.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
            if let Some(why) = host.parse::<IpAddr>().ok().and_then(forbidden_reason) {
                return failed(format!("refused by the SSRF guard: {why}"));
            }
        }
        let mut req = self.client.post(url).timeout(timeout).body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return Sent { timed_out: true, ..failed(format!("timed out after {timeout:?}")) };
            }
            Err(e) => return failed(transport_error(e)),
        };
        let status = resp.status().as_u16();
        let retry_after =
            resp.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| parse_retry_after(v.to_str().ok()?));
        let mut body = Vec::new();
        while body.len() < MAX_BODY_BYTES {
            match resp.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        body.truncate(MAX_BODY_BYTES);
        Sent {
            status: Some(status),
            body: String::from_utf8_lossy(&body).into_owned(),
            elapsed: started.elapsed(),
            error: None,
            timed_out: false,
            retry_after,
        }
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP date (RFC 9110 §10.2.3),
/// parsed by `httpdate`, the small crate hyper itself uses for dates.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// What a failed request says, in one line, without its URL: reqwest's
/// text names the URL, whose query may carry a credential or what a
/// template put there (a plugin action's input), and this text goes to
/// call logs, job errors and the log.
pub(super) fn transport_error(e: reqwest::Error) -> String {
    error_chain(&e.without_url())
}

/// The error and its causes in one line (reqwest hides the interesting part,
/// e.g. the SSRF refusal, in the source chain).
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}
