//! Non-human identities whose owner left: the list the owners' managers (and
//! oversight) work through.

use axum::extract::{OriginalUri, Query, State};
use serde::Deserialize;
use writ_api::IdentityView;
use writ_core::ids::IdentityId;

use super::paging::{self, Limit, Listed};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::serve::App;
use crate::views;

const LIMIT: Limit = Limit { default: 100, max: 1000 };

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OwnerLeftQuery {
    /// Only those past their deadline.
    pub overdue: Option<bool>,
    /// At most this many identities (default 100; 1 to 1000, else 400).
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: Option<u32>,
    /// Where to resume: the `cursor` of the previous page's `Link: rel="next"` header, unchanged (opaque; a malformed one is a 400).
    pub cursor: Option<String>,
}

/// Non-human identities whose owner left (was disabled), by deadline, a page
/// at a time: each must be given an active owner or be disabled by its
/// `owner_left.due_at` (policy decides who may list them: `read_audit`).
#[utoipa::path(get, path = "/v1/identities/owner-left", params(OwnerLeftQuery),
    responses(
        (status = 200, description = "A page of identities whose owner left, soonest deadline first.", body = [IdentityView],
            headers(("Link" = String, description = "`<path?query&cursor=…>; rel=\"next\"` (RFC 8288) when there may be more: this request's path and query with `cursor` set. Absent on the last page."))),
        (status = 400, description = "A bad `limit` (out of range), `overdue` or `cursor` (malformed); the message names it.", body = writ_api::ErrorBody),
        (status = 403, body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<App>,
    Caller(me): Caller,
    OriginalUri(uri): OriginalUri,
    q: Result<Query<OwnerLeftQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Listed<IdentityView>, ApiError> {
    let Query(q) = q?;
    let limit = LIMIT.of(q.limit)?;
    let after = paging::cursor::<IdentityId>(q.cursor.as_deref())?;
    let page = app.writ.owner_left_identities(&me, q.overdue.unwrap_or(false), after, limit).await?;
    let now = app.writ.clock().now();
    Listed::new(page.iter().map(|(i, v)| views::identity(i, *v, now)).collect(), page.next.map(|c| c.to_string()), &uri, &[])
}
