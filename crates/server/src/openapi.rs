//! The OpenAPI document, derived from the handlers' annotations and the wire
//! types, then made exact by [`Contract`]: the shape of every id, duration,
//! cursor and text the server takes, and every error status each operation
//! can answer with. The shapes are written once, here, and the tests below
//! check each against the parser it stands for.

use std::collections::BTreeMap;

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::{Array, ArrayItems, Object, Schema};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::routes::{audit, break_glass, meta, oidc, owner_left, reconcile, requests, tickets, tokens, work};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Writ",
        description = "Governed access requests with a tamper-evident evidence chain.\n\n\
            Errors: 400 means the input does not have the shape this document states (a malformed id, duration, cursor, \
            body or query); 422 means it has the shape but breaks a rule that depends on data (an entitlement not in the \
            catalog, a duration over its maximum, a required text left blank); 401, 403, 404 and 409 mean what HTTP says. \
            Every error body is an `ErrorBody` whose `message` says what to do."
    ),
    paths(
        meta::healthz, meta::metrics, meta::whoami, meta::catalog, meta::request_types, meta::targets, meta::identities, meta::set_identity_status, meta::apply_identities,
        requests::create, requests::list, requests::queue, requests::show, requests::approve, requests::deny, requests::cancel,
        work::tasks, work::complete, work::grants, work::revoke, work::close, work::extend,
        break_glass::create, break_glass::list, break_glass::review, break_glass::resolve,
        reconcile::start, reconcile::runs, reconcile::show,
        audit::events, audit::checkpoints, audit::sign,
        tokens::create, tokens::list, tokens::revoke,
        oidc::info, oidc::exchange,
        owner_left::list,
        tickets::create, tickets::list, tickets::show, tickets::triage, tickets::complete, tickets::proof, tickets::resolve, tickets::reroute,
    ),
    modifiers(&BearerAuth, &Contract)
)]
pub struct ApiDoc;

/// The document as served at `/openapi.json`.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    // utoipa 5.5 writes a Link's `operationRef` as `operation_ref`, which
    // OpenAPI readers ignore: write it as the specification spells it.
    spell_link_references(&mut doc);
    doc
}

