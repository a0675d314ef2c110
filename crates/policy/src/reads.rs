//! What the policies of a decision can read of its entities and context, so that
//! a decision builds only that.
//!
//! Building Cedar's entity store and context is most of a sliced decision's cost:
//! every attribute and context field is evaluated into a value, and every parent
//! (an identity's groups, an entitlement's target) is one more node in the
//! transitive closure Cedar computes for each store. Most of it is invisible to
//! the few policies a slice holds:
//!
//! - A policy reads an attribute (of an entity, or a field of the context record)
//!   only by naming it (`e.status`, `e["status"]`, `e has status`): Cedar has no
//!   computed attribute names. An entity used as a whole is only its uid; the
//!   context used as a whole (`context == {..}`) shows every field, so such a
//!   policy reads them all.
//! - A policy sees a parent only through `in`, with the parent's uid on the
//!   right. A group or target uid can only come from an entity literal in the
//!   policy: no attribute, context value or request variable Writ builds holds
//!   one (they hold identities, the entitlement, the service and the action).
//!
//! So an attribute or field that no evaluated policy reads, and a parent that no
//! evaluated policy has as a literal, change neither the answer, nor the
//! determining policies, nor the evaluation errors (an error names the attribute
//! or entity it was about, which is then named in the policy, hence built). The
//! entities themselves are always all built: whether one exists shows in error
//! messages. `decide_naive` builds everything, so the equivalence tests check
//! this.
//!
//! When changing what `Vocab` builds: a new attribute or context field needs its
//! [`Attr`]; and if one ever holds a group or target uid (or a record that could
//! be compared with the context), the second rule above no longer holds.

use std::collections::HashSet;

use cedar_policy::Policy;

use crate::slice::Slice;

/// The entity attributes and context fields Writ builds (see `Vocab`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attr {
    // Of an identity.
    Kind,
    Status,
    Owner,
    Manager,
    Attributes,
    // Of an entitlement.
    Risk,
    Owners,
    // Of the context.
    DurationSecs,
    JustificationLength,
    HasTicket,
    Stage,
    Requester,
    Subject,
    SubjectIsRequester,
    EntitlementCount,
    Relations,
    RequestType,
}

impl Attr {
    const ALL: [Attr; 17] = [
        Attr::Kind,
        Attr::Status,
        Attr::Owner,
        Attr::Manager,
        Attr::Attributes,
        Attr::Risk,
        Attr::Owners,
        Attr::DurationSecs,
        Attr::JustificationLength,
        Attr::HasTicket,
        Attr::Stage,
        Attr::Requester,
        Attr::Subject,
        Attr::SubjectIsRequester,
        Attr::EntitlementCount,
        Attr::Relations,
        Attr::RequestType,
    ];

    /// Whether this is a field of the context (they come last).
    fn of_context(self) -> bool {
        self as u16 >= Attr::DurationSecs as u16
    }

