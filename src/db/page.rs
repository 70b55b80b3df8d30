//! Keyset pagination on the storage side: rows strictly after the last key a client
//! saw, in key order, one more than the page holds so that the caller can tell whether
//! another page follows (see `http::pagination::Page::from_rows`, which makes the
//! opaque cursor of that key).

use diesel::query_dsl::methods::{FilterDsl, LimitDsl, OrderDsl};
use diesel::sql_types::Text;
use diesel::{Expression, ExpressionMethods, dsl};

/// A validated page request: items strictly after `after`, at most `limit` of them.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: i64,
}

impl PageRequest {
    /// The first page of `limit` items.
    pub fn first(limit: i64) -> Self {
        PageRequest { after: None, limit }
    }

    /// The page after key `after`.
    pub fn after(&self, after: impl Into<String>) -> Self {
        PageRequest { after: Some(after.into()), limit: self.limit }
    }
}

/// `query` as one page ordered by `key`: `key > after` when the page has a cursor,
/// `ORDER BY key`, and `limit + 1` rows.
pub fn keyset<Q, K>(query: Q, key: K, page: &PageRequest) -> Q
where
    K: Expression<SqlType = Text> + ExpressionMethods + Copy,
    Q: FilterDsl<dsl::Gt<K, String>, Output = Q> + OrderDsl<dsl::Asc<K>, Output = Q> + LimitDsl<Output = Q>,
{
    let query = OrderDsl::order(query, key.asc());
    let query = match &page.after {
        Some(after) => FilterDsl::filter(query, key.gt(after.clone())),
        None => query,
    };
    LimitDsl::limit(query, page.limit.saturating_add(1))
}
