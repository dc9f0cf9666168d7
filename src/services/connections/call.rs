//! Calling a provider through a connection (seed 000's "API execute"): the
//! request goes to the provider's API base URL with the connection's
//! credentials, through the one outgoing client (SSRF guard, no redirects,
//! timeouts), and every call is logged in `connection_call`.
//!
//! The rules:
//! - **Proactive limit.** Each call takes a slot of the provider's window
//!   for the connection ([`super::window`]), and so does each retry. When the window is full the
//!   call does not go out to collect a 429: the caller either waits for the
//!   reset (when it comes within the caller's timeout) or gets a queued call
//!   whose result arrives later, run by the `connection.call` job when the
//!   window resets. A queued call lives in the job ledger, so a killed
//!   process loses none.
//! - **401** → the token is refreshed once (single flight with the
//!   scheduled refresh) and the call retried.
//! - **429** → the window is closed for `Retry-After` (or the provider's
//!   reset header, else 60 s); the call waits and is retried, or is queued
//!   when the wait is longer than its time allows.
//! - **5xx and transport failures** → retried with backoff: twice at once,
//!   then by the job engine for a queued call.
//! - **The caller's time** (`timeoutSeconds`, 90 s for a queued call)
//!   bounds the whole run: a provider still silent when it is up fails the
//!   call as unavailable.
//! - **Any other status** (400, 404, …) is the answer: the call failed with
//!   the provider's error, at once.

use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use entity::{connection, connection_call, job};

use super::cache::By;
use super::catalog::{self, AuthKind, Provider};
use super::window::{Slot, Window};
use super::{settings, ConnectionStatus};
use crate::auth::{Principal, Scope};
use crate::error::{Error, Result};
use crate::ids::{has_prefix, new_id};
use crate::jobs::ledger::{self, NewJob};
use crate::jobs::Handler;
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::services::waiting::{Waiting, MAX_WAIT};
use crate::state::AppState;

/// The job kind that runs a queued call.
pub const KIND: &str = "connection.call";

/// Bytes of a response body kept in the log (and in a queued call's result).
pub const LOGGED_BODY_BYTES: usize = 4096;

/// Largest request body a call may send.
const MAX_REQUEST_BODY: usize = 256 * 1024;

/// Longest a queued call's run may take (its retries included).
const JOB_DEADLINE: Duration = Duration::from_secs(90);

/// Quick retries of a 5xx or transport failure before giving up (inline) or
/// handing the call to the job engine's backoff (queued).
const QUICK_RETRIES: u32 = 2;

/// Longest a wait (a 429's, or the window's before a retry) is slept in a
/// worker (a queued call's job, a run's step); a longer one hands the call
/// back to be run again after it, so a worker is not held for a minute.
const WORKER_SLEEP: Duration = Duration::from_secs(10);
/// 429 waits slept in a worker in one run of a call.
const WORKER_429_SLEEPS: u32 = 2;

/// Requests a queued call may make (its runs together) before a provider
/// still answering 429 fails it (a full window of ours costs no request).
const QUEUED_ATTEMPTS: i32 = 10;

/// Wait after a 429 that names none.
const DEFAULT_429_WAIT: Duration = Duration::from_secs(60);

/// How long a queued call waits for its connection to be reconnected
/// (counted from when it was queued) before it fails.
const REAUTH_PATIENCE: Duration = Duration::from_secs(24 * 3600);

/// How the note of a call waiting for a reconnect ends.
const REAUTH_NOTE_END: &str = " connection to be reconnected";

/// How often a queued call waiting for a reconnect looks again, should the
/// reconnect's wake-up ([`resume_after_reconnect`]) have been lost.
const REAUTH_RECHECK: Duration = Duration::from_secs(3600);

/// Whether a caller may not set this header (see [`RESERVED_HEADERS`]).
pub fn is_reserved_header(name: &str) -> bool {
    RESERVED_HEADERS.contains(&name.trim().to_ascii_lowercase().as_str())
}

/// Headers a caller may not set: the connection's credentials and the
/// transport's own.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "te",
    "upgrade",
    "keep-alive",
];

/// A call's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum CallStatus {
    /// Waiting for the provider's rate window (or a retry after a failure).
    Queued,
    /// The provider answered 2xx.
    Succeeded,
    /// The provider answered with an error status, could not be reached, or
    /// the connection stopped working; `error` and `httpStatus` say which.
    Failed,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "queued" => Self::Queued,
            "succeeded" => Self::Succeeded,
            _ => Self::Failed,
        }
    }
}

/// What to send, relative to the provider's API base URL.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct CallRequest {
    pub method: String,
    /// Starts with `/`; may carry its own query string.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// The provider's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Up to 1 MiB (the outgoing client's bound).
    pub body: String,
}

/// Checks and normalises a request; nothing is sent when it is refused.
fn check(mut r: CallRequest) -> Result<CallRequest> {
    r.method = r.method.trim().to_ascii_uppercase();
    if !matches!(r.method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD") {
        return Err(Error::invalid_field("method", "Use GET, POST, PUT, PATCH, DELETE or HEAD"));
    }
    let bad_path = !r.path.starts_with('/')
        || r.path.starts_with("//")
        || r.path.len() > 2000
        || r.path.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\' || c == '#');
    if bad_path {
        return Err(Error::invalid_field(
            "path",
            "Give a path under the API base URL, starting with one `/` (at most 2000 characters, no spaces)",
        ));
    }
    if r.query.len() > 100 {
        return Err(Error::invalid_field("query", "At most 100 query parameters"));
    }
    if r.headers.len() > 30 {
        return Err(Error::invalid_field("headers", "At most 30 headers"));
    }
    for (name, value) in &r.headers {
        let lower = name.trim().to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(Error::invalid_field(
                "headers",
                format!("`{name}` is set by the server (the connection's credentials or the transport)"),
            ));
        }
        // As it will be sent: a name with spaces around it is no header name.
        if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || axum::http::HeaderValue::from_str(value).is_err()
        {
            return Err(Error::invalid_field("headers", format!("`{name}` is not a valid header")));
        }
    }
    if r.body.as_ref().is_some_and(|b| b.len() > MAX_REQUEST_BODY) {
        return Err(Error::invalid_field("body", "At most 256 KiB"));
    }
    if r.body.is_some() && matches!(r.method.as_str(), "GET" | "HEAD") {
        return Err(Error::invalid_field("body", "GET and HEAD requests carry no body"));
    }
    Ok(r)
}

