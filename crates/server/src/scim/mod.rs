//! Inbound SCIM 2.0 over HTTP at `/scim/v2` (RFC 7644): Users and Groups
//! with discovery (`/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`),
//! lists with filters and paging, PATCH, ETags, and SCIM's error shape.
//! Mounted only when `[scim]` is configured; every route needs its token
//! (`auth`). The protocol is `writ_core::scim`; the changes are the app's
//! `scim` use-cases.

pub mod auth;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use writ_app::scim::{ListPage, ListQuery, Resource, MAX_RESULTS};
use writ_core::scim::schema;
use writ_core::scim::{project, AttrPath, Filter, ScimError, ScimType};

pub use auth::{ScimConfig, ScimService};

use crate::serve::App;

const CONTENT_TYPE: &str = "application/scim+json";

/// A SCIM error as a response.
pub struct Failure(pub ScimError);

impl From<ScimError> for Failure {
    fn from(e: ScimError) -> Self {
        Failure(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let e = self.0;
        let mut body = json!({ "schemas": [schema::ERROR], "status": e.status.to_string(), "detail": e.detail });
        if let Some(t) = e.scim_type {
            body["scimType"] = json!(t.as_str());
        }
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = scim_json(status, &body);
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"writ-scim\""));
        }
        resp
    }
}

fn scim_json(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body.to_string()).into_response()
}

type Answer = Result<Response, Failure>;

/// The routes, when `[scim]` is configured.
pub fn router(app: &App) -> Router<App> {
    if app.scim.is_none() {
        return Router::new();
    }
    let resources = Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{id}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(one_schema))
        .route("/Users", get(list_users).post(create_user))
        .route("/Users/.search", post(search_users))
        .route("/Users/{id}", get(get_user).put(replace_user).patch(patch_user).delete(delete_user))
        .route("/Groups", get(list_groups).post(create_group))
        .route("/Groups/.search", post(search_groups))
        .route("/.search", post(search_all))
        .route("/Groups/{id}", get(get_group).put(replace_group).patch(patch_group).delete(delete_group))
        .fallback(not_found)
        .layer(middleware::map_response(scim_shaped))
        .layer(middleware::from_fn_with_state(app.clone(), authenticate));
    Router::new().nest("/scim/v2", resources)
}

/// Every SCIM request carries the configured token, checked before anything else.
async fn authenticate(State(app): State<App>, req: Request, next: Next) -> Response {
    let Some(service) = app.scim.as_ref() else { return Failure(ScimError::not_found("endpoint", req.uri().path())).into_response() };
    let token = req.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer ")).map(str::trim);
    match token {
        Some(t) if service.accepts(t) => next.run(req).await,
        Some(_) => unauthenticated("the bearer token is not this server's SCIM token (`[scim]` in writ.toml)"),
        None => unauthenticated("missing `Authorization: Bearer <token>`: configure the provider with the token of `[scim]` in writ.toml"),
    }
}

fn unauthenticated(detail: &str) -> Response {
    Failure(ScimError { status: 401, scim_type: None, detail: detail.into() }).into_response()
}

/// Answers that do not come from a SCIM handler (axum's 405 for a method a
/// route lacks, its rejections of a body over `max_body_bytes` or of a
/// malformed query string) get SCIM's error shape too, with their text.
async fn scim_shaped(resp: Response) -> Response {
    let status = resp.status();
    let ours = resp.headers().get(header::CONTENT_TYPE).is_some_and(|c| c.as_bytes() == CONTENT_TYPE.as_bytes());
    if ours || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let text = match axum::body::to_bytes(resp.into_body(), 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_owned(),
        Err(_) => String::new(),
    };
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => "this endpoint does not support that method".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the body is larger than the server accepts (config key `max_body_bytes`): send fewer members per request, or raise the limit".to_owned()
        }
        _ if text.is_empty() => status.canonical_reason().unwrap_or("error").to_owned(),
        _ => text,
    };
    let scim_type = (status == StatusCode::BAD_REQUEST).then_some(ScimType::InvalidSyntax);
    Failure(ScimError { status: status.as_u16(), scim_type, detail }).into_response()
}

async fn not_found(req: Request) -> Response {
    Failure(ScimError::not_found("SCIM endpoint", req.uri().path())).into_response()
}

/// The service's URL as the client reaches it.
fn base(app: &App, headers: &HeaderMap) -> String {
    if let Some(b) = app.scim.as_ref().and_then(|s| s.base_url.clone()) {
        return b;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).filter(|h| h.chars().all(|c| c.is_ascii_graphic())).unwrap_or("localhost");
    format!("http://{host}/scim/v2")
}

fn parse_body(body: &Bytes) -> Result<Value, ScimError> {
    serde_json::from_slice(body).map_err(|e| ScimError::bad(ScimType::InvalidSyntax, format!("the body is not JSON: {e}")))
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    headers.get(header::IF_MATCH).and_then(|h| h.to_str().ok()).map(str::to_owned)
}

