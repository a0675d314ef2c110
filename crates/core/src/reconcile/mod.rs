//! Reconciliation's pure core: puts every entitlement a target shows (streamed
//! from a connector's `scan`) and every active grant of the ledger in exactly
//! one [`Situation`].
//!
//! A target may hold millions of rows, so [`Classifier`] classifies each row as
//! it arrives and keeps nothing per row but the rare Redis selectors that match
//! no profile (resource `""`), which can only be judged once the whole target
//! was seen. The ledger is indexed once, compactly: one hash lookup per row
//! finds the account with its holder and its grants (sorted, so the pair is a
//! binary search away); resources, subjects and approved scopes are numbered,
//! so a grant costs 36 bytes and an empty scope nothing.
//!
//! The unit of access is a pair (account, resource): overlapping grants on one
//! pair are one access on the target. A live row on a pair covers all of the
//! pair's active grants (its observation names the one that explains it); a
//! pair no row showed is one `Missing` observation naming its first active
//! grant.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::grant::GrantState;

mod ignore;
mod reaction;

use crate::ids::{GrantId, IdentityId};
pub use ignore::{IgnoreRule, IgnoreRuleError, Pattern};
pub use reaction::{Reaction, ReactionError, Reactions};

/// One entitlement held on a target, as the target shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LiveEntitlement {
    pub account: String,
    pub resource: String,
    /// Scope and options as the target reports them (Redis ACL rules, a
    /// role's `VALID UNTIL`, …): compared by reconciliation, shown in diffs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub detail: BTreeMap<String, String>,
}

/// Where one observation stands. Every live row gets exactly one; so does
/// every active grant no live row covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Situation {
    /// Live access that traces to an active grant, with the approved scope.
    Matched,
    /// Live access with no grant behind it at all.
    Unapproved,
    /// An active grant the target does not show.
    Missing,
    /// Live access whose grants have all ended, or are being removed.
    ExpiredButLive,
    /// Access held with other scope or attributes than approved.
    ScopeMismatch,
    /// A live account that maps to no identity, or to a non-human identity
    /// with no active owner.
    UnknownIdentity,
    /// A live row an ignore rule covers: reported, never silently skipped.
    Ignored,
}

impl Situation {
    pub const ALL: [Situation; 7] = [
        Situation::Matched,
        Situation::Unapproved,
        Situation::Missing,
        Situation::ExpiredButLive,
        Situation::ScopeMismatch,
        Situation::UnknownIdentity,
        Situation::Ignored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Situation::Matched => "matched",
            Situation::Unapproved => "unapproved",
            Situation::Missing => "missing",
            Situation::ExpiredButLive => "expired_but_live",
            Situation::ScopeMismatch => "scope_mismatch",
            Situation::UnknownIdentity => "unknown_identity",
            Situation::Ignored => "ignored",
        }
    }
}

impl fmt::Display for Situation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a grant stands, as far as the target should be concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// The access must be on the target.
    Active,
    /// Ended in Writ, removal from the target in progress.
    Revoking,
    /// Ended, and its removal was proved.
    Ended,
}

impl From<&GrantState> for Standing {
    fn from(state: &GrantState) -> Self {
        // Through `holds_access` rather than the variants, so a new ending
        // state is classified by the grant module's own rule.
        match state {
            GrantState::Active => Standing::Active,
            s if s.holds_access() => Standing::Revoking,
            _ => Standing::Ended,
        }
    }
}

/// One grant of the ledger on the target being reconciled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerGrant {
    pub grant: GrantId,
    pub subject: IdentityId,
    /// The subject's account name on the target.
    pub account: String,
    /// The entitlement's name on the target.
    pub resource: String,
    pub standing: Standing,
    /// The approved scope: keys the live row's `detail` must hold with these
    /// values (empty: no constraint).
    #[serde(default)]
    pub expected: BTreeMap<String, String>,
}

/// Who an account on the target belongs to, from the identity registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountHolder {
    pub identity: IdentityId,
    pub human: bool,
    /// For a non-human identity: its owner is an active person.
    pub has_active_owner: bool,
}

impl AccountHolder {
    /// Someone answers for this account.
    fn accountable(&self) -> bool {
        self.human || self.has_active_owner
    }
}

