//! Requests to the providers of connections (OAuth token exchanges, "who
//! am I" calls) through the one outgoing client: the SSRF guard, no
//! redirects, timeouts. [`HttpClient::oauth2`] lets the `oauth2` crate use
//! it as its HTTP client.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;

use super::client::{transport_error, HttpClient};
use super::ssrf::forbidden_reason;
use crate::error::{Error, Result};

/// Largest provider response kept.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// How long one provider request may take.
const TIMEOUT: Duration = Duration::from_secs(20);

impl HttpClient {
    /// Sends one request of any method; an address the SSRF guard refuses
    /// is an error, as is a response over 1 MiB.
    pub async fn exchange(&self, req: oauth2::HttpRequest) -> Result<oauth2::HttpResponse> {
        let url = Url::parse(&req.uri().to_string()).map_err(|e| Error::invalid(format!("invalid URL: {e}")))?;
        let (parts, body) = req.into_parts();
        self.send(parts.method, url, parts.headers, body).await
    }

    /// [`HttpClient::exchange`] for a caller that holds the parts already,
    /// its URL parsed: nothing is turned into text and parsed back.
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: Url,
        headers: reqwest::header::HeaderMap,
        body: Vec<u8>,
    ) -> Result<oauth2::HttpResponse> {
        if !self.allow_private {
            let host = url.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
            if let Some(why) = host.parse::<IpAddr>().ok().and_then(forbidden_reason) {
                return Err(Error::invalid(format!("Refused by the SSRF guard: {why}")));
            }
        }
        let mut resp = self
            .client
            .request(method, url)
            .headers(headers)
            .body(body)
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(|e| Error::invalid(format!("The provider could not be reached: {}", transport_error(e))))?;
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| Error::invalid(format!("The provider's answer broke off: {}", transport_error(e))))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(Error::invalid("The provider's answer is larger than 1 MiB"));
            }
            body.extend_from_slice(&chunk);
        }
        // The status and headers as they came, moved rather than copied.
        let mut out = oauth2::http::Response::new(body);
        *out.status_mut() = resp.status();
        *out.headers_mut() = std::mem::take(resp.headers_mut());
        Ok(out)
    }

    /// A GET with a bearer token and extra headers; returns status and JSON body.
    pub async fn get_json(
        &self,
        url: &str,
        bearer: &str,
        headers: &[(String, String)],
    ) -> Result<(u16, serde_json::Value)> {
        let mut req =
            oauth2::http::Request::builder().method("GET").uri(url).header("authorization", format!("Bearer {bearer}"));
        req = req.header("accept", "application/json");
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp =
            self.exchange(req.body(Vec::new()).map_err(|e| Error::invalid(format!("invalid request: {e}")))?).await?;
        let status = resp.status().as_u16();
        Ok((status, serde_json::from_slice(resp.body()).unwrap_or(serde_json::Value::Null)))
    }
}
