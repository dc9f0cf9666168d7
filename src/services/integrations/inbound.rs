//! An inbound sync: a provider's listing pulled through the workspace's
//! connection into a data endpoint (`config.sync`, see `services.json`).
//!
//! - **Every page.** The first GET is `path`; the answer names the next
//!   page at `next_pointer`, as `next_kind` says: a cursor (the default),
//!   sent as `cursor_param` on the next GET of `path`, or a link. A cursor
//!   is opaque and may look like anything (a base64 one may start with
//!   `/`), so a value is a link only when the config says so. With no
//!   `next_pointer`, an RFC 8288 `Link: <…>; rel="next"` header names the
//!   next page (a link). A link is resolved against the page's URL and
//!   followed only while it stays under the connection's API base URL
//!   ([`call::under_base`]): the call engine sends paths relative to it,
//!   with the connection's credentials, which must not go to another host.
//!   A run's errors never show a cursor, and of a link only its origin:
//!   either may carry a token.
//! - **Bounded runs, continued listings.** A run reads at most
//!   [`MAX_PAGES`] pages, for at most [`RUN_BUDGET`] (below its job's
//!   timeout); a page that finds the provider's rate window full waits
//!   for it only within both, and queues no call. A run that stops at one
//!   of these bounds has not failed: its `note` says so, and the request
//!   of the next page is kept on the integration (encrypted: a link may
//!   carry a token), where the next run continues. The pages from the
//!   first to the last are one *cycle*, named by the run that read its
//!   first page. A run that fails ends its cycle (a cursor may have
//!   expired, a link may be what was refused): the next run starts again
//!   at the first page. A next page named twice in one run would loop: the
//!   run fails there.
//! - **Stored by external id, once.** Each item becomes a record of the
//!   data endpoint, created the first time its external id is seen and
//!   replaced when it changed (`integration_item` keeps the record id and
//!   a digest of what was stored), so a second run of an unchanged listing
//!   changes nothing. An item's row is written before its record is made,
//!   naming the id the record gets: a run that fails between the two (a
//!   timeout) and the run after it find the row and replace that record
//!   rather than making a second one. A record that is gone (deleted by
//!   hand, or its creation never committed) is made again, under a new id
//!   written down first. Each page marks the items it listed with its cycle.
//! - **Deletions only after a whole listing, never most of it.** With
//!   `delete_missing`, the run that reads the last page of a cycle, with no
//!   error and no item refused, deletes the records of the items the cycle
//!   did not list (a delete through the records service, as the data API's
//!   `DELETE` makes) and forgets them. It deletes nothing, and its note
//!   says why, when the listing was empty while items are stored, or when
//!   it would delete more than half of them: a provider's outage that
//!   answers an empty or a cut listing must not take the workspace's
//!   records with it. Such a deletion is left to be done by hand.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use entity::{data_endpoint, data_key, integration, integration_item};

use super::connection_for;
use super::sync::{RunOutcome, RUN_TIMEOUT};
use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::services::connections::call::{self, call_for_run, CallRequest, ForRun};
use crate::services::records::{self, Change, Operation};
use crate::state::AppState;

/// Most pages one run reads (see the module's header).
pub const MAX_PAGES: usize = 100;

/// Longest one page's call may take, a wait for the provider's rate window included.
const PAGE_WAIT: Duration = Duration::from_secs(90);

/// How long a run reads pages: well below its job's [`RUN_TIMEOUT`], as the
/// page under way then still takes its call (one attempt: 20 s at most with
/// the outgoing client, twice that after a token refresh) and its items'
/// writes, and the last page of a listing its deletions.
pub const RUN_BUDGET: Duration = Duration::from_secs(RUN_TIMEOUT.as_secs() - 100);

/// The query parameter a cursor is sent in when `cursor_param` is unset.
const DEFAULT_CURSOR_PARAM: &str = "cursor";

/// What the value at `next_pointer` is (`next_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NextKind {
    /// Sent as `cursor_param` on the next GET of `path`.
    Cursor,
    /// A URI reference to GET, resolved against the page's URL.
    Link,
}

