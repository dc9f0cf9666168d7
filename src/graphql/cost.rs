//! What a query costs, priced before it runs and refused over the limit.
//!
//! Every field costs 1 plus what it selects. A list prices what it selects
//! once per item it may return: a connection by its page size (`first`,
//! default 20), `usage` by its `days`, `nodes` by its number of `ids`.
//! `totalCount` is a `COUNT(*)` over every match: 25, once per connection,
//! whatever the page size. The prices are `#[graphql(complexity = …)]` on the
//! fields, so async-graphql adds them up while it validates the query; the
//! [`Cost`] extension compares the sum with `SWITCHYARD_GRAPHQL_MAX_COMPLEXITY`
//! and reports `extensions.cost: {requested, actual, limit}` on every answer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextResolve, NextValidation,
    ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{value, QueryPathSegment, Response, ServerError, ServerResult, ValidationResult, Value, Variables};

use crate::services::pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// What `totalCount` costs, once per connection that selects it.
pub const TOTAL_COUNT: usize = 25;

/// The most any one field is priced at. Prices saturate here so that adding
/// up a huge query can never overflow (and wrap round to a small number).
const CEILING: usize = 1 << 40;

/// The price of a list of `items`, each costing `child_complexity`.
pub fn list(items: usize, child_complexity: usize) -> usize {
    items.saturating_mul(child_complexity).saturating_add(1).min(CEILING)
}

/// The price of a connection field: what an item selects times the page
/// size, plus `totalCount` once. `field` is the connection field as written
/// in the query; `first` its page size (default 20, at most 100).
///
/// async-graphql passes `child_complexity` as one sum, `totalCount`
/// included; the `totalCount`s selected directly (or in an inline fragment)
/// are taken out of it before it is multiplied. One selected through a named
/// fragment stays in, so such a query is priced higher, never lower.
pub fn connection(field: &Field, first: Option<i32>, child_complexity: usize) -> usize {
    let page = first.map_or(DEFAULT_PAGE_SIZE, |n| (n.max(1) as u64).min(MAX_PAGE_SIZE)) as usize;
    let once = total_counts(&field.selection_set.node).saturating_mul(TOTAL_COUNT);
    list(page, child_complexity.saturating_sub(once)).saturating_add(once).min(CEILING)
}

/// The price of a field that takes a number of `days` (1 to 366).
pub fn days(days: u32, child_complexity: usize) -> usize {
    list(days.clamp(1, 366) as usize, child_complexity)
}

/// How many times `totalCount` is selected in `set`, outside named fragments.
fn total_counts(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|s| match &s.node {
            Selection::Field(f) => usize::from(f.node.name.node == "totalCount"),
            Selection::InlineFragment(f) => total_counts(&f.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Prices every query and subscription, refuses those over `limit`, and
/// reports the cost in the answer's `extensions.cost`.
pub struct Cost {
    pub limit: usize,
}

impl ExtensionFactory for Cost {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CostExtension { limit: self.limit, requested: OnceLock::new(), actual: AtomicUsize::new(0) })
    }
}

/// One request's cost (async-graphql makes an extension per request).
struct CostExtension {
    limit: usize,
    /// The price before running, known once the query is validated.
    requested: OnceLock<usize>,
    /// The same prices, summed over the fields that really were resolved:
    /// a page shorter than `first` costs less than was requested.
    actual: AtomicUsize,
}

#[async_graphql::async_trait::async_trait]
impl Extension for CostExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut resp = next.run(ctx).await;
        if let Some(&requested) = self.requested.get() {
            let cost = if requested > self.limit {
                value!({ "requested": requested, "limit": self.limit })
            } else {
                let actual = self.actual.load(Ordering::Relaxed);
                value!({ "requested": requested, "actual": actual, "limit": self.limit })
            };
            resp.extensions.insert("cost".into(), cost);
        }
        resp
    }

    /// Also refuses a request holding a NUL character (see [`super::nul`]):
    /// here rather than in an extension of its own, which would add a hop
    /// to every field's resolution.
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        match super::nul::check(&doc, variables) {
            Some(err) => Err(err),
            None => Ok(doc),
        }
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let requested = result.complexity;
        let _ = self.requested.set(requested);
        if requested > self.limit {
            return Err(vec![over_limit(requested, self.limit)]);
        }
        Ok(result)
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // Called for each field and for each item of a list; items are free.
        if let QueryPathSegment::Name(_) = info.path_node.segment {
            let price = if info.name == "totalCount" { TOTAL_COUNT } else { 1 };
            self.actual.fetch_add(price, Ordering::Relaxed);
        }
        next.run(ctx, info).await
    }
}

/// The top-level error of a query that costs more than the limit.
fn over_limit(requested: usize, limit: usize) -> ServerError {
    let mut err = ServerError::new(
        format!(
            "Query is too complex: it costs {requested}, the limit is {limit}. \
             Ask for smaller pages (`first`), fewer `days` or fewer fields."
        ),
        None,
    );
    let ext = err.extensions.get_or_insert_with(Default::default);
    ext.set("code", "INVALID_REQUEST");
    ext.set("cost", value!({ "requested": requested, "limit": limit }));
    err
}
