//! Reading the catalog file (TOML) into a validated `Catalog`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use writ_core::catalog::{Catalog, Entitlement, Target, ToxicCombination};
use writ_core::identity::{Identity, IdentityKind, IdentityStatus};
use writ_core::ids::{GroupId, IdentityId};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    targets: Vec<Target>,
    #[serde(default)]
    entitlements: Vec<Entitlement>,
    #[serde(default)]
    toxic_combinations: Vec<ToxicCombination>,
    /// The request types; none declared keeps the standard fourteen.
    #[serde(default)]
    request_types: Vec<writ_core::request_type::RequestType>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentitiesFile {
    #[serde(default)]
    identities: Vec<IdentityEntry>,
}

/// One `[[identities]]` table: an identity's fields and no others, so a
/// misspelt key is an error with its line instead of a field left out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityEntry {
    id: IdentityId,
    kind: IdentityKind,
    status: IdentityStatus,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    owner: Option<IdentityId>,
    #[serde(default)]
    manager: Option<IdentityId>,
    #[serde(default)]
    groups: BTreeSet<GroupId>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

impl From<IdentityEntry> for Identity {
    fn from(e: IdentityEntry) -> Self {
        Identity {
            id: e.id,
            kind: e.kind,
            status: e.status,
            display_name: e.display_name,
            owner: e.owner,
            manager: e.manager,
            groups: e.groups,
            attributes: e.attributes,
            owner_left: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogFileError {
    #[error("cannot read `{path}`: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("`{path}`: {message}")]
    Parse { path: String, message: String },
}

fn read(path: &Path) -> Result<String, CatalogFileError> {
    std::fs::read_to_string(path).map_err(|source| CatalogFileError::Read { path: path.display().to_string(), source })
}

/// Parses and validates a catalog; errors name the file and, for syntax, the line.
pub fn load_catalog(path: &Path) -> Result<Catalog, CatalogFileError> {
    parse_catalog(&path.display().to_string(), &read(path)?)
}

pub fn parse_catalog(name: &str, text: &str) -> Result<Catalog, CatalogFileError> {
    let parse_err = |message: String| CatalogFileError::Parse { path: name.to_owned(), message };
    let file: CatalogFile = toml::from_str(text).map_err(|e| parse_err(e.to_string()))?;
    Catalog::new(file.targets, file.entitlements, file.toxic_combinations)
        .and_then(|c| c.with_request_types(file.request_types))
        .map_err(|e| parse_err(e.to_string()))
}

/// Parses an identities file (used by `writ init` and `writ identity
/// apply`); errors name the file and, for syntax, the line.
pub fn load_identities(path: &Path) -> Result<Vec<Identity>, CatalogFileError> {
    parse_identities(&path.display().to_string(), &read(path)?)
}

/// Parses identities; refuses unknown keys and an identity listed twice.
pub fn parse_identities(name: &str, text: &str) -> Result<Vec<Identity>, CatalogFileError> {
    let parse_err = |message: String| CatalogFileError::Parse { path: name.to_owned(), message };
    let file: IdentitiesFile = toml::from_str(text).map_err(|e| parse_err(e.to_string()))?;
    let identities: Vec<Identity> = file.identities.into_iter().map(Identity::from).collect();
    writ_core::identity::check_unique(&identities).map_err(|e| parse_err(e.to_string()))?;
    Ok(identities)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_catalog_parses() {
        let cat = parse_catalog("catalog.toml", crate::init::DEMO_CATALOG).unwrap();
        assert!(cat.entitlements().count() >= 4);
        assert!(!cat.toxic_combinations().is_empty());
    }

    #[test]
    fn errors_name_the_file_the_line_or_the_entitlement() {
        let e = parse_catalog("c.toml", "[[targets]]\nid = \"pg\"\nfulfilment = { kind = \"manual\" }\n").unwrap_err().to_string();
        assert!(e.starts_with("`c.toml`") && e.contains("line 3") && e.contains("fulfiller_group"), "{e}");
        let e =
            parse_catalog("c.toml", "[[entitlements]]\nid = \"nope/x\"\nowners = [\"a\"]\nrisk = \"low\"\nmax_duration = \"1h\"\n").unwrap_err().to_string();
        assert!(e.contains("`nope` is not declared"), "{e}");
        let e =
            parse_catalog("c.toml", "[[targets]]\nid = \"bad id\"\nfulfilment = { kind = \"manual\", fulfiller_group = \"dba\" }\n").unwrap_err().to_string();
        assert!(e.contains("invalid target id"), "{e}");
    }

    #[test]
    fn identities_files_refuse_unknown_keys_bad_ids_and_duplicates_naming_the_line_or_the_identity() {
        let ok = parse_identities("i.toml", include_str!("../demo/identities.toml")).unwrap();
        assert!(ok.iter().any(|i| i.id.as_str() == "svc-billing" && i.owner.as_ref().is_some_and(|o| o.as_str() == "alice")));
        let record = |extra: &str| format!("[[identities]]\nid = \"alice\"\nkind = \"person\"\nstatus = \"active\"\n{extra}");
        let e = parse_identities("i.toml", &record("groop = [\"eng\"]\n")).unwrap_err().to_string();
        assert!(e.starts_with("`i.toml`") && e.contains("line 5") && e.contains("groop"), "{e}");
        let e = parse_identities("i.toml", &record("manager = \"bad id\"\n")).unwrap_err().to_string();
        assert!(e.contains("line 5") && e.contains("invalid identity id"), "{e}");
        let e = parse_identities("i.toml", &record("").repeat(2)).unwrap_err().to_string();
        assert!(e.starts_with("`i.toml`") && e.contains("`alice`") && e.contains("twice"), "{e}");
    }
}