/// An integration's `config.sync`, read (it was checked against the schema when saved).
struct Spec<'a> {
    path: &'a str,
    items_pointer: &'a str,
    external_id_field: &'a str,
    endpoint: &'a str,
    /// `None` when unset or empty: the `Link` header names the next page.
    next_pointer: Option<&'a str>,
    next_kind: NextKind,
    cursor_param: &'a str,
    delete_missing: bool,
}

impl<'a> Spec<'a> {
    fn read(sync: &'a Value) -> Option<Self> {
        Some(Self {
            path: sync["path"].as_str()?,
            items_pointer: sync["items_pointer"].as_str().unwrap_or(""),
            external_id_field: sync["external_id_field"].as_str()?,
            endpoint: sync["endpoint"].as_str()?,
            next_pointer: sync["next_pointer"].as_str().filter(|p| !p.is_empty()),
            next_kind: if sync["next_kind"] == "link" { NextKind::Link } else { NextKind::Cursor },
            cursor_param: sync["cursor_param"].as_str().filter(|p| !p.is_empty()).unwrap_or(DEFAULT_CURSOR_PARAM),
            delete_missing: sync["delete_missing"].as_bool().unwrap_or(false),
        })
    }
}

/// Whether two `config.sync` values read the same listing into the same
/// endpoint by the same ids (`path`, `external_id_field`, `endpoint`):
/// when not, what an integration remembers of its items is of another
/// listing (see [`super::update`]).
pub(super) fn same_listing(before: &Value, after: &Value) -> bool {
    ["path", "external_id_field", "endpoint"].iter().all(|k| before.get(k) == after.get(k))
}

/// Where the next page is, as one answer says.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Nowhere: the listing is complete.
    Done,
    /// A cursor, sent as `cursor_param` on the next GET of `path`.
    Cursor(String),
    /// A link: a URI reference, resolved against the page's URL.
    Link(String),
}

/// The next page of an answer: the value at `next_pointer` (a cursor or a
/// link, as `next_kind` says), else the `Link` header's `rel="next"`.
fn next_of(spec: &Spec<'_>, body: &Value, headers: &[(String, String)]) -> std::result::Result<Next, String> {
    let Some(pointer) = spec.next_pointer else {
        let link = headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("link")).find_map(|(_, v)| next_link(v));
        return Ok(link.map_or(Next::Done, Next::Link));
    };
    match (body.pointer(pointer), spec.next_kind) {
        (None | Some(Value::Null), _) => Ok(Next::Done),
        (Some(Value::String(s)), _) if s.trim().is_empty() => Ok(Next::Done),
        (Some(Value::String(s)), NextKind::Cursor) => Ok(Next::Cursor(s.clone())),
        (Some(Value::String(s)), NextKind::Link) => Ok(Next::Link(s.clone())),
        (Some(Value::Number(n)), NextKind::Cursor) => Ok(Next::Cursor(n.to_string())),
        (Some(_), NextKind::Cursor) => Err(format!("`{pointer}` in the answer is not a cursor (a string or a number)")),
        (Some(_), NextKind::Link) => Err(format!("`{pointer}` in the answer is not a link (a string)")),
    }
}

/// The target of the `rel="next"` link of a `Link` header value (RFC 8288:
/// comma-separated `<target>; param=value` entries, `rel` a space-separated
/// list of relation types), if it has one.
fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    loop {
        let open = rest.find('<')?;
        let close = open + rest[open..].find('>')?;
        let target = rest[open + 1..close].trim();
        rest = &rest[close + 1..];
        // The parameters run to the comma that starts the next entry (one outside quotes).
        let mut quoted = false;
        let end = rest
            .char_indices()
            .find(|&(_, ch)| {
                if ch == '"' {
                    quoted = !quoted;
                }
                ch == ',' && !quoted
            })
            .map_or(rest.len(), |(at, _)| at);
        let is_next = rest[..end].split(';').filter_map(|p| p.split_once('=')).any(|(name, value)| {
            name.trim().eq_ignore_ascii_case("rel")
                && value.trim().trim_matches('"').split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_string());
        }
        rest = &rest[end..];
    }
}

