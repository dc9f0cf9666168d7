//! The items of an inbound sync (see [`super`]): each stored by its
//! external id, its row written before its record; the items a page
//! listed marked with the cycle; the records of vanished items deleted
//! after a complete cycle, unless that would be most of them.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use serde_json::Value;

use entity::{data_endpoint, data_key, integration, integration_item};

use super::super::sync::RunOutcome;
use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::services::records::{self, Change, Operation};
use crate::state::AppState;

/// How storing one item went.
pub(super) enum Stored {
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

/// The rows of the items a page lists, by external id, read in one query
/// per 500 ids (not one per item).
pub(super) async fn known_items(
    st: &AppState,
    i: &integration::Model,
    listed: &[String],
) -> Result<HashMap<String, integration_item::Model>> {
    use integration_item::Column as C;
    let mut known = HashMap::with_capacity(listed.len());
    for chunk in listed.chunks(500) {
        let rows = integration_item::Entity::find()
            .filter(C::IntegrationId.eq(&i.id))
            .filter(C::ExternalId.is_in(chunk.iter().map(String::as_str)))
            .all(&st.writer)
            .await?;
        known.extend(rows.into_iter().map(|r| (r.external_id.clone(), r)));
    }
    Ok(known)
}

/// Stores one item by its external id (see the module's header). `known`
/// holds the page's item rows ([`known_items`]) and is kept up to date, so
/// an id listed twice on a page is stored once.
pub(super) async fn store(
    st: &AppState,
    i: &integration::Model,
    key: &data_key::Model,
    endpoint: &data_endpoint::Model,
    known: &mut HashMap<String, integration_item::Model>,
    external: &str,
    item: &Value,
) -> Result<std::result::Result<Stored, String>> {
    use sha2::Digest;
    let text = item.to_string();
    let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    let row = known.get(external);
    if row.is_some_and(|k| k.digest == digest) {
        return Ok(Ok(Stored::Unchanged));
    }
    let (mut record_id, mut op) = match row {
        Some(k) => (k.record_id.clone(), Operation::Replace),
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
            let row = row.into_active_model().insert(&st.writer).await?;
            known.insert(external.to_string(), row);
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
    if let Some(k) = known.get_mut(external) {
        k.record_id = record_id;
        k.digest = digest;
    }
    Ok(Ok(Stored::Changed))
}

/// Marks the items a page listed as seen by the cycle.
pub(super) async fn mark_seen(st: &AppState, i: &integration::Model, cycle: &str, listed: &[String]) -> Result<()> {
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
pub(super) async fn delete_missing(
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