/// One classified row or grant, for reports and the audit log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Observation {
    pub situation: Situation,
    pub account: String,
    /// The resource as shown, or for a selector paired with a grant, the
    /// grant's resource.
    pub resource: String,
    /// The account's identity (the grant's subject for `Missing`).
    pub identity: Option<IdentityId>,
    /// The grant that explains it, when one does.
    pub grant: Option<GrantId>,
    #[serde(default)]
    pub live_detail: BTreeMap<String, String>,
    /// The scope that grant approved.
    #[serde(default)]
    pub expected: BTreeMap<String, String>,
    /// Why, in words.
    pub note: String,
}

/// How many observations fell in each situation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub matched: u64,
    pub unapproved: u64,
    pub missing: u64,
    pub expired_but_live: u64,
    pub scope_mismatch: u64,
    pub unknown_identity: u64,
    pub ignored: u64,
}

impl Counts {
    pub fn get(&self, s: Situation) -> u64 {
        match s {
            Situation::Matched => self.matched,
            Situation::Unapproved => self.unapproved,
            Situation::Missing => self.missing,
            Situation::ExpiredButLive => self.expired_but_live,
            Situation::ScopeMismatch => self.scope_mismatch,
            Situation::UnknownIdentity => self.unknown_identity,
            Situation::Ignored => self.ignored,
        }
    }

    fn slot(&mut self, s: Situation) -> &mut u64 {
        match s {
            Situation::Matched => &mut self.matched,
            Situation::Unapproved => &mut self.unapproved,
            Situation::Missing => &mut self.missing,
            Situation::ExpiredButLive => &mut self.expired_but_live,
            Situation::ScopeMismatch => &mut self.scope_mismatch,
            Situation::UnknownIdentity => &mut self.unknown_identity,
            Situation::Ignored => &mut self.ignored,
        }
    }

    /// Every observation.
    pub fn total(&self) -> u64 {
        Situation::ALL.iter().map(|s| self.get(*s)).sum()
    }

    /// Observations of a live row: all but `Missing` (a paired selector's
    /// `ScopeMismatch` is its live row's observation).
    pub fn total_live(&self) -> u64 {
        self.total() - self.missing
    }

    /// Matched live rows among those not ignored; 1.0 when there are none.
    pub fn match_rate(&self) -> f64 {
        let judged = self.total_live() - self.ignored;
        if judged == 0 {
            1.0
        } else {
            self.matched as f64 / judged as f64
        }
    }
}

/// One ledger grant as indexed: 36 bytes, names and scopes by number.
#[derive(Debug)]
struct IndexedGrant {
    grant: GrantId,
    account: u32,
    resource: u32,
    subject: u32,
    scope: u32,
    standing: Standing,
    /// On the pair's first active grant: a live row showed the pair.
    shown: bool,
}

/// `IndexedGrant::subject` for a subject that is its account's own name.
const OWN_NAME: u32 = u32::MAX;

/// All a live row needs about its account, behind one hash lookup.
#[derive(Debug)]
struct AccountEntry {
    id: u32,
    /// Its grants in `Classifier::grants`.
    grants: Range<u32>,
    holder: Option<Holder>,
}

/// An `AccountHolder` as indexed.
#[derive(Debug)]
struct Holder {
    /// `None` when the identity is the account's own name (today's rule):
    /// the row's identity is then made from the row, not read from memory
    /// scattered across the heap.
    identity: Option<IdentityId>,
    accountable: bool,
}

impl Holder {
    fn new(account: &str, h: AccountHolder) -> Self {
        let accountable = h.accountable();
        Holder { identity: (h.identity.as_str() != account).then_some(h.identity), accountable }
    }

    fn identity(&self, account: &str) -> IdentityId {
        match &self.identity {
            Some(id) => id.clone(),
            None => own_identity(account),
        }
    }
}

fn own_identity(account: &str) -> IdentityId {
    IdentityId::parse(account).expect("the name was an identity id when indexed")
}

/// An account name, kept inside the hash table when short (most are): a
/// lookup then reads no other memory, where a boxed key would send each of
/// a million lookups to a random corner of a heap the ledger just freed,
/// which was half of a row's cost.
#[derive(Debug, Clone)]
enum Name {
    Inline { len: u8, bytes: [u8; INLINE_NAME] },
    Boxed(Box<str>),
}

