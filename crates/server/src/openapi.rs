//! The OpenAPI document, derived from the handlers' annotations and the wire types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{audit, break_glass, meta, reconcile, requests, work};

#[derive(OpenApi)]
#[openapi(
    info(title = "Writ", description = "Governed access requests with a tamper-evident evidence chain."),
    paths(
        meta::healthz, meta::metrics, meta::whoami, meta::catalog, meta::targets, meta::identities, meta::set_identity_status,
        requests::create, requests::list, requests::queue, requests::show, requests::approve, requests::deny, requests::cancel,
        work::tasks, work::complete, work::grants, work::revoke, work::close, work::extend,
        break_glass::create, break_glass::list, break_glass::review, break_glass::resolve,
        reconcile::start, reconcile::runs, reconcile::show,
        audit::events, audit::checkpoints, audit::sign,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}