fn with_etag(mut resp: Response, version: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(&writ_app::scim::map::etag(version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// What to return of each resource: `attributes` / `excludedAttributes`.
#[derive(Default)]
struct Shape {
    attributes: Vec<AttrPath>,
    excluded: Vec<AttrPath>,
}

impl Shape {
    fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Result<Self, ScimError> {
        let list = |s: Option<&str>| -> Result<Vec<AttrPath>, ScimError> {
            s.into_iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()).map(AttrPath::parse).collect()
        };
        Ok(Shape { attributes: list(attributes)?, excluded: list(excluded)? })
    }
    fn from_query(q: &HashMap<String, String>) -> Result<Self, ScimError> {
        Shape::parse(q.get("attributes").map(String::as_str), q.get("excludedAttributes").map(String::as_str))
    }
    fn apply(&self, v: &Value) -> Value {
        if self.attributes.is_empty() && self.excluded.is_empty() {
            v.clone()
        } else {
            project(v, &self.attributes, &self.excluded)
        }
    }
}

fn resource(status: StatusCode, r: &Resource, shape: &Shape) -> Response {
    let mut resp = with_etag(scim_json(status, &shape.apply(&r.body)), &r.version);
    if status == StatusCode::CREATED {
        if let Some(loc) = r.body.pointer("/meta/location").and_then(Value::as_str).and_then(|l| HeaderValue::from_str(l).ok()) {
            resp.headers_mut().insert(header::LOCATION, loc);
        }
    }
    resp
}

fn list_response(page: ListPage, shape: &Shape) -> Response {
    let resources: Vec<Value> = page.resources.iter().map(|r| shape.apply(r)).collect();
    scim_json(
        StatusCode::OK,
        &json!({ "schemas": [schema::LIST_RESPONSE], "totalResults": page.total, "startIndex": page.start_index,
                 "itemsPerPage": resources.len(), "Resources": resources }),
    )
}

/// `filter`, `startIndex` and `count` of a list, from a query string or a
/// `.search` body. A negative count is 0 and a start below 1 is 1 (RFC
/// 7644 §3.4.2.4); no count is [`MAX_RESULTS`].
fn list_query(filter: Option<&str>, start: Option<&Value>, count: Option<&Value>) -> Result<ListQuery, ScimError> {
    let number = |name: &str, v: Option<&Value>| -> Result<Option<i64>, ScimError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| ScimError::invalid_value(format!("`{name}` must be an integer"))),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| ScimError::invalid_value(format!("`{name}` must be an integer, not `{s}`"))),
            Some(_) => Err(ScimError::invalid_value(format!("`{name}` must be an integer"))),
        }
    };
    let filter = filter.filter(|f| !f.trim().is_empty()).map(Filter::parse).transpose()?;
    let start_index = number("startIndex", start)?.unwrap_or(1).max(1) as usize;
    let count = number("count", count)?.map_or(MAX_RESULTS, |c| c.clamp(0, MAX_RESULTS as i64) as usize);
    Ok(ListQuery { filter, start_index, count })
}

fn query_list(q: &HashMap<String, String>) -> Result<ListQuery, ScimError> {
    let v = |k: &str| q.get(k).map(|s| Value::String(s.clone()));
    if q.contains_key("sortBy") {
        return Err(ScimError::invalid_value("sorting is not supported (ServiceProviderConfig sort.supported is false): lists are ordered by id"));
    }
    list_query(q.get("filter").map(String::as_str), v("startIndex").as_ref(), v("count").as_ref())
}

fn search_request(body: &Bytes) -> Result<(ListQuery, Shape), ScimError> {
    let v = parse_body(body)?;
    let o = v.as_object().ok_or_else(|| ScimError::bad(ScimType::InvalidSyntax, "a search request is a JSON object"))?;
    let get = |k: &str| writ_core::scim::get_ci(o, k);
    let joined = |k: &str| -> Option<String> {
        get(k).map(|x| match x {
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
            Value::String(s) => s.clone(),
            _ => String::new(),
        })
    };
    let q = list_query(get("filter").and_then(Value::as_str), get("startIndex"), get("count"))?;
    let shape = Shape::parse(joined("attributes").as_deref(), joined("excludedAttributes").as_deref())?;
    Ok((q, shape))
}

async fn service_provider_config(State(app): State<App>, headers: HeaderMap) -> Response {
    let base = base(&app, &headers);
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [schema::SERVICE_PROVIDER_CONFIG],
            "documentationUri": "https://github.com/writ/writ#provisioning-people-with-scim",
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": MAX_RESULTS },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": true },
            "authenticationSchemes": [{
                "type": "oauthbearertoken", "name": "Bearer token", "primary": true,
                "description": "The token configured in `[scim]` of writ.toml, sent as `Authorization: Bearer <token>`."
            }],
            "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig") }
        }),
    )
}

fn list_of(items: Vec<Value>) -> Response {
    scim_json(
        StatusCode::OK,
        &json!({ "schemas": [schema::LIST_RESPONSE], "totalResults": items.len(), "startIndex": 1, "itemsPerPage": items.len(), "Resources": items }),
    )
}