/// The longest inline name: the enum stays 24 bytes.
const INLINE_NAME: usize = 22;

impl Name {
    fn new(s: &str) -> Self {
        if s.len() > INLINE_NAME {
            return Name::Boxed(s.into());
        }
        let mut bytes = [0; INLINE_NAME];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Name::Inline { len: s.len() as u8, bytes }
    }

    fn as_str(&self) -> &str {
        match self {
            Name::Inline { len, bytes } => std::str::from_utf8(&bytes[..*len as usize]).expect("copied from a str"),
            Name::Boxed(s) => s,
        }
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

/// Hashes as its `str`, as `Borrow<str>` requires.
impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// A Redis selector matching no profile, kept until the end of the stream.
#[derive(Debug)]
struct UnknownSelector {
    account: u32,
    detail: BTreeMap<String, String>,
}

/// `format!` into a buffer sized for most notes: `format!` sizes its buffer
/// from the literal parts only and reallocates once the ids are written,
/// which shows at a million rows.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::fmt::Write as _;
        let mut note = String::with_capacity(96);
        write!(note, $($arg)*).expect("writing to a String cannot fail");
        note
    }};
}

/// Interns values into dense numbers while the index is built.
struct Interner<K> {
    ids: HashMap<K, u32>,
}

impl<K: std::hash::Hash + Eq> Interner<K> {
    fn new() -> Self {
        Interner { ids: HashMap::new() }
    }

    fn id(&mut self, key: K) -> u32 {
        let next = u32::try_from(self.ids.len()).expect("fewer than 2^32 distinct values");
        *self.ids.entry(key).or_insert(next)
    }

    /// Like `id`, but makes the owned key only for a value not seen yet.
    fn id_of<Q>(&mut self, probe: &Q, make: impl FnOnce() -> K) -> u32
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        match self.ids.get(probe) {
            Some(&id) => id,
            None => self.id(make()),
        }
    }

    /// The values, in number order.
    fn into_vec(self) -> Vec<K> {
        let mut slots: Vec<Option<K>> = std::iter::repeat_with(|| None).take(self.ids.len()).collect();
        for (k, id) in self.ids {
            slots[id as usize] = Some(k);
        }
        slots.into_iter().map(|k| k.expect("ids are dense")).collect()
    }

    /// The values sorted, and each number's rank among them.
    fn into_sorted(self) -> (Vec<K>, Vec<u32>)
    where
        K: Ord,
    {
        let mut pairs: Vec<(K, u32)> = self.ids.into_iter().collect();
        pairs.sort_unstable();
        let mut rank = vec![0; pairs.len()];
        for (r, (_, id)) in pairs.iter().enumerate() {
            rank[*id as usize] = r as u32;
        }
        (pairs.into_iter().map(|(k, _)| k).collect(), rank)
    }
}

/// The account's entry, made on first sight.
fn account_entry<'a>(accounts: &'a mut HashMap<Name, AccountEntry>, name: &str) -> &'a mut AccountEntry {
    let id = u32::try_from(accounts.len()).expect("fewer than 2^32 accounts");
    accounts.entry(Name::new(name)).or_insert(AccountEntry { id, grants: 0..0, holder: None })
}

/// Classifies one target's live rows against its ledger and the identity
/// registry. Feed every row of a scan to [`observe`](Self::observe), then call
/// [`finish`](Self::finish).
#[derive(Debug)]
pub struct Classifier {
    ignore: Vec<IgnoreRule>,
    /// Every account the registry or the ledger names.
    accounts: HashMap<Name, AccountEntry>,
    /// The ledger's resource names, numbered in name order: a pair is found
    /// by binary search in its account's grants, without hashing the name.
    resources: Vec<Box<str>>,
    /// Grant subjects other than their account's own name.
    subjects: Vec<IdentityId>,
    /// Approved scopes, each once; 0 is the empty scope.
    scopes: Vec<BTreeMap<String, String>>,
    /// Sorted by (account, resource, grant id): an account's grants are one
    /// run and a pair's grants a run within it.
    grants: Vec<IndexedGrant>,
    selectors: Vec<UnknownSelector>,
    counts: Counts,
}