/// The URL of a call: the base URL joined with the path and query, which
/// must stay under the base ([`under_base`]).
pub(crate) fn url_of(base: &str, r: &CallRequest) -> Result<url::Url> {
    let base_url = url::Url::parse(base).map_err(|_| Error::invalid("The connection's API base URL is not valid"))?;
    let mut url = url::Url::parse(&format!("{}{}", base.trim_end_matches('/'), r.path))
        .map_err(|e| Error::invalid_field("path", format!("Not a valid path: {e}")))?;
    if under_base(&base_url, &url).is_none() {
        return Err(Error::invalid_field("path", "The path must stay under the API base URL"));
    }
    if !r.query.is_empty() {
        url.query_pairs_mut().extend_pairs(r.query.iter());
    }
    Ok(url)
}

/// Where `url` lies under the API base URL `base`, as the rest of its path
/// (empty, or starting with `/`), or `None` when it does not: the
/// connection's credentials go only there. `url` is judged as parsed,
/// that is normalised as a client sends it (`.` and `..` segments resolved,
/// `%2e%2e` and `\` included): the same origin (scheme, host and port), no
/// userinfo, and the base's path as whole segments (under `/v2`: `/v2` and
/// `/v2/…`, never `/v2x`). An encoded slash (`%2F`) is not a separator, to
/// the `url` crate as to most servers (GitLab's project paths use it), so
/// it stays inside its segment.
pub(crate) fn under_base<'u>(base: &url::Url, url: &'u url::Url) -> Option<&'u str> {
    if url.origin() != base.origin() || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let rest = url.path().strip_prefix(base.path().trim_end_matches('/'))?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// The provider's window for this workspace: its own setting, else the catalog's.
fn window_of(provider: &Provider, setting: Option<&entity::provider_setting::Model>) -> Option<Window> {
    if let Some((Some(requests), Some(seconds))) = setting.map(|s| (s.rate_limit_requests, s.rate_limit_seconds)) {
        return Some(Window { requests: requests.max(1) as u32, seconds: seconds.max(1) as u32 });
    }
    provider.rate_limit.as_ref().map(|r| Window { requests: r.requests, seconds: r.per_seconds })
}

/// Where the connection's calls go and the headers that prove it.
async fn target(
    st: &AppState,
    c: &connection::Model,
    provider: &Provider,
    setting: Option<&entity::provider_setting::Model>,
) -> Result<(String, Vec<(String, String)>)> {
    use base64::Engine;
    let creds: serde_json::Value = serde_json::from_str(&st.secret.decrypt(&c.credentials_enc)?).unwrap_or_default();
    let mut headers: Vec<(String, String)> = provider.api_headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    match creds["kind"].as_str() {
        Some("api_key") => {
            let key = creds["key"].as_str().unwrap_or_default();
            headers.push(match creds["header"].as_str() {
                Some(h) => (h.to_string(), key.to_string()),
                None => ("authorization".into(), format!("Bearer {key}")),
            });
        }
        Some("basic") => {
            let pair =
                format!("{}:{}", creds["username"].as_str().unwrap_or(""), creds["password"].as_str().unwrap_or(""));
            headers.push((
                "authorization".into(),
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)),
            ));
        }
        _ => {
            let token = creds["access_token"].as_str().unwrap_or_default();
            headers.push(("authorization".into(), format!("Bearer {token}")));
        }
    }
    let base = match creds["base_url"].as_str() {
        Some(b) => b.to_string(),
        None => settings::endpoints(provider, setting)?
            .api_base_url
            .ok_or_else(|| Error::invalid(format!("Set the {} API base URL first", provider.name)))?,
    };
    Ok((base, headers))
}

/// Where one call goes, with the headers that prove it: made once per
/// call and kept for its retries, made again only after a refresh changed
/// the credentials.
struct Target {
    url: url::Url,
    auth: Vec<(String, String)>,
}

/// The [`Target`] of `r` through `c` (its path checked to stay under the
/// API base URL, see [`url_of`]).
async fn prepare(
    st: &AppState,
    c: &connection::Model,
    provider: &Provider,
    setting: Option<&entity::provider_setting::Model>,
    r: &CallRequest,
) -> Result<Target> {
    let (base, auth) = target(st, c, provider, setting).await?;
    Ok(Target { url: url_of(&base, r)?, auth })
}

/// What one run of a call came to.
enum Ran {
    /// The provider answered (any status but 429, 5xx, or a 401 that a refresh fixed).
    Answered(Answer),
    /// The provider answered 429 and the next request must wait longer
    /// than the run may: run it again after this long.
    Later(Duration),
    /// 5xx or unreachable, quick retries spent.
    Unavailable(String),
    /// The connection cannot be used (needs re-authorising, or gone).
    Unusable(String),
}

/// How long one run of a call may take.
#[derive(Clone, Copy)]
struct Budget {
    /// When the whole run must be over.
    deadline: Instant,
    /// Longest wait slept in place (a 429's, or the window's before a
    /// retry), and how many 429 waits; a longer one, or one more, ends the
    /// run ([`Ran::Later`]).
    sleep: Duration,
    sleeps_429: u32,
}

impl Budget {
    /// A caller who waits for the answer: every wait that ends in time is slept.
    fn caller(deadline: Instant) -> Self {
        Self { deadline, sleep: Duration::MAX, sleeps_429: u32::MAX }
    }

    /// A worker: at most [`WORKER_429_SLEEPS`] 429 waits are slept, and
    /// no wait longer than [`WORKER_SLEEP`].
    fn worker(time: Duration) -> Self {
        Self { deadline: Instant::now() + time, sleep: WORKER_SLEEP, sleeps_429: WORKER_429_SLEEPS }
    }
}