    /// The attribute's name in the schema.
    pub fn name(self) -> &'static str {
        match self {
            Attr::Kind => "kind",
            Attr::Status => "status",
            Attr::Owner => "owner",
            Attr::Manager => "manager",
            Attr::Attributes => "attributes",
            Attr::Risk => "risk",
            Attr::Owners => "owners",
            Attr::DurationSecs => "duration_secs",
            Attr::JustificationLength => "justification_length",
            Attr::HasTicket => "has_ticket",
            Attr::Stage => "stage",
            Attr::Requester => "requester",
            Attr::Subject => "subject",
            Attr::SubjectIsRequester => "subject_is_requester",
            Attr::EntitlementCount => "entitlement_count",
            Attr::Relations => "relations",
            Attr::RequestType => "request_type",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of [`Attr`]s, one bit each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Attrs(u32);

const _: () = assert!(Attr::ALL.len() <= 32, "widen `Attrs`");

impl Attrs {
    pub const ALL: Attrs = Attrs(u32::MAX >> (32 - Attr::ALL.len()));

    pub fn contains(self, a: Attr) -> bool {
        self.0 & a.bit() != 0
    }

    fn insert(&mut self, a: Attr) {
        self.0 |= a.bit();
    }
}

/// What one policy, or a bucket of them, can read.
#[derive(Clone, Debug, Default)]
pub(crate) struct PolicyReads {
    attrs: Attrs,
    /// Ids of its entity literals, whatever their type (a parent is kept when its
    /// id is here; a same-named literal of another type only keeps it needlessly).
    literal_ids: HashSet<String>,
}

impl PolicyReads {
    pub fn of(policy: &Policy) -> Self {
        PolicyReads {
            attrs: policy.to_cedar().map_or(Attrs::ALL, |text| attrs_read(&text)),
            literal_ids: policy.entity_literals().iter().map(|uid| uid.id().unescaped().to_string()).collect(),
        }
    }

    /// Adds what `other` reads (a bucket reads what any of its policies does).
    pub fn add(&mut self, other: &PolicyReads) {
        self.attrs.0 |= other.attrs.0;
        self.literal_ids.extend(other.literal_ids.iter().cloned());
    }
}

/// The attributes and context fields a policy with this text may read: those
/// whose name appears anywhere in it, plus every context field if it may use the
/// context as a whole. Coarse (a comment or a string literal counts too), but
/// sound: a name is written verbatim (`.status`, `has status`, `["status"]`)
/// unless written with an escape (`["st\u{61}tus"]`), so a text with a
/// backslash reads everything.
fn attrs_read(text: &str) -> Attrs {
    if text.contains('\\') {
        return Attrs::ALL;
    }
    let mut attrs = Attrs::default();
    for a in Attr::ALL.into_iter().filter(|a| text.contains(a.name())) {
        attrs.insert(a);
    }
    if may_use_whole_context(text) {
        Attr::ALL.into_iter().filter(|a| a.of_context()).for_each(|a| attrs.insert(a));
    }
    attrs
}

/// Whether some `context` in the text may be other than the start of a field
/// access (`context.f`, `context["f"]`, `context has f`). Errs towards yes: any
/// `context` followed by something else (even inside a longer word, a string or
/// a comment), or by a method call (`context.m(..)`, which no record has), counts.
fn may_use_whole_context(text: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices("context").any(|(at, word)| {
        let rest = text[at + word.len()..].trim_start();
        let dot_field = rest.strip_prefix('.').is_some_and(|r| {
            let after_name = r.trim_start().trim_start_matches(is_ident);
            !after_name.trim_start().starts_with('(')
        });
        let has = rest.strip_prefix("has").is_some_and(|after| after.starts_with(char::is_whitespace));
        !(dot_field || rest.starts_with('[') || has)
    })
}

/// What the policies of one decision can read: everything (the naive path), or
/// what any of the slices it evaluates reads.
#[derive(Clone, Copy)]
pub(crate) enum Reads<'a> {
    Everything,
    Slices(&'a [&'a Slice]),
}

