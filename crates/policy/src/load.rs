//! Reading, parsing, naming and validating policy files.
//!
//! Cedar parses a file into policies named `policy0..N`; we rename each to a
//! stable, meaningful id (its `@id("...")` annotation, else `<file>:<line>`) so
//! decisions and audit records point at something a human can find.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use cedar_policy::{Policy, PolicyId, PolicySet, Schema, ValidationMode, Validator};

use crate::error::{line_col, locate, locate_all, Diagnostics, Located, PolicyError};

/// The schema file every policy directory must contain.
pub(crate) const SCHEMA_FILE: &str = "writ.cedarschema";

/// One policy after loading, in file order.
#[derive(Clone, Debug)]
pub(crate) struct LoadedPolicy {
    pub id: String,
    pub file: String,
    pub line: usize,
    pub policy: Policy,
}

pub(crate) struct Loaded {
    pub schema: Schema,
    pub policies: Vec<LoadedPolicy>,
    pub files: Vec<String>,
    /// Schema and validation warnings; they do not stop loading.
    pub warnings: Vec<String>,
}

/// Reads `<dir>/writ.cedarschema` and every `<dir>/*.cedar`, sorted by name.
pub(crate) fn read_dir(dir: &Path) -> Result<(String, Vec<(String, String)>), PolicyError> {
    let io = |path: &Path, source| PolicyError::Io { path: path.to_path_buf(), source };
    if !dir.is_dir() {
        return Err(PolicyError::MissingDir { path: dir.to_path_buf() });
    }
    let schema_path = dir.join(SCHEMA_FILE);
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
    if !schema_path.is_file() {
        return Err(PolicyError::MissingSchema { path: schema_path });
    }
    let schema = std::fs::read_to_string(&schema_path).map_err(|e| io(&schema_path, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| io(dir, e))?.path();
        if path.is_file() && path.extension().is_some_and(|x| x == "cedar") {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(PolicyError::NoPolicies { place: dir.display().to_string() });
    }
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        files.push((name, text));
    }
    Ok((schema, files))
}

/// Parses the schema and policy files, assigns ids and validates strictly.
pub(crate) fn load<N: AsRef<str>, T: AsRef<str>>(schema_src: &str, files: &[(N, T)]) -> Result<Loaded, PolicyError> {
    let (schema, schema_warnings) =
        Schema::from_cedarschema_str(schema_src).map_err(|e| PolicyError::Schema(Diagnostics(locate_all(SCHEMA_FILE, schema_src, &e))))?;
    let mut warnings: Vec<String> = schema_warnings.map(|w| format!("{SCHEMA_FILE}: {w}")).collect();

    let mut syntax = Vec::new();
    let mut policies = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for (name, text) in files {
        let (name, text) = (name.as_ref(), text.as_ref());
        match PolicySet::from_str(text) {
            Err(errs) => syntax.extend(errs.iter().map(|e| locate(name, text, e))),
            Ok(pset) => {
                for p in name_policies(name, text, &pset)? {
                    let at = format!("{}:{}", p.file, p.line);
                    if let Some(first) = seen.insert(p.id.clone(), at.clone()) {
                        return Err(PolicyError::DuplicateId { id: p.id, first, second: at });
                    }
                    policies.push(p);
                }
            }
        }
    }
    if !syntax.is_empty() {
        return Err(PolicyError::Syntax(Diagnostics(syntax)));
    }

    let pset = PolicySet::from_policies(policies.iter().map(|p| p.policy.clone())).expect("ids were checked unique above");
    let texts: HashMap<&str, (&str, &str)> = files.iter().map(|(n, t)| (n.as_ref(), (n.as_ref(), t.as_ref()))).collect();
    let file_of: HashMap<&str, &str> = policies.iter().map(|p| (p.id.as_str(), p.file.as_str())).collect();
    // Validation spans point into the text of the file the policy came from.
    let place = |id: &PolicyId, diag: &dyn miette::Diagnostic| -> Located {
        let (file, text) = file_of.get(AsRef::<str>::as_ref(id)).and_then(|f| texts.get(f)).copied().unwrap_or(("<unknown>", ""));
        locate(file, text, diag)
    };
    let result = Validator::new(schema.clone()).validate(&pset, ValidationMode::Strict);
    let errors: Vec<Located> = result.validation_errors().map(|e| place(e.policy_id(), e)).collect();
    if !errors.is_empty() {
        return Err(PolicyError::Validation(Diagnostics(errors)));
    }
    warnings.extend(result.validation_warnings().map(|w| place(w.policy_id(), w).to_string()));
    Ok(Loaded { schema, policies, files: files.iter().map(|(n, _)| n.as_ref().to_string()).collect(), warnings })
}

