//! Reading the catalog file (TOML) into a validated `Catalog`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use writ_core::catalog::{Catalog, Entitlement, EscalateTo, Target, ToxicCombination, STAGE_KEYS};
use writ_core::duration::AccessDuration;
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
    let doc: toml::Value = toml::from_str(text).map_err(|e| parse_err(e.to_string()))?;
    check_stages(&doc).map_err(parse_err)?;
    let file: CatalogFile = toml::from_str(text).map_err(|e| parse_err(e.to_string()))?;
    Catalog::new(file.targets, file.entitlements, file.toxic_combinations)
        .and_then(|c| c.with_request_types(file.request_types))
        .map_err(|e| parse_err(e.to_string()))
}

/// Checks every stage's keys before the typed parse, so that a misspelt key
/// or a bad service-level value names the entitlement, the stage and the key
/// (the typed parse would name only a line, and would drop an unknown key).
fn check_stages(doc: &toml::Value) -> Result<(), String> {
    let entitlements = doc.get("entitlements").and_then(toml::Value::as_array).map_or(&[][..], Vec::as_slice);
    for e in entitlements {
        let id = e.get("id").and_then(toml::Value::as_str).unwrap_or("?");
        let stages = e.get("stages").and_then(toml::Value::as_array).map_or(&[][..], Vec::as_slice);
        for (i, stage) in stages.iter().enumerate() {
            let Some(table) = stage.as_table() else { continue };
            let name = table.get("name").and_then(toml::Value::as_str).map_or_else(|| format!("#{}", i + 1), str::to_owned);
            let at = |key: &str| format!("entitlement `{id}`, stage `{name}`, key `{key}`");
            if let Some(key) = table.keys().find(|k| !STAGE_KEYS.contains(&k.as_str())) {
                return Err(format!("{}: not a key of a stage (they are {})", at(key), STAGE_KEYS.join(", ")));
            }
            let text = |key: &str, example: &str| match table.get(key) {
                Some(v) => v.as_str().map(Some).ok_or_else(|| format!("{}: write it as a string, e.g. `{key} = {example}`", at(key))),
                None => Ok(None),
            };
            for key in ["sla", "remind_after"] {
                if let Some(t) = text(key, "\"4h\"")? {
                    AccessDuration::parse(t).map_err(|e| format!("{}: {e}", at(key)))?;
                }
            }
            if let Some(t) = text("escalate_to", "\"manager\"")? {
                EscalateTo::parse(t).map_err(|e| format!("{}: {e}", at("escalate_to")))?;
            }
        }
    }
    Ok(())
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
    fn stage_keys_and_service_levels_are_checked_naming_the_entitlement_stage_and_key() {
        let with = |stage: &str| {
            format!(
                "[[targets]]\nid = \"pg\"\nfulfilment = {{ kind = \"manual\", fulfiller_group = \"dba\" }}\n\
                 [[entitlements]]\nid = \"pg/read\"\nowners = [\"olivia\"]\nrisk = \"low\"\nmax_duration = \"1h\"\nstages = [{{ name = \"owner\", approvers = \"entitlement_owners\", {stage} }}]\n"
            )
        };
        let ok = parse_catalog("c.toml", &with("sla = \"4h\", remind_after = \"1h\", escalate_to = \"manager\"")).unwrap();
        let stage = &ok.entitlements().next().unwrap().stages[0];
        assert_eq!(stage.deadline().unwrap().remind_after, chrono::TimeDelta::hours(1));
        for (stage, key, says) in [
            ("sla = \"4x\", escalate_to = \"manager\"", "sla", "not a duration"),
            ("sla = 4, escalate_to = \"manager\"", "sla", "as a string"),
            ("sla = \"4h\", escalate_to = \"boss\"", "escalate_to", "`manager` or `group:<group id>`"),
            ("sla = \"4h\", escalate_to = \"group:bad group\"", "escalate_to", "invalid group id"),
            ("sla = \"4h\", escalate = \"manager\"", "escalate", "not a key of a stage"),
            ("sla = \"4h\"", "sla", "needs `escalate_to`"),
            ("sla = \"4h\", remind_after = \"5h\", escalate_to = \"manager\"", "remind_after", "shorter than `sla`"),
        ] {
            let e = parse_catalog("c.toml", &with(stage)).unwrap_err().to_string();
            assert!(
                e.starts_with("`c.toml`")
                    && e.contains("entitlement `pg/read`, stage `owner`, key `")
                    && e.contains(&format!("key `{key}`"))
                    && e.contains(says),
                "{stage}: {e}"
            );
        }
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