fn spell_link_references(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(links)) = map.get_mut("links") {
                for link in links.values_mut().filter_map(|l| l.as_object_mut()) {
                    if let Some(reference) = link.remove("operation_ref") {
                        link.insert("operationRef".to_owned(), reference);
                    }
                }
            }
            map.values_mut().for_each(spell_link_references);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(spell_link_references),
        _ => {}
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// The shapes of what the API takes, as regular expressions without anchors
/// (the document anchors them). Each matches exactly what its parser in
/// `writ-core` accepts; see the tests.
pub mod shape {
    /// `IdentityId`.
    pub const IDENTITY: &str = "[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}";
    /// `GroupId`.
    pub const GROUP: &str = "[A-Za-z0-9][A-Za-z0-9._-]{0,127}";
    /// `TargetId`.
    pub const TARGET: &str = "[A-Za-z0-9][A-Za-z0-9_-]{0,62}";
    /// `EntitlementId`: `target/name`.
    pub const ENTITLEMENT: &str = "[A-Za-z0-9][A-Za-z0-9_-]{0,62}/[A-Za-z0-9][A-Za-z0-9_.-]{0,62}";
    /// `RequestTypeId`.
    pub const REQUEST_TYPE: &str = "[A-Za-z0-9][A-Za-z0-9_-]{0,62}";
    /// `AccessDuration`: one to five parts such as `8h`.
    pub const DURATION: &str = "([1-9][0-9]{0,6}[smhdw]){1,5}";
    /// The `cursor` of the audit log: the `seq` of the last event read.
    pub const AUDIT_CURSOR: &str = "[0-9]{1,19}";
    /// Free text, no control characters but tab and line breaks; may be blank.
    pub const TEXT: &str = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*";
    /// Free text with something visible in it.
    pub const REQUIRED_TEXT: &str = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*[^\s\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*";
    /// One line with something visible in it (a ticket).
    pub const LINE: &str =
        r"[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*[^\s\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069][^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*";

    /// A `<prefix>-<uuid>` id (`RequestId`, …); the prefix may be left out.
    pub fn uuid_id(prefix: &str) -> String {
        format!("({prefix}-)?([0-9a-fA-F]{{32}}|[0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}})")
    }

    /// The `cursor` of a list whose items have ids of `id`'s shape:
    /// `<millis>.<id>`.
    pub fn cursor(id: &str) -> String {
        format!(r"-?[0-9]{{1,18}}\.{id}")
    }
}

/// The id a path's `{id}` (and a list's `cursor`) names, by the path's first segments.
fn id_shape(path: &str) -> Option<String> {
    let by_prefix = [
        ("/v1/requests", "req"),
        ("/v1/break-glass", "req"),
        ("/v1/grants", "grant"),
        ("/v1/tasks", "task"),
        ("/v1/reconcile/runs", "rec"),
        ("/v1/tokens", "tok"),
        ("/v1/tickets", "tkt"),
    ];
    if path == "/v1/identities" || path.starts_with("/v1/identities/") {
        return Some(shape::IDENTITY.to_owned());
    }
    if path.starts_with("/v1/audit/events") {
        return Some(shape::AUDIT_CURSOR.to_owned());
    }
    by_prefix.iter().find(|(p, _)| path.starts_with(p)).map(|(_, prefix)| shape::uuid_id(prefix))
}

/// The shape of a query or path parameter; `optional` ones may also be
/// empty, which the server reads as absent.
fn parameter_shape(path: &str, name: &str) -> Option<String> {
    let shape = match name {
        "id" => id_shape(path)?,
        "cursor" if path == "/v1/audit/events" => shape::AUDIT_CURSOR.to_owned(),
        "cursor" => shape::cursor(&id_shape(path)?),
        "subject" | "involving" => shape::IDENTITY.to_owned(),
        "target" => shape::TARGET.to_owned(),
        "state" if path == "/v1/tickets" => writ_core::ticket::TicketState::NAMES.join("|"),
        "state" => "pending|approved|active|denied|cancelled|lapsed".to_owned(),
        _ => return None,
    };
    Some(if name == "id" { format!("^({shape})$") } else { format!("^({shape})?$") })
}

/// Constraints on the fields of request bodies: (schema, field, pattern, max length).
const BODY_TEXT: &[(&str, &str, &str, usize)] = &[
    ("NewRequest", "justification", shape::REQUIRED_TEXT, writ_core::text::MAX_TEXT),
    ("NewRequest", "ticket", shape::LINE, writ_core::text::MAX_TICKET),
    ("NewRequest", "duration", shape::DURATION, 64),
    ("ExtendGrant", "justification", shape::REQUIRED_TEXT, writ_core::text::MAX_TEXT),
    ("ExtendGrant", "ticket", shape::LINE, writ_core::text::MAX_TICKET),
    ("ExtendGrant", "duration", shape::DURATION, 64),
    ("ReasonBody", "reason", shape::TEXT, writ_core::text::MAX_TEXT),
    ("DenyBody", "reason", shape::REQUIRED_TEXT, writ_core::text::MAX_TEXT),
    ("RevokeGrant", "reason", shape::REQUIRED_TEXT, writ_core::text::MAX_TEXT),
    ("CompleteTask", "evidence", shape::REQUIRED_TEXT, writ_core::text::MAX_EVIDENCE),
    ("CloseRemoval", "evidence", shape::REQUIRED_TEXT, writ_core::text::MAX_EVIDENCE),
    ("NewToken", "name", shape::LINE, writ_core::token::MAX_NAME),
    ("OidcSignIn", "name", shape::LINE, writ_core::token::MAX_NAME),
    ("BreakGlassReview", "note", shape::REQUIRED_TEXT, writ_core::text::MAX_TEXT),
    ("ResolveBreakGlass", "note", shape::REQUIRED_TEXT, writ_core::text::MAX_TEXT),
    ("NewTicket", "source", shape::LINE, 64),
    ("NewTicket", "external_ref", shape::LINE, writ_core::text::MAX_TICKET),
    ("NewTicket", "subject", shape::TEXT, writ_core::ticket::MAX_SUBJECT),
    ("NewTicket", "body", shape::TEXT, writ_core::ticket::MAX_BODY),
    ("NewTicket", "justification", shape::TEXT, writ_core::text::MAX_TEXT),
    ("TicketDetailsBody", "duration", shape::DURATION, 64),
    ("TicketDetailsBody", "justification", shape::TEXT, writ_core::text::MAX_TEXT),
    ("ProofBody", "method", shape::REQUIRED_TEXT, writ_core::text::MAX_TEXT),
    ("ResolveBody", "resolution", shape::REQUIRED_TEXT, writ_core::text::MAX_TEXT),
];

/// Fields that take one of a few words: (schema, field, words).
const BODY_WORDS: &[(&str, &str, &[&str])] = &[
    ("BreakGlassReview", "verdict", &["accept", "reject"]),
    ("SetStatus", "status", &["active", "disabled"]),
    ("NewToken", "scope", &["read", "request"]),
    ("IdentityRecord", "kind", &["person", "service_account", "api_key", "ai_agent"]),
    ("IdentityRecord", "status", &["active", "disabled"]),
];

/// Fields that name something: (schema, field, shape); empty means absent.
const BODY_NAMES: &[(&str, &str, &str)] = &[
    ("NewRequest", "subject", shape::IDENTITY),
    ("StartReconcile", "target", shape::TARGET),
    ("NewToken", "identity", shape::IDENTITY),
    ("NewToken", "expires", shape::DURATION),
    ("NewRequest", "request_type", shape::REQUEST_TYPE),
    ("NewTicket", "request_type", shape::REQUEST_TYPE),
    ("NewTicket", "duration", shape::DURATION),
];

/// Fields that name something and may not be empty: (schema, field, shape);
/// an optional one may be `null`.
const BODY_IDS: &[(&str, &str, &str)] = &[
    ("IdentityRecord", "id", shape::IDENTITY),
    ("IdentityRecord", "owner", shape::IDENTITY),
    ("IdentityRecord", "manager", shape::IDENTITY),
    ("NewTicket", "requester", shape::IDENTITY),
    ("TicketTypeBody", "request_type", shape::REQUEST_TYPE),
];

/// Makes the document exact; see the module's comment.
struct Contract;

impl Modify for Contract {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                for p in op.parameters.iter_mut().flatten() {
                    if let (Some(pattern), Some(RefOr::T(Schema::Object(o)))) = (parameter_shape(path, &p.name), p.schema.as_mut()) {
                        o.pattern = Some(pattern);
                    }
                }
                document_errors(path, method, op);
            }
        }
        link_responses(doc);
        let Some(components) = doc.components.as_mut() else { return };
        for (schema, field, pattern, max) in BODY_TEXT {
            if let Some(o) = string_field(&mut components.schemas, schema, field) {
                o.pattern = Some(format!("^({pattern})$"));
                o.max_length = Some(*max);
            }
        }
        for (schema, field, words) in BODY_WORDS {
            if let Some(o) = string_field(&mut components.schemas, schema, field) {
                let mut values: Vec<serde_json::Value> = words.iter().map(|w| serde_json::Value::from(*w)).collect();
                // An optional field (`string | null`): null stays allowed.
                if serde_json::to_value(&o.schema_type).is_ok_and(|t| t.as_array().is_some_and(|a| a.contains(&"null".into()))) {
                    values.push(serde_json::Value::Null);
                }
                o.enum_values = Some(values);
            }
        }
        for (schema, field, shape) in BODY_NAMES {
            if let Some(o) = string_field(&mut components.schemas, schema, field) {
                o.pattern = Some(format!("^({shape})?$"));
            }
        }
        for (schema, field, shape) in BODY_IDS {
            if let Some(o) = string_field(&mut components.schemas, schema, field) {
                o.pattern = Some(format!("^({shape})$"));
            }
        }
        if let Some(a) = array_field(&mut components.schemas, "NewRequest", "entitlements") {
            entitlement_list(a);
        }
        if let Some(a) = array_field(&mut components.schemas, "TicketDetailsBody", "entitlements") {
            entitlement_list(a);
        }
        if let Some(a) = array_field(&mut components.schemas, "NewTicket", "entitlements") {
            item_pattern(a, shape::ENTITLEMENT);
        }
        if let Some(a) = array_field(&mut components.schemas, "IdentityRecord", "groups") {
            item_pattern(a, shape::GROUP);
        }
    }
}

