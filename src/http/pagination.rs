//! Cursor pagination: `?cursor=&limit=` in, `{items, next_cursor}` out. The cursor is
//! opaque to clients (base64url of the last key seen).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::ApiError;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// Query parameters of a list endpoint.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

pub use crate::db::PageRequest;

impl PageQuery {
    pub fn parse(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request("invalid_limit", format!("limit must be between 1 and {MAX_LIMIT}")));
        }
        let after = match &self.cursor {
            None => None,
            Some(c) if c.is_empty() => None,
            Some(c) => Some(decode(c).ok_or_else(|| ApiError::bad_request("invalid_cursor", "cursor is not valid"))?),
        };
        Ok(PageRequest { after, limit })
    }
}

fn decode(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let key = String::from_utf8(bytes).ok()?;
    key.strip_prefix("k:").map(str::to_string)
}

fn encode(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("k:{key}"))
}

/// One page of a list.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds the page from `limit + 1` fetched rows: the extra row only says whether
    /// there is more.
    pub fn from_rows(mut rows: Vec<T>, request: &PageRequest, key: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() as i64 > request.limit;
        rows.truncate(request.limit as usize);
        let next_cursor = if more { rows.last().map(|r| encode(&key(r))) } else { None };
        Page { items: rows, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_garbage_is_refused() {
        let q = PageQuery { cursor: Some(encode("abc")), limit: Some(5) };
        assert_eq!(q.parse().unwrap().after.as_deref(), Some("abc"));
        let bad = PageQuery { cursor: Some("!!".into()), limit: None };
        assert_eq!(bad.parse().unwrap_err().code(), "invalid_cursor");
        let bad = PageQuery { cursor: Some(URL_SAFE_NO_PAD.encode("nope")), limit: None };
        assert_eq!(bad.parse().unwrap_err().code(), "invalid_cursor");
    }

    #[test]
    fn limits_outside_the_range_are_refused() {
        for limit in [0, -1, 1001] {
            let q = PageQuery { cursor: None, limit: Some(limit) };
            assert_eq!(q.parse().unwrap_err().code(), "invalid_limit");
        }
        assert_eq!(PageQuery { cursor: None, limit: None }.parse().unwrap().limit, 100);
    }

    #[test]
    fn next_cursor_only_when_more_rows_exist() {
        let req = PageRequest { after: None, limit: 2 };
        let page = Page::from_rows(vec![1, 2, 3], &req, |n| n.to_string());
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(decode(page.next_cursor.as_deref().unwrap()).as_deref(), Some("2"));
        let page = Page::from_rows(vec![1, 2], &req, |n| n.to_string());
        assert!(page.next_cursor.is_none());
    }
}