/// Gives each policy of one parsed file its final id and line, in file order.
fn name_policies(file: &str, text: &str, pset: &PolicySet) -> Result<Vec<LoadedPolicy>, PolicyError> {
    if let Some(t) = pset.templates().next() {
        let line = find_line(text, &t.to_cedar(), 0).0;
        return Err(PolicyError::Template { at: format!("{file}:{line}") });
    }
    // Cedar names a file's policies policy0, policy1, … in source order; sorting
    // on that number lets us find each policy's text after the previous one,
    // which stays right even when two policies have identical text.
    let mut parsed: Vec<&Policy> = pset.policies().collect();
    parsed.sort_by_key(|p| AsRef::<str>::as_ref(p.id()).strip_prefix("policy").and_then(|n| n.parse::<usize>().ok()).unwrap_or(usize::MAX));
    let mut cursor = 0;
    let mut out = Vec::with_capacity(parsed.len());
    for p in parsed {
        let (line, end) = find_line(text, &p.to_cedar().unwrap_or_default(), cursor);
        cursor = end;
        let id = match p.annotation("id") {
            Some(id) if !id.trim().is_empty() => id.to_string(),
            _ => format!("{file}:{line}"),
        };
        out.push(LoadedPolicy { policy: p.new_id(PolicyId::new(&id)), id, file: file.to_string(), line });
    }
    Ok(out)
}

/// Line where `needle` starts at or after byte `from`, and the byte just past it.
fn find_line(text: &str, needle: &str, from: usize) -> (usize, usize) {
    let from = from.min(text.len());
    match text.get(from..).and_then(|rest| rest.find(needle)) {
        Some(i) if !needle.is_empty() => (line_col(text, from + i).0, from + i + needle.len()),
        _ => (line_col(text, from).0, from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo;

    fn load_one(text: &str) -> Result<Loaded, PolicyError> {
        load(demo::SCHEMA, &[("t.cedar", text)])
    }

    const PERMIT: &str = "permit (principal, action == Writ::Action::\"request\", resource);";

    #[test]
    fn ids_come_from_annotation_or_file_and_line() {
        let text = format!("// header\n@id(\"named\")\n{PERMIT}\n\n{PERMIT}\n{PERMIT}\n");
        let loaded = load_one(&text).unwrap();
        let ids: Vec<_> = loaded.policies.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["named", "t.cedar:5", "t.cedar:6"]);
        assert_eq!(loaded.policies[0].line, 2);
    }

    #[test]
    fn duplicate_id_across_files_names_both() {
        let a = format!("@id(\"x\")\n{PERMIT}");
        let b = format!("\n@id(\"x\")\n{PERMIT}");
        let err = load(demo::SCHEMA, &[("a.cedar", &a), ("b.cedar", &b)]).err().unwrap();
        assert!(matches!(err, PolicyError::DuplicateId { .. }));
        assert_eq!(err.to_string(), "duplicate policy id \"x\": defined at a.cedar:1 and at b.cedar:2");
    }

    #[test]
    fn syntax_error_names_file_line_col() {
        let text = format!("{PERMIT}\n\npermit (principal, action, resource) when {{ principal.status == }};\n");
        let err = load_one(&text).err().unwrap();
        assert!(matches!(err, PolicyError::Syntax(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.starts_with("t.cedar:3:"), "{msg}");
    }

    #[test]
    fn validation_error_names_file_line_col() {
        let text = format!("{PERMIT}\n\n@id(\"bad\")\npermit (principal, action, resource)\n  when {{ principal.statuz == \"active\" }};\n");
        let err = load_one(&text).err().unwrap();
        assert!(matches!(err, PolicyError::Validation(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.starts_with("t.cedar:5:"), "{msg}");
        assert!(msg.contains("statuz"), "{msg}");
    }

    #[test]
    fn unknown_entity_type_names_file_line_col() {
        let text = "\n\npermit (principal in Writ::Team::\"x\", action, resource);\n";
        let err = load_one(text).err().unwrap();
        let msg = err.to_string();
        assert!(msg.starts_with("t.cedar:3:"), "{msg}");
        assert!(msg.contains("Writ::Team"), "{msg}");
    }

    #[test]
    fn schema_error_names_schema_file() {
        let err = load("namespace Writ {\n  entity X in [Nope];\n}\n", &[("t.cedar", PERMIT)]).err().unwrap();
        assert!(matches!(err, PolicyError::Schema(_)), "{err:?}");
        assert!(err.to_string().starts_with("writ.cedarschema"), "{err}");
        let err = load("namespace Writ {\n  entity X in \n}\n", &[("t.cedar", PERMIT)]).err().unwrap();
        assert!(err.to_string().starts_with("writ.cedarschema:3:"), "{err}");
    }

    #[test]
    fn templates_are_rejected_with_location() {
        let text = "\npermit (principal == ?principal, action, resource);";
        let err = load_one(text).err().unwrap();
        assert_eq!(err.to_string().split(':').take(2).collect::<Vec<_>>(), ["t.cedar", "2"]);
    }

    #[test]
    fn directory_errors_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_dir(dir.path()).err().unwrap();
        assert!(matches!(err, PolicyError::MissingSchema { .. }));
        assert!(err.to_string().contains("writ.cedarschema"), "{err}");
        std::fs::write(dir.path().join(SCHEMA_FILE), demo::SCHEMA).unwrap();
        let err = read_dir(dir.path()).err().unwrap();
        assert!(matches!(err, PolicyError::NoPolicies { .. }));
        assert!(err.to_string().contains("*.cedar"), "{err}");
        let err = read_dir(&dir.path().join("missing")).err().unwrap();
        assert!(matches!(err, PolicyError::MissingDir { .. }), "{err:?}");
    }
}
