//! Cursor pagination over time-sortable ids, newest first.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::error::{Error, Result};
use crate::ids::has_prefix;

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;
/// The highest page number a numbered list accepts.
pub const MAX_PAGE_NUMBER: u64 = 1_000_000;

/// Validated paging arguments.
#[derive(Debug, Clone)]
pub struct PageArgs {
    pub first: u64,
    /// Return items strictly older than this id.
    pub after: Option<String>,
    /// Whether to count every matching row for `total_count` (a
    /// `COUNT(*)`; skipped when nobody reads it).
    pub count: bool,
    /// Paging back towards newer items (`last`/`before`): the page holds
    /// the `first` items just newer than `before` (or the oldest ones).
    pub backward: bool,
    /// Return items strictly newer than this id (with `backward`).
    pub before: Option<String>,
    /// The list runs oldest first (`after` then means newer, `before` older).
    pub oldest_first: bool,
    /// Rows skipped before the page (numbered pages of the REST API; `None`
    /// for cursor pages).
    pub offset: Option<u64>,
}

impl PageArgs {
    /// Checks `first` (1..=100, default 20) and that `after` is an id of `prefix`.
    pub fn new(first: Option<i32>, after: Option<String>, prefix: &str) -> Result<Self> {
        let first = match first {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if (1..=MAX_PAGE_SIZE as i32).contains(&n) => n as u64,
            Some(_) => return Err(Error::invalid_field("first", format!("Must be between 1 and {MAX_PAGE_SIZE}"))),
        };
        if let Some(a) = &after {
            if !has_prefix(a, prefix) {
                return Err(Error::invalid_field("after", "Not a cursor of this list"));
            }
        }
        Ok(Self { first, after, count: true, backward: false, before: None, oldest_first: false, offset: None })
    }

    /// Numbered pages (`?page=1&limit=20`, the REST API's): `limit` 1..=100
    /// (default 20), `page` from 1 (default 1), newest first, with the total.
    pub fn numbered(page: Option<u64>, limit: Option<u64>) -> Result<Self> {
        let limit = match limit {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            Some(_) => return Err(Error::invalid_field("limit", format!("Must be between 1 and {MAX_PAGE_SIZE}"))),
        };
        let page = match page {
            None => 1,
            Some(n) if (1..=MAX_PAGE_NUMBER).contains(&n) => n,
            Some(_) => return Err(Error::invalid_field("page", format!("Must be between 1 and {MAX_PAGE_NUMBER}"))),
        };
        Ok(Self {
            first: limit,
            after: None,
            count: true,
            backward: false,
            before: None,
            oldest_first: false,
            offset: Some((page - 1) * limit),
        })
    }

    /// Relay's four arguments: `first`/`after` page towards older items,
    /// `last`/`before` back towards newer ones; one direction per request.
    pub fn window(
        (first, after): (Option<i32>, Option<String>),
        (last, before): (Option<i32>, Option<String>),
        oldest_first: bool,
        prefix: &str,
    ) -> Result<Self> {
        if last.is_none() && before.is_none() {
            return Ok(Self { oldest_first, ..Self::new(first, after, prefix)? });
        }
        if first.is_some() || after.is_some() {
            return Err(Error::invalid_field("last", "Page one way: `first`/`after` or `last`/`before`, not both"));
        }
        let size = match last {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if (1..=MAX_PAGE_SIZE as i32).contains(&n) => n as u64,
            Some(_) => return Err(Error::invalid_field("last", format!("Must be between 1 and {MAX_PAGE_SIZE}"))),
        };
        if let Some(b) = &before {
            if !has_prefix(b, prefix) {
                return Err(Error::invalid_field("before", "Not a cursor of this list"));
            }
        }
        Ok(Self { first: size, after: None, count: true, backward: true, before, oldest_first, offset: None })
    }

    /// The same arguments, counting the total only if `count`.
    pub fn counting(self, count: bool) -> Self {
        Self { count, ..self }
    }
}

/// One page of rows plus what a Relay connection needs.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    /// 0 when the arguments asked not to count.
    pub total_count: u64,
}

impl<T> Page<T> {
    /// The same page with its items converted (or dropped when `f` says None).
    pub fn filter_map<U>(self, f: impl FnMut(T) -> Option<U>) -> Page<U> {
        Page {
            items: self.items.into_iter().filter_map(f).collect(),
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
            total_count: self.total_count,
        }
    }
}

/// Runs `select` (already filtered by workspace and filters) for one page,
/// ordered by `id_col` descending.
pub async fn fetch_page<E>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    id_col: E::Column,
    args: &PageArgs,
) -> Result<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: Sync,
{
    let total_count = match args.count {
        true => select.clone().count(db).await?,
        false => 0,
    };
    let mut q = select;
    // The list's order, and the direction this page reads it in.
    let newest_first = !args.oldest_first;
    if args.backward {
        if let Some(before) = &args.before {
            q = match newest_first {
                true => q.filter(id_col.gt(before.as_str())),
                false => q.filter(id_col.lt(before.as_str())),
            };
        }
        q = match newest_first {
            true => q.order_by_asc(id_col),
            false => q.order_by_desc(id_col),
        };
        let mut items = q.limit(args.first + 1).all(db).await?;
        let has_previous_page = items.len() as u64 > args.first;
        items.truncate(args.first as usize);
        items.reverse();
        return Ok(Page { items, has_next_page: args.before.is_some(), has_previous_page, total_count });
    }
    if let Some(after) = &args.after {
        q = match newest_first {
            true => q.filter(id_col.lt(after.as_str())),
            false => q.filter(id_col.gt(after.as_str())),
        };
    }
    q = match newest_first {
        true => q.order_by_desc(id_col),
        false => q.order_by_asc(id_col),
    };
    if let Some(offset) = args.offset.filter(|o| *o > 0) {
        q = q.offset(offset);
    }
    let mut items = q.limit(args.first + 1).all(db).await?;
    let has_next_page = items.len() as u64 > args.first;
    items.truncate(args.first as usize);
    let has_previous_page = args.after.is_some() || args.offset.is_some_and(|o| o > 0);
    Ok(Page { items, has_next_page, has_previous_page, total_count })
}
