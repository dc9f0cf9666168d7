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
//! - **Paused, not failed, by a broken connection.** When the workspace's
//!   connection is gone or needs to be made again (its refresh was
//!   refused), the run ends `PAUSED` where it was, keeping the next page's
//!   request as a bound does; the integration's status is left as it is.
//!   Making the connection again resumes that run (see [`super::paused`]).
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

mod items;
mod pages;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use entity::{data_key, integration};

use super::connection_for;
use super::sync::{RunOutcome, RUN_TIMEOUT};
use crate::error::{Error, Result};
use crate::services::connections::call::{self, CallRequest};
use crate::services::connections::ConnectionStatus;
use crate::state::AppState;
use items::{delete_missing, known_items, mark_seen, store, Stored};
use pages::{follow, next_of, page, reason, Next, Paged, Spec};

pub(super) use pages::same_listing;

/// Most pages one run reads (see the module's header).
pub const MAX_PAGES: usize = 100;

/// Longest one page's call may take, a wait for the provider's rate window included.
const PAGE_WAIT: Duration = Duration::from_secs(90);

/// How long a run reads pages (an outbound run: sends events): well below
/// its job's [`RUN_TIMEOUT`], as the page under way then still takes its call (one attempt: 20 s at most with
/// the outgoing client, twice that after a token refresh) and its items'
/// writes, and the last page of a listing its deletions.
pub const RUN_BUDGET: Duration = Duration::from_secs(RUN_TIMEOUT.as_secs() - 100);

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
    /// The digest of the `config.sync` the cycle reads.
    sync: String,
}

/// The digest of an integration's `config.sync`.
fn sync_digest(i: &integration::Model) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(i.config["sync"].to_string().as_bytes()))
}

/// Where the integration's listing continues, if a run stopped at a bound.
/// One that cannot be read (the server key changed), or that was kept for
/// another `config.sync` (changed while a run was under way), is started again.
fn resume_of(st: &AppState, i: &integration::Model) -> Option<Resume> {
    let text = st.secret.decrypt(i.sync_resume_enc.as_deref()?).ok()?;
    serde_json::from_str::<Resume>(&text).ok().filter(|r| r.sync == sync_digest(i))
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
    // A connection that is gone or must be made again pauses the run: it
    // resumes when the connection is made again (see [`super::paused`]).
    let c = match connection_for(&st.db, &i.workspace_id, &i.service_type).await? {
        Some(c) if c.status == ConnectionStatus::Connected.as_str() => c,
        found => {
            out.paused = Some(super::paused::reason(&i.service_type, found.is_some()));
            return Ok(out);
        }
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
            return stop(st, i, out, bound, Resume { cycle, pages: at - 1, next: request, sync: sync_digest(i) }).await;
        }
        let budget = left.min(PAGE_WAIT);
        let (body, headers) = match page(st, i, request.clone(), budget).await {
            Ok(Paged::Answer(body, headers)) => (body, headers),
            Ok(Paged::Wait(wait)) if wait < budget && wait <= super::sync::RATE_WAIT => {
                tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
                continue;
            }
            Ok(Paged::Wait(wait)) => {
                return stop(
                    st,
                    i,
                    out,
                    Bound::Window(wait),
                    Resume { cycle, pages: at - 1, next: request, sync: sync_digest(i) },
                )
                .await;
            }
            Ok(Paged::Paused(why)) => {
                // Its reconnect goes on from this page.
                let at = Resume { cycle, pages: at - 1, next: request, sync: sync_digest(i) };
                keep_resume(st, &i.id, Some(&at)).await?;
                out.paused = Some(why);
                return Ok(out);
            }
            Err(why) => return fail(out, on_page(why)),
        };
        read += 1;
        let Some(items) = body.pointer(spec.items_pointer).and_then(Value::as_array) else {
            return fail(out, on_page(format!("`{}` does not point at an array in the answer", spec.items_pointer)));
        };
        // The whole page is checked before any of it is stored.
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
            listed.push(external);
        }
        let mut known = known_items(st, i, &listed).await?;
        for (external, item) in listed.iter().zip(items) {
            match store(st, i, &key, &endpoint, &mut known, external, item).await? {
                Ok(Stored::Changed) => out.items += 1,
                Ok(Stored::Unchanged) => {}
                Err(why) => return fail(out, on_page(why)),
            }
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