/// Sends the call, with the rules of this module's header, within
/// `budget`; to `current` when the caller made the target already.
#[allow(clippy::too_many_arguments)]
async fn run(
    st: &AppState,
    mut c: connection::Model,
    provider: &Provider,
    setting: Option<&entity::provider_setting::Model>,
    r: &CallRequest,
    budget: Budget,
    attempts: &mut i32,
    mut current: Option<Target>,
) -> Result<Ran> {
    let deadline = budget.deadline;
    let mut refreshed = false;
    let mut failures = 0u32;
    let mut limited = 0u32;
    // Why the next request is a retry (the first one's slot was taken by the caller).
    let mut retrying: Option<Retry> = None;
    let window = window_of(provider, setting);
    loop {
        if ConnectionStatus::parse(&c.status) != ConnectionStatus::Connected {
            return Ok(Ran::Unusable(format!(
                "The {} connection needs to be reconnected before it can be used",
                provider.name
            )));
        }
        let target = match current.take() {
            Some(t) => t,
            None => prepare(st, &c, provider, setting, r).await?,
        };
        let method = reqwest::Method::from_bytes(r.method.as_bytes()).map_err(Error::internal)?;
        let mut headers = reqwest::header::HeaderMap::with_capacity(target.auth.len() + r.headers.len() + 2);
        // The caller's headers were checked to be valid (see `check`); the
        // credentials' come from the connection's own settings.
        for (k, v) in target.auth.iter().chain(r.headers.iter()) {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(Error::internal)?;
            headers.append(name, reqwest::header::HeaderValue::from_str(v).map_err(Error::internal)?);
        }
        if r.body.is_some() && !headers.contains_key(reqwest::header::CONTENT_TYPE) {
            headers
                .insert(reqwest::header::CONTENT_TYPE, reqwest::header::HeaderValue::from_static("application/json"));
        }
        if !headers.contains_key(reqwest::header::ACCEPT) {
            headers.insert(reqwest::header::ACCEPT, reqwest::header::HeaderValue::from_static("application/json"));
        }
        let body = r.body.clone().unwrap_or_default().into_bytes();
        let url = target.url.clone();
        // Kept for a retry (see the 401 below for when it is not).
        current = Some(target);
        let out_of_time = || Ran::Unavailable(format!("{} did not answer within the call's time", provider.name));
        // A retry is another request to the provider: it takes a slot of
        // the window as the first did (waiting for one as the budget allows).
        if let (Some(why), Some(window)) = (&retrying, window) {
            if let Some(wait) = retry_slot(st, &c.id, window, budget).await? {
                return Ok(match why {
                    // The failure stands: the engine's or the step's backoff
                    // takes over, and counts it, so no cycle goes on for ever.
                    Retry::Failed(msg) => Ran::Unavailable(msg.clone()),
                    Retry::Refreshed => Ran::Unavailable(format!(
                        "{} refused the token; it was refreshed, but the rate window has no room to try again for {} s",
                        provider.name,
                        wait.as_secs().max(1)
                    )),
                    Retry::Limited => Ran::Later(wait),
                });
            }
        }
        // The caller's time bounds the exchange too, not only the waits between.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(out_of_time());
        }
        *attempts += 1;
        let Ok(sent) = tokio::time::timeout(left, st.http.send(method, url, headers, body)).await else {
            return Ok(out_of_time());
        };
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                failures += 1;
                let why = e.public_message();
                if failures > QUICK_RETRIES || !sleep_before(deadline, backoff(failures)).await {
                    return Ok(Ran::Unavailable(why));
                }
                retrying = Some(Retry::Failed(why));
                continue;
            }
        };
        let status = resp.status().as_u16();
        match status {
            401 if provider.auth == AuthKind::Oauth2 && !refreshed => {
                refreshed = true;
                // Another process may have refreshed the token since this
                // copy was read (a cached copy whose note is late): use that.
                let stored = connection::Entity::find_by_id(&c.id).one(&st.writer).await?;
                // Either way the credentials change: the target is made anew.
                current = None;
                match stored {
                    Some(now) if now.credentials_enc != c.credentials_enc => c = now,
                    _ => {
                        // Bounded by the caller's time too; the refresh itself runs
                        // in a task of its own, so cutting the wait short loses nothing.
                        let left = deadline.saturating_duration_since(Instant::now());
                        let Ok(fresh) = tokio::time::timeout(left, super::refresh::refresh_now(st, &c.id)).await else {
                            return Ok(out_of_time());
                        };
                        c = fresh?;
                    }
                }
                retrying = Some(Retry::Refreshed);
            }
            429 => {
                // At least a second: `Retry-After: 0` must not make a tight loop.
                let wait = wait_of(resp.headers()).unwrap_or(DEFAULT_429_WAIT).max(Duration::from_secs(1));
                st.call_windows.pause(&c.id, wait).await?;
                tracing::info!(connection = %c.id, wait_ms = wait.as_millis() as u64, "provider answered 429; waiting");
                limited += 1;
                let in_place = wait <= budget.sleep && limited <= budget.sleeps_429;
                if !in_place || !sleep_before(deadline, wait).await {
                    return Ok(Ran::Later(wait));
                }
                retrying = Some(Retry::Limited);
            }
            500..=599 => {
                failures += 1;
                let why = format!("{} answered HTTP {status}", provider.name);
                if failures > QUICK_RETRIES || !sleep_before(deadline, backoff(failures)).await {
                    return Ok(Ran::Unavailable(why));
                }
                retrying = Some(Retry::Failed(why));
            }
            _ => {
                let headers = resp
                    .headers()
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                    .collect();
                let body = String::from_utf8_lossy(resp.body()).into_owned();
                return Ok(Ran::Answered(Answer { status, headers, body }));
            }
        }
    }
}

/// Why a request is sent again.
enum Retry {
    /// A 5xx or a transport failure, in these words.
    Failed(String),
    /// A 401 that a refresh answered.
    Refreshed,
    /// A 429 whose wait was slept.
    Limited,
}