/// The GET of a link found in the answer to `current`: resolved against
/// that page's URL, it must stay under the connection's API base URL
/// ([`call::under_base`]), and becomes a path relative to it.
fn follow(base: &str, current: &CallRequest, link: &str) -> std::result::Result<CallRequest, String> {
    let here = call::url_of(base, current).map_err(|e| e.public_message())?;
    let mut there = here.join(link).map_err(|e| format!("The next page's link is not a valid URL ({e})"))?;
    there.set_fragment(None);
    let base_url = url::Url::parse(base).map_err(|_| "The connection's API base URL is not valid".to_string())?;
    let Some(rest) = call::under_base(&base_url, &there) else {
        // Its path and query may carry a token or what was listed: only its origin is said.
        return Err(format!(
            "The next page's link points outside the connection's API base URL (to {}): not followed",
            there.origin().ascii_serialization()
        ));
    };
    let mut path = if rest.is_empty() { "/".to_string() } else { rest.to_string() };
    if let Some(q) = there.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok(CallRequest { method: "GET".into(), path, ..Default::default() })
}

/// What asking for one page came to.
enum Paged {
    /// The answer's JSON and headers.
    Answer(Value, Vec<(String, String)>),
    /// Nothing can go out before this long: the provider's window is full,
    /// or its 429 asked for a longer wait than the page's budget.
    Wait(Duration),
}

/// One page through the workspace's connection, the call's retries and a
/// 429's wait kept within `budget`. A full window is not queued as a
/// `connection.call` (nobody would read its answer): the run decides.
async fn page(
    st: &AppState,
    i: &integration::Model,
    request: CallRequest,
    budget: Duration,
) -> std::result::Result<Paged, String> {
    let answer = match call_for_run(st, &i.workspace_id, &i.service_type, request, budget).await {
        Ok(ForRun::Answered { answer, .. }) if (200..300).contains(&answer.status) => answer,
        Ok(ForRun::Answered { answer, .. }) => return Err(format!("The service answered HTTP {}", answer.status)),
        Ok(ForRun::Wait(wait)) => return Ok(Paged::Wait(wait)),
        Ok(ForRun::Unavailable(why) | ForRun::Unusable(why)) => return Err(why),
        Err(e) => return Err(reason(&e)),
    };
    let body = serde_json::from_str(&answer.body).map_err(|_| "The service's answer is not JSON".to_string())?;
    Ok(Paged::Answer(body, answer.headers))
}

/// What an error says to the run's reader: its first field detail, else its message.
fn reason(e: &Error) -> String {
    e.details().first().map_or_else(|| e.public_message(), |d| d.error.clone())
}

/// Where a listing continues, kept on the integration between runs.
#[derive(Serialize, Deserialize)]
struct Resume {
    /// The run that read the cycle's first page: the items the cycle
    /// listed are marked with its id.
    cycle: String,
    /// Pages of the cycle read before.
    pages: u64,
    /// The next page's GET.
    next: CallRequest,
}

/// Where the integration's listing continues, if a run stopped at a bound.
/// One that cannot be read (the server key changed) is started again.
fn resume_of(st: &AppState, i: &integration::Model) -> Option<Resume> {
    let text = st.secret.decrypt(i.sync_resume_enc.as_deref()?).ok()?;
    serde_json::from_str(&text).ok()
}

/// Keeps where the listing continues (`None`: at the first page).
async fn keep_resume(st: &AppState, integration_id: &str, resume: Option<&Resume>) -> Result<()> {
    let sealed = match resume {
        Some(r) => Some(st.secret.encrypt(&serde_json::to_string(r).map_err(Error::internal)?)?),
        None => None,
    };
    integration::Entity::update_many()
        .col_expr(integration::Column::SyncResumeEnc, Expr::value(sealed))
        .filter(integration::Column::Id.eq(integration_id))
        .exec(&st.writer)
        .await?;
    Ok(())
}

/// How storing one item went.
enum Stored {
    /// Created or replaced.
    Changed,
    /// Stored before exactly as it is now.
    Unchanged,
}

/// Points an item's row at its record, with the digest of what the record
/// holds (empty: not known to be written yet).
async fn point(st: &AppState, i: &integration::Model, external: &str, record_id: &str, digest: &str) -> Result<()> {
    use integration_item::Column as C;
    integration_item::Entity::update_many()
        .col_expr(C::RecordId, Expr::value(record_id))
        .col_expr(C::Digest, Expr::value(digest))
        .col_expr(C::UpdatedAt, Expr::value(Utc::now()))
        .filter(C::IntegrationId.eq(&i.id))
        .filter(C::ExternalId.eq(external))
        .exec(&st.writer)
        .await?;
    Ok(())
}