impl Classifier {
    /// Indexes `ledger` (the grants on this one target, any standing) and the
    /// identity `registry` (account name on the target → its holder).
    pub fn new(ledger: impl IntoIterator<Item = LedgerGrant>, registry: impl IntoIterator<Item = (String, AccountHolder)>, ignore: Vec<IgnoreRule>) -> Self {
        // The registry first: its size is known, so the table is sized once.
        let registry = registry.into_iter();
        let mut accounts = HashMap::with_capacity(registry.size_hint().0);
        for (name, holder) in registry {
            account_entry(&mut accounts, &name).holder = Some(Holder::new(&name, holder));
        }
        let mut resource_ids = Interner::<Box<str>>::new();
        let mut subjects = Interner::<IdentityId>::new();
        let mut scopes = Interner::<BTreeMap<String, String>>::new();
        scopes.id(BTreeMap::new());
        let ledger = ledger.into_iter();
        let mut grants = Vec::with_capacity(ledger.size_hint().0);
        for g in ledger {
            grants.push(IndexedGrant {
                grant: g.grant,
                account: account_entry(&mut accounts, &g.account).id,
                resource: resource_ids.id_of(g.resource.as_str(), || g.resource.as_str().into()),
                subject: if g.subject.as_str() == g.account { OWN_NAME } else { subjects.id(g.subject) },
                // Most grants approve no scope: skip hashing the empty map.
                scope: if g.expected.is_empty() { 0 } else { scopes.id(g.expected) },
                standing: g.standing,
                shown: false,
            });
        }
        let (resources, rank) = resource_ids.into_sorted();
        for g in &mut grants {
            g.resource = rank[g.resource as usize];
        }
        grants.sort_unstable_by_key(|g| (g.account, g.resource, g.grant));
        grants.shrink_to_fit();

        let mut runs = vec![0..0; accounts.len()];
        let mut start = 0;
        for run in grants.chunk_by(|a, b| a.account == b.account) {
            let end = start + run.len() as u32;
            runs[run[0].account as usize] = start..end;
            start = end;
        }
        for e in accounts.values_mut() {
            e.grants = runs[e.id as usize].clone();
        }
        Classifier {
            ignore,
            accounts,
            resources,
            subjects: subjects.into_vec(),
            scopes: scopes.into_vec(),
            grants,
            selectors: Vec::new(),
            counts: Counts::default(),
        }
    }

    /// The counts of what was emitted so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// The range in `grants` of the pair's grants, if it has any.
    fn pair(&self, account: &AccountEntry, resource: &str) -> Option<Range<usize>> {
        let Range { start, end } = account.grants;
        let run = &self.grants[start as usize..end as usize];
        let name = |g: &IndexedGrant| &*self.resources[g.resource as usize];
        let from = run.partition_point(|g| name(g) < resource);
        let len = run[from..].partition_point(|g| name(g) == resource);
        let from = start as usize + from;
        (len > 0).then_some(from..from + len)
    }

    /// Classifies one live row and hands its observation to `sink` (a Redis
    /// selector matching no profile waits for [`finish`](Self::finish)).
    pub fn observe(&mut self, live: LiveEntitlement, sink: &mut impl FnMut(Observation)) {
        let LiveEntitlement { account: name, resource, detail } = live;
        let account = self.accounts.get(name.as_str());
        let pair = match account {
            Some(a) if !resource.is_empty() => self.pair(a, &resource),
            _ => None,
        };
        // Whatever the row's situation, it covers the pair's active grants:
        // they must not also come out `Missing`.
        let active = pair.clone().and_then(|p| p.into_iter().find(|&i| self.grants[i].standing == Standing::Active));
        if let Some(i) = active {
            self.grants[i].shown = true;
        }
        let holder = account.and_then(|a| a.holder.as_ref());

        // Precedence: Ignored > UnknownIdentity > Matched | ScopeMismatch >
        // ExpiredButLive > Unapproved.
        let (situation, grant, note) = if let Some(rule) = self.ignore.iter().find(|r| r.matches(&name, &resource)) {
            (Situation::Ignored, active, note!("ignored by the rule on {rule}"))
        } else if holder.is_none() {
            (Situation::UnknownIdentity, active, note!("`{name}` maps to no identity in the registry"))
        } else if let Some(h) = holder.filter(|h| !h.accountable) {
            let who = h.identity.as_ref().map_or(name.as_str(), IdentityId::as_str);
            let note = note!("`{name}` belongs to non-human identity `{who}`, which has no active owner");
            (Situation::UnknownIdentity, active, note)
        } else if resource.is_empty() {
            let account = account.expect("an account with a holder is indexed").id;
            self.selectors.push(UnknownSelector { account, detail });
            return;
        } else if let Some(pair) = pair {
            let (situation, grant, note) = self.judge(&name, &resource, &detail, pair);
            (situation, Some(grant), note)
        } else {
            (Situation::Unapproved, None, note!("no grant for `{name}` on `{resource}`"))
        };
        let identity = holder.map(|h| h.identity(&name));
        let o = Observation {
            situation,
            account: name,
            resource,
            identity,
            grant: grant.map(|i| self.grants[i].grant),
            live_detail: detail,
            expected: grant.map(|i| self.scope_of(i).clone()).unwrap_or_default(),
            note,
        };
        emit(&mut self.counts, sink, o);
    }