/// A window slot for a retry: `None` once taken, or how long to wait when
/// the window stays full longer than the budget sleeps.
async fn retry_slot(st: &AppState, connection_id: &str, window: Window, budget: Budget) -> Result<Option<Duration>> {
    loop {
        match st.call_windows.take(connection_id, window).await? {
            Slot::Taken { .. } => return Ok(None),
            // Leased slots may come back before the window's end: look again then.
            Slot::Full { wait, sooner } => {
                let nap = sooner.unwrap_or(wait);
                if nap <= budget.sleep && sleep_before(budget.deadline, nap).await {
                    continue;
                }
                return Ok(Some(wait));
            }
        }
    }
}

/// 250 ms, 500 ms, 1 s …
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(250 << failures.saturating_sub(1).min(4))
}

/// Sleeps `wait` when that ends before `deadline`; `false` (at once) when not.
async fn sleep_before(deadline: Instant, wait: Duration) -> bool {
    if Instant::now() + wait >= deadline {
        return false;
    }
    tokio::time::sleep(wait).await;
    true
}

/// How long a 429 asks to wait: `Retry-After`, else a reset header
/// (`X-RateLimit-Reset` / `RateLimit-Reset`, as seconds from now or a Unix time).
fn wait_of(headers: &oauth2::http::HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(v) = get("retry-after") {
        return crate::delivery::client::parse_retry_after(v);
    }
    let reset: u64 = get("x-ratelimit-reset").or_else(|| get("ratelimit-reset"))?.trim().parse().ok()?;
    let now = Utc::now().timestamp() as u64;
    // A Unix time is far larger than any window in seconds.
    Some(Duration::from_secs(if reset > 1_000_000_000 { reset.saturating_sub(now) } else { reset }))
}

/// Calls the provider through a connection (members who may write). With
/// room in the provider's window the call goes out at once and its answer
/// is returned; otherwise it waits for the window (when `waiting` allows) or
/// is queued and returned with status `queued`. `waiting.wait` waits for a
/// full window to reset, when it does within `waiting.timeout` (1 to 120
/// seconds).
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, connection = %connection_id))]
pub async fn call(
    st: &AppState,
    p: &Principal,
    connection_id: &str,
    request: CallRequest,
    waiting: Waiting,
) -> Result<(connection_call::Model, Option<Answer>)> {
    p.require(Scope::Write)?;
    call_in_workspace(st, &p.workspace_id, connection_id, request, waiting.check()?).await
}

/// [`call`] on behalf of the workspace itself (a job, an integration's
/// test): the same rules, with no member behind it.
pub async fn call_in_workspace(
    st: &AppState,
    workspace_id: &str,
    connection_id: &str,
    request: CallRequest,
    waiting: Waiting,
) -> Result<(connection_call::Model, Option<Answer>)> {
    let request = check(request)?;
    let not_found = || {
        Error::field_code("connectionId", crate::error::UserErrorCode::NotFound, "No such connection in this workspace")
    };
    if !has_prefix(connection_id, "con") {
        return Err(not_found());
    }
    let found = super::cache::find(st, workspace_id, By::Id(connection_id)).await?.ok_or_else(not_found)?;
    let (c, setting) = &*found;
    let provider = usable(c)?;
    // Made now, so a bad path is refused before anything is queued.
    let prepared = prepare(st, c, provider, setting.as_ref(), &request).await?;
    let created = Utc::now();
    let started = Instant::now();
    let deadline = started + waiting.timeout.min(MAX_WAIT);
    if let Some(window) = window_of(provider, setting.as_ref()) {
        loop {
            match st.call_windows.take(&c.id, window).await? {
                Slot::Taken { .. } => break,
                // Leased slots may come back before the window's end: a
                // caller who waits looks again then; a queued call runs at
                // the end (no reschedule on a guess).
                Slot::Full { wait, sooner } if waiting.wait && sleep_before(deadline, sooner.unwrap_or(wait)).await => {
                    continue
                }
                Slot::Full { wait, .. } => return Ok((queue(st, c, &request, created, wait).await?, None)),
            }
        }
    }
    let queued_ms = started.elapsed().as_millis() as i64;
    let mut attempts = 0;
    let sent_at = Instant::now();
    let budget = Budget::caller(deadline);
    let ran = run(st, c.clone(), provider, setting.as_ref(), &request, budget, &mut attempts, Some(prepared)).await?;
    let duration_ms = sent_at.elapsed().as_millis() as i64;
    let mut row = new_row(c, &request, created);
    row.attempts = attempts;
    row.queued_ms = queued_ms;
    row.duration_ms = Some(duration_ms);
    let answer = match ran {
        Ran::Later(wait) => {
            row.run_after = Some(Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default());
            row.request_enc = Some(st.secret.encrypt(&serde_json::to_string(&request).map_err(Error::internal)?)?);
            let saved = insert_queued(st, row).await?;
            return Ok((saved, None));
        }
        Ran::Answered(a) => {
            settle(&mut row, Ok(&a));
            Some(a)
        }
        Ran::Unavailable(why) | Ran::Unusable(why) => {
            settle(&mut row, Err(why));
            None
        }
    };
    if let Err(e) = st.call_log.write(st, row.clone()).await {
        if deleted_meanwhile(st, &c.id).await? {
            let why = "The connection was deleted while the call was under way";
            return Err(Error::field_code("connectionId", crate::error::UserErrorCode::NotFound, why));
        }
        return Err(e);
    }
    Ok((row, answer))
}

/// Whether the connection `id` is gone, asked after its call's log row
/// could not be written (a connection deleted while its call was out
/// leaves that row nowhere to go). Read through the writer pool: on SQLite
/// a reader was once seen to lag. If it is gone, this process's cached
/// copies go at once (the deleting process's note may be late), so the
/// next call finds a connection made anew.
async fn deleted_meanwhile(st: &AppState, id: &str) -> Result<bool> {
    let gone = connection::Entity::find_by_id(id).one(&st.writer).await?.is_none();
    if gone {
        super::cache::forget_here(st);
    }
    Ok(gone)
}

/// The API base URL a connection's calls go to (its own, else the
/// workspace's setting, else the catalog's): what a link in an answer must
/// stay under to be followed (an inbound sync's next page).
pub async fn base_url(st: &AppState, c: &connection::Model) -> Result<String> {
    let provider = usable(c)?;
    let setting = settings::find(&st.db, &c.workspace_id, &c.provider).await?;
    Ok(target(st, c, provider, setting.as_ref()).await?.0)
}