/// Stores one item by its external id (see the module's header).
async fn store(
    st: &AppState,
    i: &integration::Model,
    key: &data_key::Model,
    endpoint: &data_endpoint::Model,
    external: &str,
    item: &Value,
) -> Result<std::result::Result<Stored, String>> {
    use sha2::Digest;
    let text = item.to_string();
    let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    let known = integration_item::Entity::find_by_id((i.id.clone(), external.to_string())).one(&st.writer).await?;
    if known.as_ref().is_some_and(|k| k.digest == digest) {
        return Ok(Ok(Stored::Unchanged));
    }
    let (mut record_id, mut op) = match known {
        Some(k) => (k.record_id, Operation::Replace),
        None => {
            // The row first, naming the record about to be made.
            let id = new_id("rec");
            let row = integration_item::Model {
                integration_id: i.id.clone(),
                external_id: external.to_string(),
                record_id: id.clone(),
                digest: String::new(),
                updated_at: Utc::now(),
                cycle: None,
            };
            row.into_active_model().insert(&st.writer).await?;
            (id, Operation::Create)
        }
    };
    loop {
        let change =
            Change { op, record_id: Some(&record_id), body: Some(text.clone()), callback: None, silent: false };
        match records::accept(st, key, endpoint, change).await {
            Ok(_) => break,
            Err(Error::NotFound(_)) if op == Operation::Replace => {
                // Gone: made again, under a new id written down first.
                record_id = new_id("rec");
                point(st, i, external, &record_id, "").await?;
                op = Operation::Create;
            }
            Err(e) => return Ok(Err(format!("Item `{external}` was refused: {}", e.public_message()))),
        }
    }
    point(st, i, external, &record_id, &digest).await?;
    Ok(Ok(Stored::Changed))
}

/// Marks the items a page listed as seen by the cycle.
async fn mark_seen(st: &AppState, i: &integration::Model, cycle: &str, listed: &[String]) -> Result<()> {
    use integration_item::Column as C;
    for chunk in listed.chunks(500) {
        integration_item::Entity::update_many()
            .col_expr(C::Cycle, Expr::value(cycle))
            .filter(C::IntegrationId.eq(&i.id))
            .filter(C::ExternalId.is_in(chunk.iter().map(String::as_str)))
            .exec(&st.writer)
            .await?;
    }
    Ok(())
}

/// Deletes the records of the items a complete cycle did not list: a
/// delete through the records service, then the item's row. A record
/// already deleted (by hand) only loses its row. Nothing is deleted, with
/// a note, when the listing was empty or would delete more than half of
/// the items (see the module's header). Stops at a refusal (the endpoint's
/// quota), which fails the run; the rest goes next time.
async fn delete_missing(
    st: &AppState,
    i: &integration::Model,
    key: &data_key::Model,
    endpoint: &data_endpoint::Model,
    cycle: &str,
    out: &mut RunOutcome,
) -> Result<()> {
    let known = integration_item::Entity::find()
        .filter(integration_item::Column::IntegrationId.eq(&i.id))
        .all(&st.writer)
        .await?;
    let total = known.len();
    let (listed, gone): (Vec<_>, Vec<_>) = known.into_iter().partition(|k| k.cycle.as_deref() == Some(cycle));
    if gone.is_empty() {
        return Ok(());
    }
    if listed.is_empty() {
        out.note = Some(format!(
            "The service listed no items while {total} are stored: nothing was deleted, as a service's outage that \
             answers an empty listing must not delete every record. If they are gone, delete them by hand."
        ));
        return Ok(());
    }
    if gone.len() * 2 > total {
        out.note = Some(format!(
            "The listing no longer has {} of the {total} items stored, more than half: nothing was deleted, as a \
             service's outage that answers a cut listing must not delete most records. If they are gone, delete \
             them by hand.",
            gone.len()
        ));
        return Ok(());
    }
    for g in gone {
        let change =
            Change { op: Operation::Delete, record_id: Some(&g.record_id), body: None, callback: None, silent: false };
        match records::accept(st, key, endpoint, change).await {
            Ok(_) => out.deleted += 1,
            Err(Error::NotFound(_)) => {}
            Err(e) => {
                out.failure = Some(format!(
                    "Deleting the record of `{}` (gone at the service) was refused: {}",
                    g.external_id,
                    e.public_message()
                ));
                return Ok(());
            }
        }
        integration_item::Entity::delete_by_id((g.integration_id, g.external_id)).exec(&st.writer).await?;
    }
    Ok(())
}