    fn scope_of(&self, grant: usize) -> &BTreeMap<String, String> {
        &self.scopes[self.grants[grant].scope as usize]
    }

    /// A live row on a pair that has grants: which grant explains it, and how.
    fn judge(&self, account: &str, resource: &str, detail: &BTreeMap<String, String>, pair: Range<usize>) -> (Situation, usize, String) {
        let (mut first_active, mut fitting, mut actives) = (None, None, 0usize);
        for i in pair.clone().filter(|&i| self.grants[i].standing == Standing::Active) {
            actives += 1;
            first_active.get_or_insert(i);
            if fitting.is_none() && scope_fits(self.scope_of(i), detail) {
                fitting = Some(i);
            }
        }
        let others = plural(actives.saturating_sub(1), "other active grant");
        if let Some(i) = fitting {
            let also = if others.is_empty() { String::new() } else { format!(" (also covers {others})") };
            return (Situation::Matched, i, note!("held as approved by {}{also}", self.grants[i].grant));
        }
        if let Some(i) = first_active {
            let diff = scope_diff(self.scope_of(i), detail);
            let also = if others.is_empty() { String::new() } else { format!(" (nor does it fit {others})") };
            let note = note!("`{account}` holds `{resource}` but not with the scope {} approved: {diff}{also}", self.grants[i].grant);
            return (Situation::ScopeMismatch, i, note);
        }
        if let Some(i) = pair.clone().find(|&i| self.grants[i].standing == Standing::Revoking) {
            let note = note!("`{account}` still holds `{resource}`: {} has ended and its removal is in progress", self.grants[i].grant);
            return (Situation::ExpiredButLive, i, note);
        }
        let others = plural(pair.len() - 1, "other");
        let also = if others.is_empty() { String::new() } else { format!(" (as have {others})") };
        let note = note!("`{account}` still holds `{resource}`, but {} has ended{also} and no active grant remains", self.grants[pair.start].grant);
        (Situation::ExpiredButLive, pair.start, note)
    }