/// The provider of a connection that can take calls.
fn usable(c: &connection::Model) -> Result<&'static Provider> {
    let provider = catalog::get(&c.provider).ok_or_else(|| Error::invalid("This connection's service is gone"))?;
    if provider.auth == AuthKind::None {
        return Err(Error::invalid_field("connectionId", "Incoming webhooks receive calls; they cannot make them"));
    }
    if ConnectionStatus::parse(&c.status) != ConnectionStatus::Connected {
        return Err(Error::invalid_field(
            "connectionId",
            format!("The {} connection needs to be reconnected before it can be used", provider.name),
        ));
    }
    Ok(provider)
}

fn new_row(c: &connection::Model, r: &CallRequest, created: chrono::DateTime<Utc>) -> connection_call::Model {
    let mut path = r.path.clone();
    if !r.query.is_empty() {
        let q: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(r.query.iter()).finish();
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str(&q);
    }
    connection_call::Model {
        id: new_id("cal"),
        workspace_id: c.workspace_id.clone(),
        connection_id: c.id.clone(),
        method: r.method.clone(),
        path: path.chars().take(2000).collect(),
        status: CallStatus::Queued.as_str().into(),
        http_status: None,
        attempts: 0,
        duration_ms: None,
        queued_ms: 0,
        request_enc: None,
        response_headers: None,
        response_body: None,
        response_truncated: false,
        error: None,
        run_after: None,
        created_at: created,
        finished_at: None,
    }
}

/// Fills a row with how the call ended.
fn settle(row: &mut connection_call::Model, outcome: std::result::Result<&Answer, String>) {
    row.finished_at = Some(Utc::now());
    row.request_enc = None;
    row.run_after = None;
    match outcome {
        Ok(a) => {
            let ok = (200..300).contains(&a.status);
            row.status = if ok { CallStatus::Succeeded } else { CallStatus::Failed }.as_str().into();
            row.http_status = Some(a.status as i32);
            let headers: serde_json::Map<String, serde_json::Value> =
                a.headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            row.response_headers = Some(serde_json::Value::Object(headers));
            let mut cut = LOGGED_BODY_BYTES.min(a.body.len());
            while !a.body.is_char_boundary(cut) {
                cut -= 1;
            }
            row.response_body = Some(a.body[..cut].to_string());
            row.response_truncated = cut < a.body.len();
            // A queued call may carry a note of why it waited: the answer replaces it.
            row.error = (!ok).then(|| format!("The provider answered HTTP {}", a.status));
        }
        Err(why) => {
            row.status = CallStatus::Failed.as_str().into();
            row.error = Some(why);
        }
    }
}

/// Notes the connection's last use (at most once a minute, to keep writes few).
async fn touch(db: &impl ConnectionTrait, c: &connection::Model) -> Result<()> {
    let now = Utc::now();
    if c.last_used_at.is_some_and(|t| now - t < chrono::Duration::seconds(60)) {
        return Ok(());
    }
    connection::Entity::update_many()
        .col_expr(connection::Column::LastUsedAt, Expr::value(now))
        .filter(connection::Column::Id.eq(&c.id))
        .exec(db)
        .await?;
    Ok(())
}

/// Queues a call that found the window full: its row (request encrypted)
/// and its job, due when the window resets, in one transaction.
async fn queue(
    st: &AppState,
    c: &connection::Model,
    r: &CallRequest,
    created: chrono::DateTime<Utc>,
    wait: Duration,
) -> Result<connection_call::Model> {
    let mut row = new_row(c, r, created);
    row.run_after = Some(Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default());
    row.request_enc = Some(st.secret.encrypt(&serde_json::to_string(r).map_err(Error::internal)?)?);
    insert_queued(st, row).await
}

async fn insert_queued(st: &AppState, row: connection_call::Model) -> Result<connection_call::Model> {
    let txn = st.writer.begin().await?;
    let saved = row.into_active_model().insert(&txn).await?;
    let job = schedule(&txn, st, &saved).await?;
    txn.commit().await?;
    ledger::ring(st, &job).await;
    tracing::info!(call = %saved.id, connection = %saved.connection_id, "call queued until the provider's window resets");
    Ok(saved)
}

/// The job that runs a queued call at its `run_after`.
async fn schedule(db: &impl ConnectionTrait, st: &AppState, row: &connection_call::Model) -> Result<job::Model> {
    ledger::insert(
        db,
        st.sweep_grace(),
        NewJob {
            kind: KIND.into(),
            payload: json!({ "call_id": row.id }),
            workspace_id: Some(row.workspace_id.clone()),
            run_at: row.run_after,
            max_attempts: CallQueued.max_attempts(),
        },
    )
    .await
}

/// `connection.call`: runs a queued call once the provider's window has room.
pub struct CallQueued;

#[async_trait::async_trait]
impl Handler for CallQueued {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn timeout(&self, _job: &job::Model) -> Duration {
        JOB_DEADLINE + Duration::from_secs(20)
    }

    fn emits_events(&self) -> bool {
        false
    }