/// Why a run stopped before the end of the listing without failing.
enum Bound {
    /// [`MAX_PAGES`] read.
    Pages,
    /// [`RUN_BUDGET`] spent.
    Time,
    /// The provider's rate window is full for longer than the run may wait.
    Window(Duration),
}

/// Ends a run at a bound: where the listing continues is kept, and the
/// note says so.
async fn stop(
    st: &AppState,
    i: &integration::Model,
    mut out: RunOutcome,
    bound: Bound,
    at: Resume,
) -> Result<RunOutcome> {
    let why = match bound {
        Bound::Pages => format!("Stopped after {MAX_PAGES} pages, the most one run reads"),
        Bound::Time => format!("Stopped after {} seconds, the longest one run reads", RUN_BUDGET.as_secs()),
        Bound::Window(wait) => {
            format!("Stopped as the service's rate window is full for {} more seconds", wait.as_secs().max(1))
        }
    };
    out.note = Some(format!(
        "{why}: the listing continues at the next run, from page {}. Nothing is deleted before the listing was \
         read to its end.",
        at.pages + 1
    ));
    keep_resume(st, &i.id, Some(&at)).await?;
    Ok(out)
}

/// Runs an inbound sync as the run `run_id` (see the module's header).
/// `items` counts the records created or replaced, `deleted` those deleted.
pub(super) async fn run(st: &AppState, i: &integration::Model, run_id: &str) -> Result<RunOutcome> {
    let out = read(st, i, run_id).await?;
    if out.failure.is_some() && i.sync_resume_enc.is_some() {
        keep_resume(st, &i.id, None).await?;
    }
    Ok(out)
}