async fn resource_types(State(app): State<App>, headers: HeaderMap) -> Response {
    list_of(schema::resource_types(&base(&app, &headers)))
}

async fn resource_type(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    let found = schema::resource_types(&base(&app, &headers)).into_iter().find(|t| t["id"] == id.as_str());
    found.map(|t| scim_json(StatusCode::OK, &t)).ok_or_else(|| Failure(ScimError::not_found("resource type", &id)))
}

async fn schemas(State(app): State<App>, headers: HeaderMap) -> Response {
    list_of(schema::schemas(&base(&app, &headers)))
}

async fn one_schema(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    let found = schema::schemas(&base(&app, &headers)).into_iter().find(|s| s["id"] == id.as_str());
    found.map(|s| scim_json(StatusCode::OK, &s)).ok_or_else(|| Failure(ScimError::not_found("schema", &id)))
}

async fn list_users(State(app): State<App>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Answer {
    let (query, shape) = (query_list(&q)?, Shape::from_query(&q)?);
    Ok(list_response(app.writ.scim_users_list(&query, &base(&app, &headers)).await?, &shape))
}

async fn search_users(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Answer {
    let (query, shape) = search_request(&body)?;
    Ok(list_response(app.writ.scim_users_list(&query, &base(&app, &headers)).await?, &shape))
}

async fn search_all(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Answer {
    let (query, shape) = search_request(&body)?;
    Ok(list_response(app.writ.scim_search_all(&query, &base(&app, &headers)).await?, &shape))
}

async fn get_user(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> Answer {
    let shape = Shape::from_query(&q)?;
    Ok(resource(StatusCode::OK, &app.writ.scim_user(&id, &base(&app, &headers)).await?, &shape))
}

async fn create_user(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Answer {
    let r = app.writ.scim_create_user(&parse_body(&body)?, &base(&app, &headers)).await?;
    Ok(resource(StatusCode::CREATED, &r, &Shape::default()))
}

async fn replace_user(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Answer {
    let r = app.writ.scim_replace_user(&id, &parse_body(&body)?, if_match(&headers).as_deref(), &base(&app, &headers)).await?;
    Ok(resource(StatusCode::OK, &r, &Shape::default()))
}

async fn patch_user(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Answer {
    let r = app.writ.scim_patch_user(&id, &parse_body(&body)?, if_match(&headers).as_deref(), &base(&app, &headers)).await?;
    Ok(resource(StatusCode::OK, &r, &Shape::default()))
}

async fn delete_user(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    app.writ.scim_delete_user(&id, if_match(&headers).as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_groups(State(app): State<App>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Answer {
    let (query, shape) = (query_list(&q)?, Shape::from_query(&q)?);
    Ok(list_response(app.writ.scim_groups_list(&query, &base(&app, &headers)).await?, &shape))
}

async fn search_groups(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Answer {
    let (query, shape) = search_request(&body)?;
    Ok(list_response(app.writ.scim_groups_list(&query, &base(&app, &headers)).await?, &shape))
}

async fn get_group(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> Answer {
    let shape = Shape::from_query(&q)?;
    Ok(resource(StatusCode::OK, &app.writ.scim_group(&id, &base(&app, &headers)).await?, &shape))
}

async fn create_group(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Answer {
    let r = app.writ.scim_create_group(&parse_body(&body)?, &base(&app, &headers)).await?;
    Ok(resource(StatusCode::CREATED, &r, &Shape::default()))
}

async fn replace_group(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Answer {
    let r = app.writ.scim_replace_group(&id, &parse_body(&body)?, if_match(&headers).as_deref(), &base(&app, &headers)).await?;
    Ok(resource(StatusCode::OK, &r, &Shape::default()))
}

async fn patch_group(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Answer {
    let r = app.writ.scim_patch_group(&id, &parse_body(&body)?, if_match(&headers).as_deref(), &base(&app, &headers)).await?;
    Ok(resource(StatusCode::OK, &r, &Shape::default()))
}

async fn delete_group(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    app.writ.scim_delete_group(&id, if_match(&headers).as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The service, from `[scim]` if configured.
pub fn service(cfg: Option<&ScimConfig>, dir: Option<&std::path::Path>) -> Result<Option<Arc<ScimService>>, crate::config::ConfigError> {
    cfg.map(|c| c.service(dir).map(Arc::new)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_parameters_follow_rfc_7644() {
        let q = list_query(None, Some(&json!("0")), Some(&json!(-5))).unwrap();
        assert_eq!((q.start_index, q.count), (1, 0));
        let q = list_query(Some("userName eq \"a\""), None, Some(&json!(5000))).unwrap();
        assert_eq!(q.count, MAX_RESULTS);
        assert!(q.filter.is_some());
        let e = list_query(Some("userName eq"), None, None).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        assert_eq!(list_query(None, Some(&json!("x")), None).unwrap_err().scim_type, Some(ScimType::InvalidValue));
    }
}
