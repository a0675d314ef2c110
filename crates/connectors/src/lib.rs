//! Connectors: the adapters that put access in place on target systems and take
//! it away, behind `writ_app::ports::Connector`. One module per target kind.

mod manual;

use std::collections::BTreeMap;
use std::sync::Arc;

use writ_app::ports::Connector;
use writ_core::catalog::{Catalog, Fulfilment};
use writ_core::ids::TargetId;

pub use manual::ManualConnector;

/// Builds the connector of every target in the catalog from its declared fulfilment.
pub fn for_catalog(catalog: &Catalog) -> BTreeMap<TargetId, Arc<dyn Connector>> {
    catalog
        .targets()
        .map(|t| {
            let c: Arc<dyn Connector> = match &t.fulfilment {
                Fulfilment::Manual { fulfiller_group } => Arc::new(ManualConnector::new(fulfiller_group.clone())),
            };
            (t.id.clone(), c)
        })
        .collect()
}