/// Where the id an operation answers with can be used next: (from path,
/// method, status, where the id is in the body, to path, method). Stateful
/// tests (schemathesis) follow these to act on what they created.
const LINKS: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("/v1/requests", "post", "201", "/id", "/v1/requests/{id}", "get"),
    ("/v1/requests", "post", "201", "/id", "/v1/requests/{id}/approve", "post"),
    ("/v1/requests", "post", "201", "/id", "/v1/requests/{id}/deny", "post"),
    ("/v1/requests", "post", "201", "/id", "/v1/requests/{id}/cancel", "post"),
    ("/v1/requests", "get", "200", "/0/id", "/v1/requests/{id}/approve", "post"),
    ("/v1/requests/queue", "get", "200", "/0/id", "/v1/requests/{id}/approve", "post"),
    ("/v1/requests/queue", "get", "200", "/0/id", "/v1/requests/{id}/deny", "post"),
    ("/v1/break-glass", "post", "201", "/id", "/v1/break-glass/{id}/review", "post"),
    ("/v1/break-glass", "post", "201", "/id", "/v1/requests/{id}", "get"),
    ("/v1/break-glass", "get", "200", "/0/id", "/v1/break-glass/{id}/review", "post"),
    ("/v1/break-glass", "get", "200", "/0/id", "/v1/break-glass/{id}/resolve", "post"),
    ("/v1/grants/{id}/extend", "post", "201", "/id", "/v1/requests/{id}/approve", "post"),
    ("/v1/tasks", "get", "200", "/0/id", "/v1/tasks/{id}/complete", "post"),
    ("/v1/grants", "get", "200", "/0/id", "/v1/grants/{id}/revoke", "post"),
    ("/v1/grants", "get", "200", "/0/id", "/v1/grants/{id}/close", "post"),
    ("/v1/grants", "get", "200", "/0/id", "/v1/grants/{id}/extend", "post"),
    ("/v1/identities", "get", "200", "/0/id", "/v1/identities/{id}/status", "post"),
    ("/v1/reconcile", "post", "202", "/0/run", "/v1/reconcile/runs/{id}", "get"),
    ("/v1/reconcile/runs", "get", "200", "/0/id", "/v1/reconcile/runs/{id}", "get"),
    ("/v1/tickets", "post", "201", "/id", "/v1/tickets/{id}", "get"),
    ("/v1/tickets", "post", "201", "/id", "/v1/tickets/{id}/triage", "post"),
    ("/v1/tickets", "get", "200", "/0/id", "/v1/tickets/{id}/proof", "post"),
    // Not from the token list: a stateful test would revoke its own token.
    ("/v1/tokens", "post", "201", "/token/id", "/v1/tokens/{id}/revoke", "post"),
];