impl Reads<'_> {
    /// Whether to build attribute or context field `a`.
    pub fn attr(&self, a: Attr) -> bool {
        match self {
            Reads::Everything => true,
            Reads::Slices(slices) => slices.iter().any(|s| s.reads.attrs.contains(a)),
        }
    }

    /// Whether to give an entity its parent with this id (a group or a target).
    pub fn parent(&self, id: &str) -> bool {
        match self {
            Reads::Everything => true,
            Reads::Slices(slices) => slices.iter().any(|s| s.reads.literal_ids.contains(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::query;
    use crate::{demo, PolicyAction, PolicyEngine};

    fn reads(text: &str) -> PolicyReads {
        let policy = Policy::parse(None, text).unwrap();
        PolicyReads::of(&policy)
    }

    fn attrs(r: &PolicyReads) -> Vec<&'static str> {
        Attr::ALL.into_iter().filter(|a| r.attrs.contains(*a)).map(Attr::name).collect()
    }

    #[test]
    fn named_attributes_and_literal_ids_are_read() {
        let r = reads(
            r#"permit (principal in Writ::Group::"g0", action in [Writ::Action::"review"], resource)
               when { principal["status"] == "active" && resource has risk }
               unless { context.subject in [Writ::Group::"g1", Writ::Target::"t0"] };"#,
        );
        assert_eq!(attrs(&r), ["status", "risk", "subject"]);
        let mut ids: Vec<&str> = r.literal_ids.iter().map(String::as_str).collect();
        ids.sort();
        assert_eq!(ids, ["g0", "g1", "review", "t0"]);
        assert!(attrs(&reads("permit (principal, action, resource);")).is_empty());
    }

    #[test]
    fn any_mention_counts_as_a_name() {
        let r = reads(r#"permit (principal, action, resource) when { context.stage == "owners" };"#);
        // "owner" is in "owners".
        assert_eq!(attrs(&r), ["owner", "owners", "stage"]);
    }

    #[test]
    fn only_field_accesses_keep_the_context_partial() {
        for (text, whole) in [
            (r#"context.stage == "" && context["has_ticket"]"#, false),
            ("context has stage && context . stage == context.requester", false),
            ("context == {}", true),
            ("[context].isEmpty()", true),
            ("context.isEmpty()", true),
            ("context // a comment\n.stage", true),
            (r#"principal.status == "context""#, true),
        ] {
            assert_eq!(may_use_whole_context(text), whole, "{text}");
        }
        let r = reads("permit (principal, action, resource) when { [context].isEmpty() };");
        assert!(Attr::ALL.into_iter().all(|a| r.attrs.contains(a) == a.of_context()));
    }

    #[test]
    fn an_escape_reads_every_attribute() {
        let r = reads(r#"permit (principal, action, resource) when { principal["st\u{61}tus"] == "x" };"#);
        assert_eq!(r.attrs, Attrs::ALL);
    }

    /// Hand-made cases where the sliced path builds less than the naive one; both
    /// must still give the same decision, determining policies and errors.
    #[test]
    fn pruned_entities_answer_like_full_ones() {
        let policies = r#"
@id("grp") permit (principal, action == Writ::Action::"request", resource)
  when { principal in Writ::Group::"ops" };
@id("subj-grp") forbid (principal, action == Writ::Action::"request", resource)
  when { context.subject in Writ::Group::"banned" };
@id("tgt-cond") permit (principal, action == Writ::Action::"review", resource)
  when { resource in Writ::Target::"pg-prod" && principal has manager };
@id("idx") forbid (principal, action == Writ::Action::"review", resource)
  when { principal["kind"] == "ai_agent" };
@id("has-owner") permit (principal, action == Writ::Action::"view", resource)
  when { principal.owner != "" || resource.owners.contains(principal) };
@id("missing") permit (principal, action == Writ::Action::"view", resource)
  when { context.requester.status == "active" };
@id("attrs") permit (principal, action == Writ::Action::"break_glass", resource)
  when { principal.attributes.contains("dept=ops") };
@id("escaped") forbid (principal, action == Writ::Action::"break_glass", resource)
  when { principal["st\u{61}tus"] == "disabled" };
"#;
        let e = PolicyEngine::from_sources(demo::SCHEMA, &[("t.cedar", policies)]).unwrap();
        // The sliced path does build less here.
        let request = e.slices.slices(PolicyAction::Request, None);
        let request = Reads::Slices(&request);
        assert!(request.parent("ops") && request.parent("banned") && !request.parent("eng"));
        assert!(!request.attr(Attr::Status) && request.attr(Attr::Subject));
        assert!(!request.attr(Attr::Stage) && !request.parent("pg-prod"));
        let review = e.slices.slices(PolicyAction::Review, None);
        let review = Reads::Slices(&review);
        assert!(review.parent("pg-prod") && review.attr(Attr::Manager));
        assert!(!review.attr(Attr::Owners) && !review.parent("ops"));
        let mut answers = std::collections::BTreeSet::new();
        for action in PolicyAction::ALL.into_iter().take(5) {
            for groups in [vec![], vec!["ops"], vec!["banned", "eng"], vec!["eng"]] {
                for other_subject in [false, true] {
                    for requester in ["alice", "zed"] {
                        let mut q = query(action);
                        q.principal.groups = groups.iter().map(|g| g.to_string()).collect();
                        q.principal.owner = Some("olga".into());
                        q.principal.manager = Some("mona".into());
                        q.principal.attributes.insert("dept".into(), "ops".into());
                        if other_subject {
                            q.subject.id = "bob".into();
                            q.subject.groups = q.principal.groups.clone();
                        }
                        q.context.requester = requester.into();
                        let d = e.decide(&q);
                        assert_eq!(d, e.decide_naive(&q), "{q:?}");
                        answers.insert((d.allowed, d.policy_ids, d.errors.len()));
                    }
                }
            }
        }
        // The cases reach allows, forbids, default denies and errors.
        assert!(answers.iter().any(|a| a.0));
        assert!(answers.iter().any(|a| !a.0 && !a.1.is_empty()));
        assert!(answers.iter().any(|a| !a.0 && a.1.is_empty()));
        assert!(answers.iter().any(|a| a.2 > 0));
    }
}
