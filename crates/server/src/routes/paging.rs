//! How every list endpoint pages: `limit` (bounded, checked: a value out of
//! range is a 400 that says the range), `cursor` (opaque; a malformed one is
//! a 400), and a `Link: <…>; rel="next"` header (RFC 8288) on a page that may
//! not be the last. The body stays a JSON array.

use std::str::FromStr;

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use writ_app::ports::Cursor;

use crate::error::ApiError;

/// The bounds of a list's `limit`, and its value when none is given.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub default: u32,
    pub max: u32,
}

impl Limit {
    /// The `limit` asked for, checked against the bounds.
    pub fn of(self, asked: Option<u32>) -> Result<u32, ApiError> {
        match asked {
            None => Ok(self.default),
            Some(n) if (1..=self.max).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::bad_input(format!("`limit` must be from 1 to {} (got {n}); page with `cursor` for more", self.max))),
        }
    }
}

/// The `cursor` asked for, if any: a position a `Link` header of this list
/// gave out, whose id is an `I` (a request id for request lists, …).
pub fn cursor<I: FromStr>(asked: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    let Some(text) = asked.filter(|c| !c.is_empty()) else { return Ok(None) };
    let bad = |e: String| ApiError::bad_input(format!("`cursor`: {e}"));
    let c: Cursor = text.parse().map_err(|e: writ_app::ports::CursorError| bad(e.to_string()))?;
    if c.id().parse::<I>().is_err() {
        return Err(bad(format!("`{text}` is not a cursor of this list: pass the `cursor` of this list's `Link: rel=\"next\"` header unchanged")));
    }
    Ok(Some(c))
}

/// A page of a list: a JSON array, with a `Link` header to the next page
/// when there may be one.
pub struct Listed<T> {
    items: Vec<T>,
    next: Option<HeaderValue>,
}

impl<T> Listed<T> {
    /// `items`, and when `next` is given the link to the page after them:
    /// this request's path and query with `cursor` set to `next` (and
    /// without the parameters named in `replaced`, which `cursor` stands for).
    pub fn new(items: Vec<T>, next: Option<String>, uri: &Uri, replaced: &[&str]) -> Result<Self, ApiError> {
        let next = next.map(|c| next_link(uri, &c, replaced)).transpose()?;
        Ok(Self { items, next })
    }
}

impl<T: Serialize> IntoResponse for Listed<T> {
    fn into_response(self) -> Response {
        let mut response = Json(self.items).into_response();
        if let Some(link) = self.next {
            response.headers_mut().insert(header::LINK, link);
        }
        response
    }
}

/// `<path?query&cursor=…>; rel="next"`: the query as the client sent it,
/// its `cursor` (and `replaced`) parameters dropped and the new cursor added.
fn next_link(uri: &Uri, cursor: &str, replaced: &[&str]) -> Result<HeaderValue, ApiError> {
    let mut query: Vec<String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or("");
            !key.is_empty() && key != "cursor" && !replaced.contains(&key)
        })
        .map(str::to_owned)
        .collect();
    // A cursor is digits, letters and `.-_@+`: only `+` must be escaped in
    // a query (it would read back as a space).
    query.push(format!("cursor={}", cursor.replace('+', "%2B")));
    let link = format!("<{}?{}>; rel=\"next\"", uri.path(), query.join("&"));
    HeaderValue::from_str(&link).map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the link to the next page could not be written"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_keeps_the_query_and_replaces_the_cursor() {
        let uri: Uri = "/v1/requests?state=pending&cursor=1.req-a&limit=2".parse().unwrap();
        let link = next_link(&uri, "5.req-b", &[]).unwrap();
        assert_eq!(link, "</v1/requests?state=pending&limit=2&cursor=5.req-b>; rel=\"next\"");
        let uri: Uri = "/v1/audit/events?after=10".parse().unwrap();
        assert_eq!(next_link(&uri, "12", &["after"]).unwrap(), "</v1/audit/events?cursor=12>; rel=\"next\"");
        let uri: Uri = "/v1/tasks".parse().unwrap();
        assert_eq!(next_link(&uri, "3.task-c", &[]).unwrap(), "</v1/tasks?cursor=3.task-c>; rel=\"next\"");
        let uri: Uri = "/v1/identities/owner-left".parse().unwrap();
        assert_eq!(next_link(&uri, "3.ann+ops@x.org", &[]).unwrap(), "</v1/identities/owner-left?cursor=3.ann%2Bops@x.org>; rel=\"next\"");
    }

    #[test]
    fn a_limit_out_of_range_says_the_range() {
        let l = Limit { default: 100, max: 1000 };
        assert_eq!(l.of(None).unwrap(), 100);
        assert_eq!(l.of(Some(1000)).unwrap(), 1000);
        for bad in [0, 1001] {
            let e = l.of(Some(bad)).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.message.contains("`limit` must be from 1 to 1000"), "{}", e.message);
        }
    }
}