    async fn run(&self, st: &AppState, job: &job::Model) -> Result<()> {
        let Some(id) = job.payload["call_id"].as_str() else { return Ok(()) };
        let Some(row) = connection_call::Entity::find_by_id(id).one(&st.writer).await? else { return Ok(()) };
        if CallStatus::parse(&row.status) != CallStatus::Queued {
            return Ok(()); // already run: work is at-least-once
        }
        let by_id = Condition::all().add(connection::Column::Id.eq(&row.connection_id));
        let Some((c, setting)) = settings::connection_with_settings(&st.writer, &row.workspace_id, by_id).await? else {
            return finish(st, row, Err("The connection was deleted".into()), 0, None).await;
        };
        let provider = match usable(&c) {
            Ok(p) => p,
            Err(_) if ConnectionStatus::parse(&c.status) == ConnectionStatus::NeedsReauth => {
                return until_reconnected(st, row, &c).await;
            }
            Err(e) => return finish(st, row, Err(e.public_message()), 0, None).await,
        };
        let request: CallRequest = match row.request_enc.as_deref().map(|e| st.secret.decrypt(e)) {
            Some(Ok(json)) => serde_json::from_str(&json).map_err(Error::internal)?,
            _ => return finish(st, row, Err("The queued request could not be read".into()), 0, None).await,
        };
        if let Some(window) = window_of(provider, setting.as_ref()) {
            if let Slot::Full { wait, .. } = st.call_windows.take(&c.id, window).await? {
                return later(st, row, wait, None).await;
            }
        }
        let queued_ms = (Utc::now() - row.created_at).num_milliseconds().max(0);
        let mut attempts = row.attempts;
        let sent_at = Instant::now();
        let ran =
            run(st, c.clone(), provider, setting.as_ref(), &request, Budget::worker(JOB_DEADLINE), &mut attempts, None)
                .await;
        let duration = Some(sent_at.elapsed().as_millis() as i64);
        let mut row = row;
        row.attempts = attempts;
        row.queued_ms = queued_ms;
        match ran? {
            Ran::Answered(a) => finish(st, row, Ok(&a), queued_ms, duration).await,
            Ran::Unusable(why) => {
                // A refresh on the way may have found the grant withdrawn.
                match connection::Entity::find_by_id(&c.id).one(&st.writer).await? {
                    Some(now) if ConnectionStatus::parse(&now.status) == ConnectionStatus::NeedsReauth => {
                        until_reconnected(st, row, &now).await
                    }
                    _ => finish(st, row, Err(why), queued_ms, duration).await,
                }
            }
            Ran::Later(_) if attempts >= QUEUED_ATTEMPTS => {
                let why = format!("{} was still rate limiting (HTTP 429) after {attempts} requests", provider.name);
                finish(st, row, Err(why), queued_ms, duration).await
            }
            Ran::Later(wait) => later(st, row, wait, None).await,
            Ran::Unavailable(why) => {
                // Count the attempts, then let the engine retry with its backoff.
                connection_call::Entity::update_many()
                    .col_expr(connection_call::Column::Attempts, Expr::value(attempts))
                    .col_expr(connection_call::Column::Error, Expr::value(why.clone()))
                    .filter(connection_call::Column::Id.eq(&row.id))
                    .exec(&st.writer)
                    .await?;
                Err(Error::invalid(why))
            }
        }
    }

    async fn on_dead(&self, st: &AppState, job: &job::Model, error: &str) -> Result<()> {
        let Some(id) = job.payload["call_id"].as_str() else { return Ok(()) };
        let Some(row) = connection_call::Entity::find_by_id(id).one(&st.writer).await? else { return Ok(()) };
        if CallStatus::parse(&row.status) == CallStatus::Queued {
            let queued_ms = row.queued_ms;
            finish(st, row, Err(error.to_string()), queued_ms, None).await?;
        }
        Ok(())
    }
}

/// The window is still full (or the provider asked to wait, or the
/// connection must be reconnected, as `note` says): run again later.
async fn later(st: &AppState, row: connection_call::Model, wait: Duration, note: Option<String>) -> Result<()> {
    let run_after = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
    let txn = st.writer.begin().await?;
    // A wait for a reconnect that is over leaves no note behind.
    let error = note.or_else(|| row.error.clone().filter(|e| !e.ends_with(REAUTH_NOTE_END)));
    connection_call::Entity::update_many()
        .col_expr(connection_call::Column::RunAfter, Expr::value(run_after))
        .col_expr(connection_call::Column::Attempts, Expr::value(row.attempts))
        .col_expr(connection_call::Column::Error, Expr::value(error.clone()))
        .filter(connection_call::Column::Id.eq(&row.id))
        .exec(&txn)
        .await?;
    let row = connection_call::Model { error, ..row };
    let row = connection_call::Model { run_after: Some(run_after), ..row };
    let job = schedule(&txn, st, &row).await?;
    txn.commit().await?;
    ledger::ring(st, &job).await;
    Ok(())
}

/// The call's connection needs the user again: the call stays queued
/// (its error says why) until the connection is reconnected, for up to
/// [`REAUTH_PATIENCE`] from when it was queued; then it fails.
async fn until_reconnected(st: &AppState, row: connection_call::Model, c: &connection::Model) -> Result<()> {
    let name = catalog::get(&c.provider).map_or(c.provider.as_str(), |p| p.name.as_str());
    let waited = (Utc::now() - row.created_at).to_std().unwrap_or_default();
    if waited >= REAUTH_PATIENCE {
        let why = format!("The {name} connection was not reconnected within 24 hours of the call");
        let queued_ms = waited.as_millis() as i64;
        return finish(st, row, Err(why), queued_ms, None).await;
    }
    let note = format!("Waiting for the {name}{REAUTH_NOTE_END}");
    later(st, row, REAUTH_RECHECK.min(REAUTH_PATIENCE - waited), Some(note)).await
}