fn link_responses(doc: &mut utoipa::openapi::OpenApi) {
    for (from, method, status, pointer, to, to_method) in LINKS {
        let Some(item) = doc.paths.paths.get_mut(*from) else { continue };
        let Some((_, op)) = operations(item).into_iter().find(|(m, _)| m == method) else { continue };
        let Some(RefOr::T(response)) = op.responses.responses.get_mut(*status) else { continue };
        let reference = format!("#/paths/{}/{to_method}", to.replace('~', "~0").replace('/', "~1"));
        let link = LinkBuilder::new().operation_ref(reference).parameter("id", format!("$response.body#{pointer}")).build();
        response.links.insert(format!("{to_method} {to}"), RefOr::T(link));
    }
}

/// `entitlements`: 1 to 50 distinct `target/name` ids.
fn entitlement_list(a: &mut Array) {
    a.min_items = Some(1);
    a.max_items = Some(writ_core::request::MAX_ENTITLEMENTS);
    a.unique_items = true;
    item_pattern(a, shape::ENTITLEMENT);
}

/// Every item of a list of strings has `shape`.
fn item_pattern(a: &mut Array, shape: &str) {
    if let ArrayItems::RefOrSchema(item) = &mut a.items {
        if let RefOr::T(Schema::Object(item)) = item.as_mut() {
            item.pattern = Some(format!("^({shape})$"));
        }
    }
}

/// A list field of a component schema.
fn array_field<'a>(schemas: &'a mut BTreeMap<String, RefOr<Schema>>, schema: &str, field: &str) -> Option<&'a mut Array> {
    let Some(RefOr::T(Schema::Object(o))) = schemas.get_mut(schema) else { return None };
    match o.properties.get_mut(field)? {
        RefOr::T(Schema::Array(a)) => Some(a),
        _ => None,
    }
}

/// A string field of a component schema (also when it is `string | null`).
fn string_field<'a>(schemas: &'a mut BTreeMap<String, RefOr<Schema>>, schema: &str, field: &str) -> Option<&'a mut Object> {
    let Some(RefOr::T(Schema::Object(o))) = schemas.get_mut(schema) else { return None };
    match o.properties.get_mut(field)? {
        RefOr::T(Schema::Object(f)) => Some(f),
        _ => None,
    }
}

fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    let mut ops = Vec::new();
    if let Some(op) = item.get.as_mut() {
        ops.push(("get", op));
    }
    if let Some(op) = item.post.as_mut() {
        ops.push(("post", op));
    }
    ops
}

/// Every error status `op` can answer with, each with an `ErrorBody`:
/// - any authenticated operation: 401 (no or a bad token), 403 (a disabled
///   identity, or policy), 500 (a store failure), 503 (over `request_timeout`);
/// - with parameters or a body: 400 (malformed input);
/// - with a path id, or a body that names things: 404; a POST with a body:
///   413 (over the body limit), 409 (the state moved on) and 422 (a rule on data).
fn document_errors(path: &str, method: &str, op: &mut Operation) {
    let authenticated = op.security.is_some();
    let has_body = op.request_body.as_ref().is_some_and(|b: &RequestBody| !b.content.is_empty());
    let has_input = has_body || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let mut statuses: Vec<(&str, &str)> =
        vec![("500", "The server could not complete the request; its log says why."), ("503", "The request took longer than the server's `request_timeout`.")];
    if authenticated {
        statuses.push(("401", "No token, or not a valid one."));
        statuses.push(("403", "The caller may not do this: a disabled identity, or policy refuses."));
    }
    if has_input {
        statuses.push(("400", "Malformed input: the message names the parameter or field and what it must look like."));
    }
    if path.contains('{') || (method == "post" && has_body) {
        statuses.push(("404", "Nothing with this id (in the path or the body), or nothing the caller may see."));
    }
    if method == "post" && has_body {
        statuses.push(("409", "The state moved on: the message says what it is now."));
        statuses.push(("413", "The body is larger than the server takes."));
        statuses.push(("422", "Well formed, but refused by a rule: the message says which and what to do."));
    }
    for (status, description) in statuses {
        op.responses.responses.entry(status.to_owned()).or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
                    .build(),
            )
        });
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use regex::Regex;
    use writ_core::duration::AccessDuration;
    use writ_core::ids::{EntitlementId, GrantId, GroupId, IdentityId, RequestId, TargetId};

    use super::shape;

    /// `^(shape)$`, compiled once per test thread.
    fn anchored(shape: &str) -> Regex {
        thread_local!(static COMPILED: std::cell::RefCell<std::collections::HashMap<String, Regex>> = Default::default());
        COMPILED.with(|c| c.borrow_mut().entry(shape.to_owned()).or_insert_with(|| Regex::new(&format!("^({shape})$")).unwrap()).clone())
    }

    /// Strings made of `alphabet`, up to `len` characters: near misses of a
    /// shape as well as hits.
    fn over(alphabet: &'static str, len: usize) -> impl Strategy<Value = String> {
        let chars: Vec<char> = alphabet.chars().collect();
        proptest::collection::vec(proptest::sample::select(chars), 0..len).prop_map(|v| v.into_iter().collect())
    }

    /// Both ways: what the pattern matches parses, and what parses matches.
    fn agree(shape: &str, text: &str, parses: bool) -> Result<(), TestCaseError> {
        prop_assert_eq!(anchored(shape).is_match(text), parses, "pattern {} and its parser disagree on {:?}", shape, text);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn the_shape_of_names_is_what_their_parsers_take(s in over("aZ09._@+-/ é", 8), long in over("a", 140)) {
            for s in [&s, &long] {
                agree(shape::IDENTITY, s, IdentityId::parse(s).is_ok())?;
                agree(shape::GROUP, s, GroupId::parse(s).is_ok())?;
                agree(shape::TARGET, s, TargetId::parse(s).is_ok())?;
                agree(shape::ENTITLEMENT, s, EntitlementId::parse(s).is_ok())?;
            }
        }

        #[test]
        fn the_shape_of_uuid_ids_is_what_their_parser_takes(hex in "[0-9a-fA-F-]{30,37}", prefix in "(req-|grant-|rq-|)", braces in any::<bool>()) {
            let s = if braces { format!("{prefix}{{{hex}}}") } else { format!("{prefix}{hex}") };
            agree(&shape::uuid_id("req"), &s, RequestId::parse(&s).is_ok())?;
            let canonical = RequestId::from_uuid(uuid::Uuid::from_u128(u128::from_str_radix(&"7".repeat(32), 16).unwrap())).to_string();
            agree(&shape::uuid_id("req"), &canonical, true)?;
        }

        #[test]
        fn the_shape_of_durations_is_what_their_parser_takes(s in over("0123456789smhdwx ", 12)) {
            match AccessDuration::parse(&s) {
                // Over 100 years is a rule on the value, not on the shape.
                Err(e) if e.to_string().contains("100 years") => agree(shape::DURATION, &s, true)?,
                parsed => agree(shape::DURATION, &s, parsed.is_ok())?,
            }
        }

        #[test]
        fn the_shape_of_cursors_is_what_their_parser_takes(at in "-?[0-9]{1,18}", id in "(grant-[0-9a-f]{32}|req-[0-9a-f]{32}|grant-[0-9a-f]{31}|x)", sep in "[.,]") {
            let s = format!("{at}{sep}{id}");
            let parses = s.parse::<writ_app::ports::Cursor>().is_ok_and(|c| c.id().parse::<GrantId>().is_ok());
            agree(&shape::cursor(&shape::uuid_id("grant")), &s, parses)?;
        }

        #[test]
        fn the_shape_of_text_is_what_the_text_rules_take(s in proptest::collection::vec(any::<char>(), 0..12), blank in "[ \t\n\u{a0}\u{3000}\u{202e}\u{2067}a]{0,3}") {
            let s: String = s.into_iter().collect::<String>() + &blank;
            agree(shape::TEXT, &s, writ_core::text::optional("reason", &s, 4_000).is_ok())?;
            agree(shape::REQUIRED_TEXT, &s, writ_core::text::required("reason", &s, 4_000, "say why").is_ok())?;
            agree(shape::LINE, &s, writ_core::text::line("ticket", &s, 4_000, "e.g. INC-1").is_ok())?;
            agree(shape::REQUIRED_TEXT, &blank, writ_core::text::required("reason", &blank, 4_000, "say why").is_ok())?;
        }
    }

    #[test]
    fn the_document_states_shapes_and_errors() {
        let doc = super::document();
        let approve = &doc["paths"]["/v1/requests/{id}/approve"]["post"];
        assert_eq!(approve["parameters"][0]["schema"]["pattern"], format!("^({})$", shape::uuid_id("req")));
        for status in ["400", "401", "403", "404", "409", "413", "422", "500", "503"] {
            assert!(approve["responses"][status].is_object(), "approve documents {status}");
        }
        let request = &doc["components"]["schemas"]["NewRequest"];
        assert_eq!(request["properties"]["entitlements"]["minItems"], 1);
        assert_eq!(request["properties"]["duration"]["pattern"], format!("^({})$", shape::DURATION));
        assert_eq!(request["additionalProperties"], false);
        assert!(doc["paths"]["/healthz"]["get"]["responses"]["401"].is_null(), "healthz needs no token");
        let record = &doc["components"]["schemas"]["IdentityRecord"];
        assert_eq!(record["additionalProperties"], false);
        assert_eq!(record["required"], serde_json::json!(["id", "kind", "status"]));
        assert_eq!(record["properties"]["owner"]["pattern"], format!("^({})$", shape::IDENTITY));
        assert_eq!(record["properties"]["groups"]["items"]["pattern"], format!("^({})$", shape::GROUP));
        assert_eq!(record["properties"]["kind"]["enum"], serde_json::json!(["person", "service_account", "api_key", "ai_agent"]));
        let apply = &doc["paths"]["/v1/identities/apply"]["post"];
        for status in ["200", "400", "401", "403", "404", "409", "413", "422", "500", "503"] {
            assert!(apply["responses"][status].is_object(), "apply documents {status}");
        }
        let scope = &doc["components"]["schemas"]["NewToken"]["properties"]["scope"]["enum"];
        assert_eq!(scope, &serde_json::json!(["read", "request", null]), "an optional word may also be null");
        let created = &doc["paths"]["/v1/requests"]["post"]["responses"]["201"]["links"]["post /v1/requests/{id}/approve"];
        assert_eq!(created["operationRef"], "#/paths/~1v1~1requests~1{id}~1approve/post");
        for (from, method, status, _, to, to_method) in super::LINKS {
            let links = &doc["paths"][from][method]["responses"][status]["links"];
            assert!(links[format!("{to_method} {to}")].is_object(), "{from} {method} {status} links to {to}");
            assert!(doc["paths"][to][to_method].is_object(), "{to} {to_method} exists");
        }
    }
}
