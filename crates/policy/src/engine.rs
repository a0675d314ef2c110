//! The loaded, validated, indexed policy set.

use std::path::Path;

use cedar_policy::{Authorizer, PolicySet};

use crate::demo;
use crate::entities::Vocab;
use crate::error::PolicyError;
use crate::load::{self, LoadedPolicy};
use crate::report::CheckReport;

use crate::slice::SliceIndex;

/// Answers Writ's policy questions. Immutable once loaded, so it is `Send + Sync`
/// and can be shared behind an `Arc`; to change policies, load a new engine and
/// swap it in.
pub struct PolicyEngine {
    pub(crate) vocab: Vocab,
    /// Every policy, for `decide_naive`.
    pub(crate) all: PolicySet,
    pub(crate) slices: SliceIndex,
    pub(crate) authorizer: Authorizer,
    policies: Vec<LoadedPolicy>,
    files: Vec<String>,
    warnings: Vec<String>,
}

impl PolicyEngine {
    /// Loads `<dir>/writ.cedarschema` and every `<dir>/*.cedar` (sorted by name),
    /// validating the policies strictly against the schema.
    pub fn load_dir(dir: &Path) -> Result<Self, PolicyError> {
        let (schema, files) = load::read_dir(dir)?;
        Self::from_sources(&schema, &files)
    }

    /// Like [`PolicyEngine::load_dir`] from in-memory text: `files` are
    /// `(file name, policy text)`, the name being used in ids and errors.
    pub fn from_sources<N: AsRef<str>, T: AsRef<str>>(schema: &str, files: &[(N, T)]) -> Result<Self, PolicyError> {
        if files.is_empty() {
            return Err(PolicyError::NoPolicies { place: "the given sources".into() });
        }
        let loaded = load::load(schema, files)?;
        let vocab = Vocab::new(&loaded.schema);
        let all = PolicySet::from_policies(loaded.policies.iter().map(|p| p.policy.clone())).expect("ids were checked unique at load");
        let mut warnings = loaded.warnings;
        // An older policy directory's schema may predate an action Writ now asks.
        warnings.extend(vocab.undeclared.iter().map(|a| {
            format!(
                "the schema declares no action `{a}`, so every `{a}` decision is denied: \
                 declare it (see the demo writ.cedarschema) and write policies for it"
            )
        }));
        Ok(PolicyEngine {
            slices: SliceIndex::build(&vocab, &loaded.policies),
            vocab,
            all,
            authorizer: Authorizer::new(),
            policies: loaded.policies,
            files: loaded.files,
            warnings,
        })
    }

    /// The demo policy set that `writ init` writes.
    pub fn demo() -> Self {
        Self::from_sources(demo::SCHEMA, demo::POLICIES).expect("the demo policy set is valid")
    }

    pub fn policy_count(&self) -> usize {
        self.policies.len()
    }

    /// All policy ids, in file order.
    pub fn policy_ids(&self) -> Vec<String> {
        self.policies.iter().map(|p| p.id.clone()).collect()
    }

    /// Summary for `writ policy check`.
    pub fn check_report(&self) -> CheckReport {
        CheckReport::new(&self.vocab, &self.files, &self.policies, &self.warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PolicyEngine>();
    }

    #[test]
    fn load_dir_reads_sorted_cedar_files_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("writ.cedarschema"), demo::SCHEMA).unwrap();
        for (name, text) in demo::POLICIES {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();
        let engine = PolicyEngine::load_dir(dir.path()).unwrap();
        assert_eq!(engine.policy_count(), PolicyEngine::demo().policy_count());
        let mut sorted = engine.files.clone();
        sorted.sort();
        assert_eq!(engine.files, sorted);
    }

    #[test]
    fn an_old_schema_without_the_new_actions_loads_with_a_warning() {
        let old = demo::SCHEMA.replace(r#", "view", "revoke" appliesTo"#, " appliesTo");
        let engine = PolicyEngine::from_sources(&old, &[("request.cedar", include_str!("../demo/request.cedar"))]).unwrap();
        let report = engine.check_report();
        assert!(report.warnings.iter().any(|w| w.contains("no action `view`")), "{:?}", report.warnings);
        assert!(PolicyEngine::demo().check_report().warnings.is_empty());
    }

    #[test]
    fn no_sources_is_an_error() {
        let none: &[(&str, &str)] = &[];
        let err = PolicyEngine::from_sources(demo::SCHEMA, none).err().unwrap();
        assert!(matches!(err, PolicyError::NoPolicies { .. }));
    }
}