/// After a reconnect: the connection's queued calls that waited for it run
/// now instead of at their next look ([`REAUTH_RECHECK`]). Their jobs are
/// made due and rung. (Calls queued for a full window keep their time.)
/// When the connection now speaks for another account (`previous_account`
/// differs), they are not sent: each fails, saying so, since a call meant
/// for one account must not be made as another.
pub async fn resume_after_reconnect(st: &AppState, c: &connection::Model, previous_account: &str) -> Result<()> {
    let rows: Vec<connection_call::Model> = connection_call::Entity::find()
        .filter(connection_call::Column::WorkspaceId.eq(&c.workspace_id))
        .filter(connection_call::Column::ConnectionId.eq(&c.id))
        .filter(connection_call::Column::Status.eq(CallStatus::Queued.as_str()))
        .all(&st.writer)
        .await?
        .into_iter()
        .filter(|r| r.error.as_deref().is_some_and(|e| e.ends_with(REAUTH_NOTE_END)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    if c.account != previous_account {
        let name = catalog::get(&c.provider).map_or(c.provider.as_str(), |p| p.name.as_str());
        for row in rows {
            let why = format!(
                "The {name} connection was reconnected as another account ({}, not {previous_account}); the call was not sent",
                c.account
            );
            let queued_ms = (Utc::now() - row.created_at).num_milliseconds().max(0);
            finish(st, row, Err(why), queued_ms, None).await?;
        }
        return Ok(());
    }
    let waiting: std::collections::HashSet<String> = rows.into_iter().map(|r| r.id).collect();
    let jobs: Vec<String> = job::Entity::find()
        .filter(job::Column::WorkspaceId.eq(&c.workspace_id))
        .filter(job::Column::Kind.eq(KIND))
        .filter(job::Column::State.eq(ledger::QUEUED))
        .all(&st.writer)
        .await?
        .into_iter()
        .filter(|j| j.payload["call_id"].as_str().is_some_and(|id| waiting.contains(id)))
        .map(|j| j.id)
        .collect();
    let due = ledger::due_now(&st.writer, &jobs, st.sweep_grace()).await?;
    for job in &due {
        ledger::ring(st, job).await;
    }
    tracing::info!(connection = %c.id, calls = due.len(), "connection reconnected; its waiting calls run now");
    Ok(())
}

/// Settles a queued call with its outcome.
async fn finish(
    st: &AppState,
    mut row: connection_call::Model,
    outcome: std::result::Result<&Answer, String>,
    queued_ms: i64,
    duration_ms: Option<i64>,
) -> Result<()> {
    settle(&mut row, outcome);
    row.queued_ms = queued_ms;
    row.duration_ms = duration_ms;
    let txn = st.writer.begin().await?;
    let connection_id = row.connection_id.clone();
    row.into_active_model().reset_all().update(&txn).await?;
    if let Some(c) = connection::Entity::find_by_id(&connection_id).one(&txn).await? {
        touch(&txn, &c).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// One call of the caller's workspace, if any.
pub async fn get(db: &impl ConnectionTrait, p: &Principal, id: &str) -> Result<connection_call::Model> {
    p.require(Scope::Read)?;
    if !has_prefix(id, "cal") {
        return Err(Error::NotFound("Call"));
    }
    connection_call::Entity::find_by_id(id)
        .filter(connection_call::Column::WorkspaceId.eq(&p.workspace_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("Call"))
}

/// One page of a connection's calls, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    p: &Principal,
    connection_id: &str,
    page: &PageArgs,
) -> Result<Page<connection_call::Model>> {
    p.require(Scope::Read)?;
    let q = connection_call::Entity::find()
        .filter(connection_call::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(connection_call::Column::ConnectionId.eq(connection_id));
    fetch_page(db, q, connection_call::Column::Id, page).await
}

/// A connection's figures for the dashboard.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Calls in the last 24 hours (queued ones included).
    pub calls_24h: u64,
    /// Of those, the ones that succeeded.
    pub succeeded_24h: u64,
    /// Of those, the ones that failed.
    pub failed_24h: u64,
    /// The provider's window and the calls counted in the current one.
    pub window: Option<Window>,
    pub window_used: u32,
}

/// The dashboard figures of a connection (`connection_id`, of `provider`)
/// of the caller's workspace.
pub async fn stats(st: &AppState, p: &Principal, connection_id: &str, provider: &str) -> Result<Stats> {
    use sea_orm::QuerySelect;
    p.require(Scope::Read)?;
    let since = Utc::now() - chrono::Duration::hours(24);
    let rows: Vec<(String, i64)> = connection_call::Entity::find()
        .select_only()
        .column(connection_call::Column::Status)
        .column_as(connection_call::Column::Id.count(), "n")
        .filter(connection_call::Column::ConnectionId.eq(connection_id))
        .filter(connection_call::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(connection_call::Column::CreatedAt.gte(since))
        .group_by(connection_call::Column::Status)
        .into_tuple()
        .all(&st.db)
        .await?;
    let count = |s: CallStatus| rows.iter().filter(|(k, _)| k == s.as_str()).map(|(_, n)| *n as u64).sum::<u64>();
    let setting = settings::find(&st.db, &p.workspace_id, provider).await?;
    let window = catalog::get(provider).and_then(|prov| window_of(prov, setting.as_ref()));
    Ok(Stats {
        calls_24h: rows.iter().map(|(_, n)| *n as u64).sum(),
        succeeded_24h: count(CallStatus::Succeeded),
        failed_24h: count(CallStatus::Failed),
        window,
        window_used: st.call_windows.used(connection_id).await?,
    })
}

/// Forgets calls older than `days` (the prune job's rule for logs).
pub async fn prune(db: &impl ConnectionTrait, days: i64) -> Result<u64> {
    let before = Utc::now() - chrono::Duration::days(days);
    let gone = connection_call::Entity::delete_many()
        .filter(connection_call::Column::CreatedAt.lt(before))
        .filter(connection_call::Column::Status.ne(CallStatus::Queued.as_str()))
        .exec(db)
        .await?;
    Ok(gone.rows_affected)
}

/// How a call made for an action's step came out (see [`call_for_run`]).
pub enum ForRun {
    /// The provider answered (any status but 429 and 5xx); the call is logged.
    Answered { call_id: String, answer: Answer },
    /// Nothing can go out before this long: the provider's window is full.
    Wait(Duration),
    /// The provider answered 429 and asked to wait this long, longer than
    /// a worker sleeps; unlike [`ForRun::Wait`] a request went out.
    Limited(Duration),
    /// 5xx or unreachable after the quick retries; the call is logged.
    Unavailable(String),
    /// The workspace has no usable connection to the provider (none, or it
    /// needs to be reconnected).
    Unusable(String),
}

/// Calls `provider` through the workspace's connection to it on behalf of
/// a run that waits for itself (an action's run, an inbound sync's page;
/// no caller: the run was started by someone who could). Unlike [`call`],
/// a full window is not queued as a `connection.call` nobody would read:
/// the run itself waits or stops, and comes back ([`ForRun::Wait`]). Each call takes
/// a slot of the window, 401 refreshes once, 429 waits within `budget` when
/// its wait is short ([`ForRun::Limited`] when not).
pub async fn call_for_run(
    st: &AppState,
    workspace_id: &str,
    provider_key: &str,
    request: CallRequest,
    budget: Duration,
) -> Result<ForRun> {
    let request = check(request)?;
    let Some(found) = super::cache::find(st, workspace_id, By::Provider(provider_key)).await? else {
        return Ok(ForRun::Unusable(format!("The workspace has no {provider_key} connection")));
    };
    let (c, setting) = &*found;
    let provider = match usable(c) {
        Ok(p) => p,
        // Said in words: the field detail, not "Validation failed".
        Err(e) => {
            return Ok(ForRun::Unusable(e.details().first().map_or_else(|| e.public_message(), |d| d.error.clone())))
        }
    };
    let prepared = prepare(st, c, provider, setting.as_ref(), &request).await?;
    if let Some(window) = window_of(provider, setting.as_ref()) {
        if let Slot::Full { wait, .. } = st.call_windows.take(&c.id, window).await? {
            return Ok(ForRun::Wait(wait));
        }
    }
    let created = Utc::now();
    let mut attempts = 0;
    let sent_at = Instant::now();
    let budget = Budget::worker(budget);
    let ran = run(st, c.clone(), provider, setting.as_ref(), &request, budget, &mut attempts, Some(prepared)).await?;
    let mut row = new_row(c, &request, created);
    row.attempts = attempts;
    row.duration_ms = Some(sent_at.elapsed().as_millis() as i64);
    let out = match ran {
        // The provider asked to wait: logged as the 429 it was.
        Ran::Later(wait) => {
            let why = format!("{} answered HTTP 429 (rate limited): wait {} s", provider.name, wait.as_secs());
            settle(&mut row, Err(why));
            row.http_status = Some(429);
            ForRun::Limited(wait)
        }
        Ran::Unusable(why) => return Ok(ForRun::Unusable(why)),
        Ran::Answered(a) => {
            settle(&mut row, Ok(&a));
            ForRun::Answered { call_id: row.id.clone(), answer: a }
        }
        Ran::Unavailable(why) => {
            settle(&mut row, Err(why.clone()));
            ForRun::Unavailable(why)
        }
    };
    if let Err(e) = st.call_log.write(st, row).await {
        // The run waits for a connection again, or asks through a new one.
        if deleted_meanwhile(st, &c.id).await? {
            let why = format!("The {} connection was deleted while the call was under way", provider.name);
            return Ok(ForRun::Unusable(why));
        }
        return Err(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str) -> CallRequest {
        CallRequest { method: "get".into(), path: path.into(), ..Default::default() }
    }

    #[test]
    fn paths_stay_under_the_base_url() {
        let base = "https://api.example.com/v2";
        let ok = url_of(base, &check(req("/users/me?fields=a")).unwrap()).unwrap();
        assert_eq!(ok.as_str(), "https://api.example.com/v2/users/me?fields=a");
        for bad in ["//evil.example/x", "users", "/a b", "/x#y", "/..\\admin"] {
            assert!(check(req(bad)).is_err(), "{bad} should be refused");
        }
        // Each of these leaves `/v2` once normalised: refused.
        for escape in
            ["/../admin", "/../v2x/admin", "/%2e%2e/v2x/admin", "/%2E%2e/admin", "/./../v2x", "/x/../../v1", "/.."]
        {
            let out = url_of(base, &check(req(escape)).unwrap()).map(|u| u.to_string());
            assert!(out.is_err(), "{escape} went to {out:?}");
        }
        // These stay under it, as sent.
        for (inside, sent) in [
            ("/@evil.example", "https://api.example.com/v2/@evil.example"),
            ("/x/../y", "https://api.example.com/v2/y"),
            ("/%2F..%2Fadmin", "https://api.example.com/v2/%2F..%2Fadmin"),
            ("/group%2Fproject", "https://api.example.com/v2/group%2Fproject"),
        ] {
            assert_eq!(url_of(base, &check(req(inside)).unwrap()).unwrap().as_str(), sent, "{inside}");
        }
        // A base at its host's root keeps every path on its origin.
        let root = url_of("https://api.example.com/", &check(req("/../x")).unwrap()).unwrap();
        assert_eq!(root.as_str(), "https://api.example.com/x");
    }

    #[test]
    fn under_the_base_means_same_origin_and_whole_segments() {
        let base = url::Url::parse("https://api.example.com/v2").unwrap();
        let rest = |u: &str| under_base(&base, &url::Url::parse(u).unwrap()).map(str::to_string);
        assert_eq!(rest("https://api.example.com/v2").as_deref(), Some(""));
        assert_eq!(rest("https://api.example.com/v2/").as_deref(), Some("/"));
        assert_eq!(rest("https://api.example.com/v2/a/b?q=1").as_deref(), Some("/a/b"));
        assert_eq!(rest("HTTPS://API.example.com:443/v2/a").as_deref(), Some("/a"), "default port, any case");
        assert_eq!(rest("https://api.example.com/v2/%2e%2e/v2/a").as_deref(), Some("/a"));
        for outside in [
            "https://api.example.com/v2x/admin",
            "https://api.example.com/v2/../v2x/admin",
            "https://api.example.com/v2/%2e%2e/v2x",
            "https://api.example.com/v1/x",
            "https://api.example.com/",
            "http://api.example.com/v2/x",
            "https://api.example.com:8443/v2/x",
            "https://api.example.com@evil.example/v2/x",
            "https://user:pw@api.example.com/v2/x",
            "https://api.example.com.evil.example/v2/x",
            "https:\\\\evil.example\\v2\\x",
            "ftp://api.example.com/v2/x",
        ] {
            assert_eq!(rest(outside), None, "{outside}");
        }
        let backslashes = url::Url::parse("https://api.example.com/v2/").unwrap().join("..\\v2x").unwrap();
        assert_eq!(under_base(&base, &backslashes), None, "{backslashes}");
    }

    #[test]
    fn credentials_headers_are_the_servers() {
        let mut r = req("/x");
        r.headers = vec![("Authorization".into(), "Bearer mine".into())];
        assert!(check(r).is_err());
        let mut r = req("/x");
        r.body = Some("{}".into());
        assert!(check(r).is_err(), "a GET carries no body");
    }
}
