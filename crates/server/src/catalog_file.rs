//! Reading the catalog file (TOML) into a validated `Catalog`.

use std::path::Path;

use serde::Deserialize;
use writ_core::catalog::{Catalog, Entitlement, Target, ToxicCombination};
use writ_core::identity::Identity;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    targets: Vec<Target>,
    #[serde(default)]
    entitlements: Vec<Entitlement>,
    #[serde(default)]
    toxic_combinations: Vec<ToxicCombination>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentitiesFile {
    #[serde(default)]
    identities: Vec<Identity>,
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
    Catalog::new(file.targets, file.entitlements, file.toxic_combinations).map_err(|e| parse_err(e.to_string()))
}

/// Parses an identities file (used by `writ init` and `writ identity import`).
pub fn load_identities(path: &Path) -> Result<Vec<Identity>, CatalogFileError> {
    let text = read(path)?;
    let file: IdentitiesFile = toml::from_str(&text).map_err(|e| CatalogFileError::Parse { path: path.display().to_string(), message: e.to_string() })?;
    Ok(file.identities)
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
}