    /// Pairs the waiting selectors with active grants no row showed, emits
    /// them and the `Missing` ones, and returns the counts of everything
    /// emitted.
    pub fn finish(mut self, sink: &mut impl FnMut(Observation)) -> Counts {
        let mut names = vec![""; self.accounts.len()];
        let mut holders = vec![None; self.accounts.len()];
        for (name, e) in &self.accounts {
            names[e.id as usize] = name.as_str();
            holders[e.id as usize] = e.holder.as_ref();
        }
        // Pairs with an active grant that no row showed, by their first active
        // grant, in name order so the output is deterministic.
        let mut unshown: Vec<usize> = Vec::new();
        let mut start = 0;
        for pair in self.grants.chunk_by(|a, b| (a.account, a.resource) == (b.account, b.resource)) {
            if let Some(k) = pair.iter().position(|g| g.standing == Standing::Active) {
                if !pair[k].shown {
                    unshown.push(start + k);
                }
            }
            start += pair.len();
        }
        let key = |i: &usize| (names[self.grants[*i].account as usize], &*self.resources[self.grants[*i].resource as usize]);
        unshown.sort_unstable_by_key(key);
        let mut paired = vec![false; unshown.len()];

        let mut selectors = std::mem::take(&mut self.selectors);
        selectors.sort_unstable_by(|a, b| (names[a.account as usize], &a.detail).cmp(&(names[b.account as usize], &b.detail)));
        let mut next = 0; // the next unshown pair a selector of this account may take
        let mut previous_account = None;
        for s in selectors {
            let name = names[s.account as usize];
            if previous_account != Some(s.account) {
                next = unshown.partition_point(|i| names[self.grants[*i].account as usize] < name);
                previous_account = Some(s.account);
            }
            let holder = holders[s.account as usize];
            let rules = s.detail.get("rules").map_or("", String::as_str);
            let taken = unshown.get(next).filter(|&&i| self.grants[i].account == s.account).copied();
            let o = if let Some(i) = taken {
                paired[next] = true;
                next += 1;
                let g = &self.grants[i];
                let resource = &self.resources[g.resource as usize];
                let note = note!(
                    "`{name}` holds a selector matching no known profile (rules `{rules}`) and not `{resource}`, which {} approved: taken as `{resource}` held with other rules",
                    g.grant
                );
                Observation {
                    situation: Situation::ScopeMismatch,
                    account: name.to_owned(),
                    resource: resource.to_string(),
                    identity: holder.map(|h| h.identity(name)),
                    grant: Some(g.grant),
                    expected: self.scopes[g.scope as usize].clone(),
                    live_detail: s.detail,
                    note,
                }
            } else {
                let note = note!("`{name}` holds a selector matching no known profile (rules `{rules}`), and no active grant is left that it could stand for");
                Observation {
                    situation: Situation::Unapproved,
                    account: name.to_owned(),
                    resource: String::new(),
                    identity: holder.map(|h| h.identity(name)),
                    grant: None,
                    expected: BTreeMap::new(),
                    live_detail: s.detail,
                    note,
                }
            };
            emit(&mut self.counts, sink, o);
        }

        for (&i, _) in unshown.iter().zip(&paired).filter(|(_, &p)| !p) {
            let g = &self.grants[i];
            let (name, resource) = key(&i);
            let pair_end = self.grants[i..].iter().take_while(|h| (h.account, h.resource) == (g.account, g.resource)).count();
            let others = self.grants[i + 1..i + pair_end].iter().filter(|h| h.standing == Standing::Active).count();
            let also = if others == 0 { String::new() } else { format!(" (nor {})", plural(others, "other active grant")) };
            let o = Observation {
                situation: Situation::Missing,
                account: name.to_owned(),
                resource: resource.to_owned(),
                identity: Some(match g.subject {
                    OWN_NAME => own_identity(name),
                    other => self.subjects[other as usize].clone(),
                }),
                grant: Some(g.grant),
                live_detail: BTreeMap::new(),
                expected: self.scopes[g.scope as usize].clone(),
                note: note!("{} for `{name}` on `{resource}` is active, but the target does not show it{also}", g.grant),
            };
            emit(&mut self.counts, sink, o);
        }
        self.counts
    }
}

fn emit(counts: &mut Counts, sink: &mut impl FnMut(Observation), o: Observation) {
    *counts.slot(o.situation) += 1;
    sink(o);
}

/// The live detail holds every approved key with the approved value.
fn scope_fits(expected: &BTreeMap<String, String>, detail: &BTreeMap<String, String>) -> bool {
    expected.iter().all(|(k, v)| detail.get(k) == Some(v))
}

/// What differs, in words: "`admin_option` is `true`, approved `false`".
fn scope_diff(expected: &BTreeMap<String, String>, detail: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = expected
        .iter()
        .filter_map(|(k, v)| match detail.get(k) {
            Some(live) if live == v => None,
            Some(live) => Some(format!("`{k}` is `{live}`, approved `{v}`")),
            None => Some(format!("`{k}` is absent, approved `{v}`")),
        })
        .collect();
    parts.join("; ")
}

/// "" for 0, "1 other", "3 others".
fn plural(n: usize, what: &str) -> String {
    match n {
        0 => String::new(),
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}

#[cfg(test)]
mod tests;