/// The pages of one run: from where the last run stopped, else the first.
async fn read(st: &AppState, i: &integration::Model, run_id: &str) -> Result<RunOutcome> {
    let started = Instant::now();
    let mut out = RunOutcome::default();
    let fail = |mut out: RunOutcome, why: String| -> Result<RunOutcome> {
        out.failure = Some(why);
        Ok(out)
    };
    let Some(spec) = Spec::read(&i.config["sync"]) else {
        return fail(out, "The integration has no `sync` config".into());
    };
    let Some(c) = connection_for(&st.db, &i.workspace_id, &i.service_type).await? else {
        return fail(out, "The workspace has no connection for this service".into());
    };
    let Some(endpoint) = crate::services::data_endpoints::by_slug(&st.db, &i.workspace_id, spec.endpoint).await? else {
        return fail(out, format!("The data endpoint `{}` is gone", spec.endpoint));
    };
    let key = match &i.data_key_id {
        Some(k) => data_key::Entity::find_by_id(k).one(&st.db).await?,
        None => None,
    };
    let Some(key) = key else {
        return fail(out, "The integration's data key is gone: save its config again".into());
    };
    let base = match call::base_url(st, &c).await {
        Ok(b) => b,
        Err(e) => return fail(out, reason(&e)),
    };
    let first = CallRequest { method: "GET".into(), path: spec.path.to_string(), ..Default::default() };
    let (cycle, before, mut request) = match resume_of(st, i) {
        Some(r) => (r.cycle, r.pages, r.next),
        None => (run_id.to_string(), 0, first),
    };
    let id_field = spec.external_id_field;
    // The next pages this run was given (cursors and links): one given twice would loop.
    let mut next_pages_given: HashSet<String> = HashSet::new();
    let mut read = 0u64;
    loop {
        let at = before + read + 1;
        let on_page = |why: String| if at == 1 { why } else { format!("Page {at}: {why}") };
        let left = RUN_BUDGET.saturating_sub(started.elapsed());
        let bound = if read as usize == MAX_PAGES {
            Some(Bound::Pages)
        } else if left.is_zero() {
            Some(Bound::Time)
        } else {
            None
        };
        if let Some(bound) = bound {
            return stop(st, i, out, bound, Resume { cycle, pages: at - 1, next: request }).await;
        }
        let budget = left.min(PAGE_WAIT);
        let (body, headers) = match page(st, i, request.clone(), budget).await {
            Ok(Paged::Answer(body, headers)) => (body, headers),
            Ok(Paged::Wait(wait)) if wait < budget => {
                tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
                continue;
            }
            Ok(Paged::Wait(wait)) => {
                return stop(st, i, out, Bound::Window(wait), Resume { cycle, pages: at - 1, next: request }).await;
            }
            Err(why) => return fail(out, on_page(why)),
        };
        read += 1;
        let Some(items) = body.pointer(spec.items_pointer).and_then(Value::as_array) else {
            return fail(out, on_page(format!("`{}` does not point at an array in the answer", spec.items_pointer)));
        };
        let mut listed = Vec::with_capacity(items.len());
        for (n, item) in items.iter().enumerate() {
            let external = match &item[id_field] {
                Value::String(s) => s.clone(),
                Value::Number(v) => v.to_string(),
                _ => return fail(out, on_page(format!("Item {n} has no `{id_field}`"))),
            };
            if !item.is_object() {
                return fail(out, on_page(format!("Item {n} is not a JSON object")));
            }
            match store(st, i, &key, &endpoint, &external, item).await? {
                Ok(Stored::Changed) => out.items += 1,
                Ok(Stored::Unchanged) => {}
                Err(why) => return fail(out, on_page(why)),
            }
            listed.push(external);
        }
        mark_seen(st, i, &cycle, &listed).await?;
        request = match next_of(&spec, &body, &headers) {
            Err(why) => return fail(out, on_page(why)),
            Ok(Next::Done) => {
                if i.sync_resume_enc.is_some() {
                    keep_resume(st, &i.id, None).await?;
                }
                if spec.delete_missing {
                    delete_missing(st, i, &key, &endpoint, &cycle, &mut out).await?;
                }
                return Ok(out);
            }
            Ok(Next::Cursor(next) | Next::Link(next)) if !next_pages_given.insert(next.clone()) => {
                // Not shown: a cursor or a link may carry a token.
                let why = "The service named a next page it had already named in this run: stopped, as following \
                           it would loop";
                return fail(out, on_page(why.into()));
            }
            Ok(Next::Cursor(cursor)) => CallRequest {
                method: "GET".into(),
                path: spec.path.to_string(),
                query: vec![(spec.cursor_param.to_string(), cursor)],
                ..Default::default()
            },
            Ok(Next::Link(link)) => match follow(&base, &request, &link) {
                Ok(r) => r,
                Err(why) => return fail(out, on_page(why)),
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(sync: &Value) -> Spec<'_> {
        Spec::read(sync).unwrap()
    }

    #[test]
    fn the_next_page_comes_from_the_pointer_as_next_kind_says_else_the_link_header() {
        let with = json!({ "path": "/x", "external_id_field": "id", "endpoint": "e", "next_pointer": "/meta/next" });
        let s = spec(&with);
        assert_eq!((s.cursor_param, s.next_kind), ("cursor", NextKind::Cursor));
        let next = |body: Value| next_of(&s, &body, &[]);
        assert_eq!(next(json!({ "meta": { "next": "c2" } })), Ok(Next::Cursor("c2".into())));
        assert_eq!(next(json!({ "meta": { "next": 3 } })), Ok(Next::Cursor("3".into())));
        // A cursor is opaque: one that looks like a path or a URL is still a cursor.
        for cursor in ["/x?page=2", "/9uQ+Zm9vYmFy==", "HTTPS://h/x"] {
            assert_eq!(next(json!({ "meta": { "next": cursor } })), Ok(Next::Cursor(cursor.into())));
        }
        for done in
            [json!({}), json!({ "meta": {} }), json!({ "meta": { "next": null } }), json!({ "meta": { "next": "" } })]
        {
            assert_eq!(next(done), Ok(Next::Done));
        }
        assert!(next(json!({ "meta": { "next": {} } })).is_err());
        // As links, when the config says so.
        let links = json!({ "path": "/x", "external_id_field": "id", "endpoint": "e", "next_pointer": "/next",
                            "next_kind": "link" });
        let l = spec(&links);
        assert_eq!(next_of(&l, &json!({ "next": "/x?page=2" }), &[]), Ok(Next::Link("/x?page=2".into())));
        assert_eq!(
            next_of(&l, &json!({ "next": "https://h/x?page=2" }), &[]),
            Ok(Next::Link("https://h/x?page=2".into()))
        );
        assert_eq!(next_of(&l, &json!({ "next": null }), &[]), Ok(Next::Done));
        assert!(next_of(&l, &json!({ "next": 3 }), &[]).is_err(), "a number is no link");
        // A pointer set ignores the header; none set follows it.
        let header = vec![("Link".to_string(), r#"</x?page=2>; rel="next""#.to_string())];
        assert_eq!(next_of(&s, &json!({}), &header), Ok(Next::Done));
        let without = json!({ "path": "/x", "external_id_field": "id", "endpoint": "e", "next_pointer": "" });
        assert_eq!(next_of(&spec(&without), &json!({}), &header), Ok(Next::Link("/x?page=2".into())));
        assert_eq!(next_of(&spec(&without), &json!({}), &[]), Ok(Next::Done));
    }

    #[test]
    fn the_listing_is_the_same_while_its_path_ids_and_endpoint_are() {
        let a = json!({ "path": "/x", "external_id_field": "id", "endpoint": "e", "next_pointer": "/n" });
        let mut b = a.clone();
        b["next_pointer"] = json!("/meta/next");
        b["delete_missing"] = json!(true);
        assert!(same_listing(&a, &b));
        for (k, v) in [("path", "/y"), ("external_id_field", "uid"), ("endpoint", "f")] {
            let mut c = a.clone();
            c[k] = json!(v);
            assert!(!same_listing(&a, &c), "{k}");
        }
    }

    #[test]
    fn link_headers_are_read_as_rfc_8288_says() {
        let gh = r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last""#;
        assert_eq!(next_link(gh).as_deref(), Some("https://api.github.com/repositories/1/issues?page=2"));
        let later = r#"<https://h/x?page=1>; rel="prev first"; title="a, b", <https://h/x?page=3>; rel="last next""#;
        assert_eq!(next_link(later).as_deref(), Some("https://h/x?page=3"));
        assert_eq!(next_link("</x?p=2>;rel=next").as_deref(), Some("/x?p=2"));
        assert_eq!(next_link(r#"<https://h/x?page=1>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn links_are_followed_only_under_the_base_url() {
        let base = "https://api.example.com/v2";
        let first = CallRequest { method: "GET".into(), path: "/customers?limit=2".into(), ..Default::default() };
        let path = |link: &str| follow(base, &first, link).map(|r| r.path);
        assert_eq!(path("https://api.example.com/v2/customers?page=2").unwrap(), "/customers?page=2");
        assert_eq!(path("/v2/customers?page=2").unwrap(), "/customers?page=2");
        assert_eq!(path("?page=2").unwrap(), "/customers?page=2");
        assert_eq!(path("https://api.example.com/v2").unwrap(), "/");
        for outside in [
            "https://evil.example/v2/customers?page=2",
            "http://api.example.com/v2/customers",
            "https://api.example.com:8443/v2/customers",
            "/v1/customers",
            "/v2x/customers",
            "/v2/../admin",
            "/v2/%2e%2e/v2x/customers",
            "//evil.example/v2/customers",
            "\\\\evil.example\\v2\\customers",
            "https://api.example.com@evil.example/v2/customers",
            "https://user:pw@api.example.com/v2/customers",
        ] {
            let refused = path(outside).unwrap_err();
            assert!(refused.contains("outside the connection's API base URL"), "{outside}: {refused}");
            assert!(!refused.contains("customers") && !refused.contains("admin"), "no path is shown: {refused}");
        }
        assert_eq!(path("/v2/%2F..%2Fadmin").unwrap(), "/%2F..%2Fadmin", "an encoded slash stays in its segment");
    }
}
