//! Connectors: the adapters that put access in place on target systems, take it
//! away and read it back, behind `writ_app::ports::Connector`. One module per
//! target kind. Targets with an API are declared in `writ.toml` under
//! `[targets.<id>]` with their connection settings ([`TargetConfig`]); secrets
//! come from environment variables or files ([`secret`]), never from the config.

pub mod ldap;
mod manual;
pub mod postgres;
pub mod redis;
pub mod request_tracker;
pub mod scim;
pub mod secret;
pub mod tls;
pub mod webhook;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use writ_app::ports::{Connector, ConnectorError};
use writ_core::catalog::{Catalog, Fulfilment};
use writ_core::ids::TargetId;

pub use manual::ManualConnector;

/// How to reach one target: `[targets.<id>]` in `writ.toml`, with `kind`
/// naming the connector.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetConfig {
    Postgres(postgres::PostgresConfig),
    Ldap(ldap::LdapConfig),
    Redis(redis::RedisConfig),
    Scim(scim::ScimConfig),
}

impl TargetConfig {
    /// The start-up warning for this target when it is reached over the
    /// network without verified TLS (see [`tls::transport`]).
    pub fn plaintext_warning(&self, target: &str) -> Option<String> {
        let what = format!("target `{target}`");
        let ca = Some("ca_file");
        match self {
            TargetConfig::Postgres(c) => tls::plaintext_warning(&what, &c.url, c.ca_file.is_some(), ca),
            TargetConfig::Ldap(c) => tls::plaintext_warning(&what, &c.url, c.starttls, ca),
            TargetConfig::Redis(c) => tls::plaintext_warning(&what, &c.url, false, ca),
            TargetConfig::Scim(c) => tls::plaintext_warning(&what, &c.base_url, false, ca),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            TargetConfig::Postgres(_) => "postgres",
            TargetConfig::Ldap(_) => "ldap",
            TargetConfig::Redis(_) => "redis",
            TargetConfig::Scim(_) => "scim",
        }
    }
}

/// Builds the connector for one configured target (loading its secret). Does
/// not contact the target: a target that is down at start is retried later.
pub fn connect(target: &TargetId, config: &TargetConfig) -> Result<Arc<dyn Connector>, ConnectorError> {
    Ok(match config {
        TargetConfig::Postgres(c) => Arc::new(postgres::PostgresConnector::new(target, c)?),
        TargetConfig::Ldap(c) => Arc::new(ldap::LdapConnector::new(target, c)?),
        TargetConfig::Redis(c) => Arc::new(redis::RedisConnector::new(target, c)?),
        TargetConfig::Scim(c) => Arc::new(scim::ScimConnector::new(target, c)?),
    })
}

/// Turns a secret that cannot be loaded into the connector error the caller reports.
pub(crate) fn secret_error(e: secret::SecretError, target: &TargetId) -> ConnectorError {
    ConnectorError::Permanent { target: target.to_string(), detail: e.to_string() }
}

/// Builds the connector of every target in the catalog: a manual one, or the
/// configured one from `targets` (`[targets.<id>]` in `writ.toml`). Every
/// connector target needs a configuration and every configuration a catalog
/// target; the error names what is missing and where to put it.
pub fn for_catalog(catalog: &Catalog, targets: &BTreeMap<String, TargetConfig>) -> Result<BTreeMap<TargetId, Arc<dyn Connector>>, String> {
    let mut out: BTreeMap<TargetId, Arc<dyn Connector>> = BTreeMap::new();
    for t in catalog.targets() {
        let c: Arc<dyn Connector> = match &t.fulfilment {
            Fulfilment::Manual { fulfiller_group } => Arc::new(ManualConnector::new(t.id.clone(), fulfiller_group.clone())),
            Fulfilment::Connector => {
                let config = targets.get(t.id.as_str()).ok_or_else(|| {
                    format!("catalog target `{}` is fulfilled by a connector: configure it in writ.toml under [targets.{}] with `kind` (postgres, ldap, redis, scim) and its connection settings", t.id, t.id)
                })?;
                connect(&t.id, config).map_err(|e| format!("[targets.{}]: {e}", t.id))?
            }
        };
        out.insert(t.id.clone(), c);
    }
    if let Some(extra) = targets.keys().find(|k| !out.keys().any(|t| t.as_str() == k.as_str())) {
        return Err(format!("[targets.{extra}] in writ.toml names no target of the catalog: add `{extra}` to the catalog with `fulfilment = {{ kind = \"connector\" }}`, or remove it"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use writ_core::catalog::Target;

    fn catalog(fulfilment: Fulfilment) -> Catalog {
        let target = Target { id: TargetId::parse("pg-prod").unwrap(), description: String::new(), owners: vec![], fulfilment };
        Catalog::new(vec![target], vec![], vec![]).unwrap()
    }

    fn targets(toml_text: &str) -> BTreeMap<String, TargetConfig> {
        #[derive(Deserialize)]
        struct File {
            targets: BTreeMap<String, TargetConfig>,
        }
        toml::from_str::<File>(toml_text).unwrap().targets
    }

    #[test]
    fn a_connector_target_needs_its_configuration_and_a_configuration_its_target() {
        let e = for_catalog(&catalog(Fulfilment::Connector), &BTreeMap::new()).err().expect("refused");
        assert!(e.contains("[targets.pg-prod]") && e.contains("kind"), "{e}");

        let configured = targets("[targets.pg-prod]\nkind = \"postgres\"\nurl = \"postgres://writ@127.0.0.1:5432/postgres\"\n");
        let built = for_catalog(&catalog(Fulfilment::Connector), &configured).unwrap();
        assert_eq!(built[&TargetId::parse("pg-prod").unwrap()].info().kind, "postgres");

        let stray = targets("[targets.pg-old]\nkind = \"postgres\"\nurl = \"postgres://writ@127.0.0.1:5432/postgres\"\n");
        let manual = Fulfilment::Manual { fulfiller_group: writ_core::ids::GroupId::parse("dba").unwrap() };
        let e = for_catalog(&catalog(manual), &stray).err().expect("refused");
        assert!(e.contains("[targets.pg-old]") && e.contains("names no target"), "{e}");
    }

    #[test]
    fn an_unknown_kind_is_named() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct File {
            targets: BTreeMap<String, TargetConfig>,
        }
        let e = toml::from_str::<File>("[targets.x]\nkind = \"mysql\"\n").unwrap_err().to_string();
        assert!(e.contains("mysql") && e.contains("postgres"), "{e}");
    }
}
