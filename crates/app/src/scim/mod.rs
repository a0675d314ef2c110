//! Inbound SCIM 2.0: the organisation's identity provider creates, changes
//! and removes Writ's people and groups. Each use-case applies one
//! provider change as one commit, with its audit events (source `scim`,
//! actor [`ACTOR`]): a User is a person identity (its `userName` the id),
//! `active: false` and DELETE disable it through the same path as any
//! disabling (its pending requests withdrawn, its grants removed with
//! read-back); a Group is a Writ group whose members are the identities
//! holding it. The protocol (schemas, filters, PATCH) is `writ_core::scim`;
//! the mapping is [`map`].

pub mod map;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use writ_core::identity::{Identity, IdentityStatus};
use writ_core::ids::{GroupId, IdentityId};
use writ_core::scim::schema::{self, Kind};
use writ_core::scim::{patch, Filter, ScimError};

use crate::events::{self, general};
use crate::ports::{Change, ScimGroupKey, ScimGroupRecord, ScimUserKey, ScimUserRecord, ScimUserRow, StoreError, Versioned};
use crate::service::MAX_ATTEMPTS;
use crate::{AppError, Writ};

/// The actor of SCIM's changes in the audit log (a reserved name: no
/// identity can take it).
pub const ACTOR: &str = "writ-scim";
/// The source recorded in each of SCIM's audit events.
pub const SOURCE: &str = "scim";
/// The most resources one list page returns (`filter.maxResults`); a
/// larger `count` is lowered to it, and `totalResults` always says how
/// many there are.
pub const MAX_RESULTS: usize = 1000;

/// A list request: the filter, the 1-based index of the first result, and
/// how many at most.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub start_index: usize,
    pub count: usize,
}

/// One page of a list, with how many match in all.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub total: usize,
    pub start_index: usize,
    pub resources: Vec<Value>,
}

/// A resource as returned, and its version (for `ETag`).
#[derive(Debug, Clone)]
pub struct Resource {
    pub body: Value,
    pub version: String,
}

/// What a write does to a user or a group.
enum Edit {
    /// Replace it with this sanitized resource.
    Replace(Value),
    Delete,
}

fn store_failed(e: impl std::fmt::Display) -> ScimError {
    tracing::error!(error = %e, "a SCIM request failed in the store");
    ScimError { status: 500, scim_type: None, detail: "the server could not complete the request; see its log".into() }
}

fn app_error(e: AppError) -> ScimError {
    match e {
        AppError::Domain(d) => ScimError::invalid_value(d.to_string()),
        AppError::NotFound { what, id } => ScimError::not_found(what, &id),
        AppError::Conflict { what, id } => {
            ScimError { status: 409, scim_type: None, detail: format!("{what} `{id}` kept changing while this request was applied: retry") }
        }
        AppError::Stale { .. } => ScimError::precondition(e.to_string()),
        AppError::Store(StoreError::Duplicate { what, id }) => ScimError::uniqueness(format!("{what} `{id}` already exists")),
        other => store_failed(other),
    }
}

/// The page `q` asks for of `all` (already filtered).
fn page(all: Vec<Value>, q: &ListQuery) -> ListPage {
    let total = all.len();
    let start = q.start_index.max(1);
    let resources = all.into_iter().skip(start - 1).take(q.count.min(MAX_RESULTS)).collect();
    ListPage { total, start_index: start, resources }
}

fn is_deleted(row: &ScimUserRow) -> bool {
    row.record.as_ref().is_some_and(|(r, _)| r.deleted)
}

fn conflict(e: &StoreError) -> bool {
    matches!(e, StoreError::VersionConflict { .. } | StoreError::Duplicate { .. })
}

impl Writ {
    async fn scim_rows(&self, key: &ScimUserKey) -> Result<Vec<ScimUserRow>, ScimError> {
        self.store.scim_users(key).await.map_err(store_failed)
    }

    /// The SCIM groups among those `identities` are in, by Writ group id.
    async fn group_index<'a>(&self, identities: impl Iterator<Item = &'a Identity>) -> Result<BTreeMap<GroupId, ScimGroupRecord>, ScimError> {
        let ids: BTreeSet<GroupId> = identities.flat_map(|i| i.groups.iter().cloned()).collect();
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let groups = self.store.scim_groups(&ScimGroupKey::Groups(ids.into_iter().collect())).await.map_err(store_failed)?;
        Ok(groups.into_iter().map(|(g, _)| (g.group.clone(), g)).collect())
    }

    /// The user `id` unless absent or deleted.
    async fn live_user(&self, id: &str) -> Result<ScimUserRow, ScimError> {
        let parsed = IdentityId::parse(id).map_err(|_| ScimError::not_found("User", id))?;
        self.scim_rows(&ScimUserKey::Ids(vec![parsed])).await?.into_iter().find(|r| !is_deleted(r)).ok_or_else(|| ScimError::not_found("User", id))
    }

    async fn render_user(&self, row: &ScimUserRow, base: &str) -> Result<Resource, ScimError> {
        let groups = self.group_index(std::iter::once(&row.identity)).await?;
        Ok(Resource { body: map::user_resource(row, &groups, base), version: map::user_version(row) })
    }

    pub async fn scim_user(&self, id: &str, base: &str) -> Result<Resource, ScimError> {
        let row = self.live_user(id).await?;
        self.render_user(&row, base).await
    }

    /// Users matching `q`'s filter, by id. A filter that is one equality
    /// on `userName`, `id` or `externalId` (what providers ask before each
    /// create) is looked up by index; any other reads every person.
    /// Without a filter, only the page's users are read (an identity
    /// provider importing every user walks all the pages).
    pub async fn scim_users_list(&self, q: &ListQuery, base: &str) -> Result<ListPage, ScimError> {
        if q.filter.is_some() {
            return Ok(page(self.scim_users_matching(q.filter.as_ref(), base).await?, q));
        }
        let start = q.start_index.max(1);
        let count = q.count.min(MAX_RESULTS) as u32;
        let (total, wanted) = if count == 0 {
            (self.store.scim_user_page(0, 1).await.map_err(store_failed)?.0, Vec::new())
        } else {
            self.store.scim_user_page(start as u64 - 1, count).await.map_err(store_failed)?
        };
        let rows: Vec<ScimUserRow> =
            if wanted.is_empty() { Vec::new() } else { self.scim_rows(&ScimUserKey::Ids(wanted)).await?.into_iter().filter(|r| !is_deleted(r)).collect() };
        let groups = self.group_index(rows.iter().map(|r| &r.identity)).await?;
        Ok(ListPage { total: total as usize, start_index: start, resources: rows.iter().map(|r| map::user_resource(r, &groups, base)).collect() })
    }

    async fn scim_users_matching(&self, filter: Option<&Filter>, base: &str) -> Result<Vec<Value>, ScimError> {
        let key = match filter.and_then(Filter::as_equality) {
            Some((p, v)) if p.urn.is_none() && p.sub.is_none() && (p.attr.eq_ignore_ascii_case("userName") || p.attr.eq_ignore_ascii_case("id")) => {
                match IdentityId::parse(v) {
                    Ok(id) => ScimUserKey::Ids(vec![id]),
                    Err(_) => return Ok(Vec::new()),
                }
            }
            Some((p, v)) if p.urn.is_none() && p.sub.is_none() && p.attr.eq_ignore_ascii_case("externalId") => ScimUserKey::ExternalId(v.to_owned()),
            _ => ScimUserKey::All,
        };
        let rows: Vec<ScimUserRow> = self.scim_rows(&key).await?.into_iter().filter(|r| !is_deleted(r)).collect();
        let groups = self.group_index(rows.iter().map(|r| &r.identity)).await?;
        Ok(rows.iter().map(|r| map::user_resource(r, &groups, base)).filter(|res| filter.is_none_or(|f| f.matches(Kind::User, res))).collect())
    }

    /// `POST /.search` at the root: Users then Groups matching `q`'s filter.
    pub async fn scim_search_all(&self, q: &ListQuery, base: &str) -> Result<ListPage, ScimError> {
        let mut all = self.scim_users_matching(q.filter.as_ref(), base).await?;
        all.extend(self.scim_groups_matching(q.filter.as_ref(), base).await?);
        Ok(page(all, q))
    }

    pub async fn scim_create_user(&self, body: &Value, base: &str) -> Result<Resource, ScimError> {
        let clean = schema::sanitize(Kind::User, body)?;
        let id = map::user_id(&clean)?;
        for _ in 0..MAX_ATTEMPTS {
            let stored = self.identities_versioned_by(std::slice::from_ref(&id)).await.map_err(app_error)?;
            if let Some((existing, _)) = stored.get(&id) {
                let deleted = self.scim_rows(&ScimUserKey::Ids(vec![id.clone()])).await?.iter().any(is_deleted);
                return Err(ScimError::uniqueness(if deleted {
                    format!(
                        "user `{id}` was deleted; Writ keeps its identity (disabled) because the audit log refers to it: give the new person another userName"
                    )
                } else if existing.kind.is_human() {
                    format!("a user with userName `{id}` exists: read it with the filter userName eq \"{id}\" and update it")
                } else {
                    format!("`{id}` is a {} in Writ: a user needs another userName", existing.kind.as_str())
                }));
            }
            let identity = map::identity_from(&clean, &id, None)?;
            let now = self.clock.now();
            let record = ScimUserRecord {
                id: id.clone(),
                external_id: map::external_id(&clean),
                deleted: false,
                created_at: now,
                updated_at: now,
                attributes: map::user_attributes(&clean),
            };
            let mut change = Change::default();
            let written = self.stage_identities(ACTOR, Some(SOURCE), &stored, vec![identity], &mut change).await.map_err(app_error)?;
            change.events.push(user_event("create", &record, now));
            change.scim.users.push(Versioned::new(record.clone()));
            match self.commit(change).await {
                Ok(_) => {
                    let (identity, version) = written.into_iter().next().expect("one identity written");
                    return self.render_user(&ScimUserRow { identity, version, record: Some((record, 1)) }, base).await;
                }
                Err(e) if conflict(&e) => continue,
                Err(e) => return Err(store_failed(e)),
            }
        }
        Err(app_error(AppError::Conflict { what: "user", id: id.to_string() }))
    }

    /// PUT: replaces user `id` with `body`.
    pub async fn scim_replace_user(&self, id: &str, body: &Value, if_match: Option<&str>, base: &str) -> Result<Resource, ScimError> {
        let clean = schema::sanitize(Kind::User, body)?;
        let done = self.write_user(id, if_match, "replace", base, |_| Ok(Edit::Replace(clean.clone()))).await?;
        done.ok_or_else(|| ScimError::not_found("User", id))
    }

    /// PATCH: applies `body`'s operations to user `id`.
    pub async fn scim_patch_user(&self, id: &str, body: &Value, if_match: Option<&str>, base: &str) -> Result<Resource, ScimError> {
        let ops = patch::parse(body)?;
        let done = self
            .write_user(id, if_match, "patch", base, |row| {
                let mut res = map::user_resource(row, &BTreeMap::new(), base);
                patch::apply(Kind::User, &mut res, &ops)?;
                Ok(Edit::Replace(schema::sanitize(Kind::User, &res)?))
            })
            .await?;
        done.ok_or_else(|| ScimError::not_found("User", id))
    }

    /// DELETE: disables user `id` (withdrawing everything it has under way)
    /// and marks it deleted; its identity stays for the audit log.
    pub async fn scim_delete_user(&self, id: &str, if_match: Option<&str>) -> Result<(), ScimError> {
        self.write_user(id, if_match, "delete", "", |_| Ok(Edit::Delete)).await.map(|_| ())
    }

    async fn write_user(
        &self,
        id: &str,
        if_match: Option<&str>,
        operation: &str,
        base: &str,
        edit: impl Fn(&ScimUserRow) -> Result<Edit, ScimError>,
    ) -> Result<Option<Resource>, ScimError> {
        for _ in 0..MAX_ATTEMPTS {
            let row = self.live_user(id).await?;
            map::check_if_match(if_match, &map::user_version(&row))?;
            let now = self.clock.now();
            let current = &row.identity;
            let (identity, record) = match edit(&row)? {
                Edit::Replace(clean) => {
                    map::check_same_user_name(&clean, &current.id)?;
                    let identity = map::identity_from(&clean, &current.id, Some(current))?;
                    let created_at = row.record.as_ref().map_or(now, |(r, _)| r.created_at);
                    let record = ScimUserRecord {
                        id: current.id.clone(),
                        external_id: map::external_id(&clean),
                        deleted: false,
                        created_at,
                        updated_at: now,
                        attributes: map::user_attributes(&clean),
                    };
                    (identity, record)
                }
                Edit::Delete => {
                    let identity = Identity { status: IdentityStatus::Disabled, ..current.clone() };
                    let record = match &row.record {
                        Some((r, _)) => ScimUserRecord { deleted: true, updated_at: now, ..r.clone() },
                        None => {
                            ScimUserRecord { id: current.id.clone(), external_id: None, deleted: true, created_at: now, updated_at: now, attributes: json!({}) }
                        }
                    };
                    (identity, record)
                }
            };
            let stored = BTreeMap::from([(current.id.clone(), (current.clone(), row.version))]);
            let mut change = Change::default();
            let written = self.stage_identities(ACTOR, Some(SOURCE), &stored, vec![identity], &mut change).await.map_err(app_error)?;
            change.events.push(user_event(operation, &record, now));
            let record_version = row.record.as_ref().map_or(1, |(_, v)| v + 1);
            change.scim.users.push(Versioned { expected_version: row.record.as_ref().map(|(_, v)| *v), value: record.clone() });
            match self.commit(change).await {
                Ok(_) if record.deleted => return Ok(None),
                Ok(_) => {
                    let (identity, version) = written.into_iter().next().expect("one identity written");
                    return self.render_user(&ScimUserRow { identity, version, record: Some((record, record_version)) }, base).await.map(Some);
                }
                Err(e) if conflict(&e) => continue,
                Err(e) => return Err(store_failed(e)),
            }
        }
        Err(app_error(AppError::Conflict { what: "user", id: id.to_owned() }))
    }

    async fn live_group(&self, id: &str) -> Result<(ScimGroupRecord, u64), ScimError> {
        let found = self.store.scim_groups(&ScimGroupKey::Ids(vec![id.to_owned()])).await.map_err(store_failed)?;
        found.into_iter().next().ok_or_else(|| ScimError::not_found("Group", id))
    }

    async fn members(&self, groups: &[GroupId]) -> Result<BTreeMap<GroupId, Vec<IdentityId>>, ScimError> {
        let mut out: BTreeMap<GroupId, Vec<IdentityId>> = BTreeMap::new();
        if groups.is_empty() {
            return Ok(out);
        }
        for (g, i) in self.store.group_members(groups).await.map_err(store_failed)? {
            out.entry(g).or_default().push(i);
        }
        Ok(out)
    }

    pub async fn scim_group(&self, id: &str, base: &str) -> Result<Resource, ScimError> {
        let (g, v) = self.live_group(id).await?;
        let members = self.members(std::slice::from_ref(&g.group)).await?;
        Ok(Resource { body: map::group_resource(&g, v, members.get(&g.group).map_or(&[], Vec::as_slice), base), version: v.to_string() })
    }

    /// Groups matching `q`'s filter, by display name; one equality on
    /// `displayName`, `id` or `externalId` is looked up by index.
    pub async fn scim_groups_list(&self, q: &ListQuery, base: &str) -> Result<ListPage, ScimError> {
        Ok(page(self.scim_groups_matching(q.filter.as_ref(), base).await?, q))
    }

    async fn scim_groups_matching(&self, filter: Option<&Filter>, base: &str) -> Result<Vec<Value>, ScimError> {
        let key = match filter.and_then(Filter::as_equality) {
            Some((p, v)) if p.urn.is_none() && p.sub.is_none() && p.attr.eq_ignore_ascii_case("displayName") => ScimGroupKey::DisplayName(v.to_owned()),
            Some((p, v)) if p.urn.is_none() && p.sub.is_none() && p.attr.eq_ignore_ascii_case("id") => ScimGroupKey::Ids(vec![v.to_owned()]),
            Some((p, v)) if p.urn.is_none() && p.sub.is_none() && p.attr.eq_ignore_ascii_case("externalId") => ScimGroupKey::ExternalId(v.to_owned()),
            _ => ScimGroupKey::All,
        };
        let groups = self.store.scim_groups(&key).await.map_err(store_failed)?;
        let ids: Vec<GroupId> = groups.iter().map(|(g, _)| g.group.clone()).collect();
        let members = self.members(&ids).await?;
        Ok(groups
            .iter()
            .map(|(g, v)| map::group_resource(g, *v, members.get(&g.group).map_or(&[], Vec::as_slice), base))
            .filter(|res| filter.is_none_or(|f| f.matches(Kind::Group, res)))
            .collect())
    }

    pub async fn scim_create_group(&self, body: &Value, base: &str) -> Result<Resource, ScimError> {
        let clean = schema::sanitize(Kind::Group, body)?;
        self.write_group(None, None, "create", base, |_| Ok(Edit::Replace(clean.clone()))).await?.ok_or_else(|| ScimError::not_found("Group", "(new)"))
    }

    pub async fn scim_replace_group(&self, id: &str, body: &Value, if_match: Option<&str>, base: &str) -> Result<Resource, ScimError> {
        let clean = schema::sanitize(Kind::Group, body)?;
        self.write_group(Some(id), if_match, "replace", base, |_| Ok(Edit::Replace(clean.clone()))).await?.ok_or_else(|| ScimError::not_found("Group", id))
    }

    pub async fn scim_patch_group(&self, id: &str, body: &Value, if_match: Option<&str>, base: &str) -> Result<Resource, ScimError> {
        let ops = patch::parse(body)?;
        self.write_group(Some(id), if_match, "patch", base, |current| {
            let (g, v, members) = current.expect("a PATCH edits an existing group");
            let mut res = map::group_resource(g, v, members, base);
            patch::apply(Kind::Group, &mut res, &ops)?;
            Ok(Edit::Replace(schema::sanitize(Kind::Group, &res)?))
        })
        .await?
        .ok_or_else(|| ScimError::not_found("Group", id))
    }

    /// DELETE: the group's members leave the Writ group, and its record goes.
    pub async fn scim_delete_group(&self, id: &str, if_match: Option<&str>) -> Result<(), ScimError> {
        self.write_group(Some(id), if_match, "delete", "", |_| Ok(Edit::Delete)).await.map(|_| ())
    }

    /// Creates (`id` None) or changes group `id`: `edit` gets the group as
    /// stored with its members. Membership changes are identity writes in
    /// the same commit.
    async fn write_group(
        &self,
        id: Option<&str>,
        if_match: Option<&str>,
        operation: &str,
        base: &str,
        edit: impl Fn(Option<(&ScimGroupRecord, u64, &[IdentityId])>) -> Result<Edit, ScimError>,
    ) -> Result<Option<Resource>, ScimError> {
        for _ in 0..MAX_ATTEMPTS {
            let current = match id {
                Some(id) => Some(self.live_group(id).await?),
                None => None,
            };
            if let Some((_, v)) = &current {
                map::check_if_match(if_match, &v.to_string())?;
            }
            let current_members: Vec<IdentityId> = match &current {
                Some((g, _)) => self.members(std::slice::from_ref(&g.group)).await?.remove(&g.group).unwrap_or_default(),
                None => Vec::new(),
            };
            let now = self.clock.now();
            let edited = edit(current.as_ref().map(|(g, v)| (g, *v, current_members.as_slice())))?;
            let (record, wanted) = match &edited {
                Edit::Replace(clean) => {
                    let (record, wanted) = self.group_from(clean, current.as_ref().map(|(g, _)| g), now).await?;
                    (Some(record), wanted)
                }
                Edit::Delete => (None, BTreeSet::new()),
            };
            let group = record.as_ref().map(|r| r.group.clone()).or_else(|| current.as_ref().map(|(g, _)| g.group.clone())).expect("a group");
            // On creation the Writ group may already have people (given
            // otherwise): the provider's list replaces them too.
            let before: BTreeSet<IdentityId> = match &current {
                Some(_) => current_members.into_iter().collect(),
                None => self.members(std::slice::from_ref(&group)).await?.remove(&group).unwrap_or_default().into_iter().collect(),
            };
            let added: Vec<IdentityId> = wanted.difference(&before).cloned().collect();
            let removed: Vec<IdentityId> = before.difference(&wanted).cloned().collect();
            let mut concerned = added.clone();
            concerned.extend(removed.iter().cloned());
            let stored = self.identities_versioned_by(&concerned).await.map_err(app_error)?;
            if !added.is_empty() {
                let live: BTreeSet<IdentityId> =
                    self.scim_rows(&ScimUserKey::Ids(added.clone())).await?.into_iter().filter(|r| !is_deleted(r)).map(|r| r.identity.id).collect();
                if let Some(missing) = added.iter().find(|a| !live.contains(*a)) {
                    return Err(ScimError::invalid_value(format!("member `{missing}` is not a user of this service: create the user first")));
                }
            }
            let batch: Vec<Identity> = concerned
                .iter()
                .filter_map(|i| stored.get(i))
                .map(|(i, _)| {
                    let mut i = i.clone();
                    if wanted.contains(&i.id) {
                        i.groups.insert(group.clone());
                    } else {
                        i.groups.remove(&group);
                    }
                    i
                })
                .collect();
            let mut change = Change::default();
            self.stage_identities(ACTOR, Some(SOURCE), &stored, batch, &mut change).await.map_err(app_error)?;
            let scim_id = record.as_ref().map(|r| r.id.clone()).or_else(|| current.as_ref().map(|(g, _)| g.id.clone())).expect("a group id");
            change.events.push(general(
                events::SCIM_GROUP_WRITTEN,
                ACTOR,
                now,
                json!({ "source": SOURCE, "operation": operation, "id": scim_id, "group": group,
                        "display_name": record.as_ref().map(|r| r.display_name.clone()), "added": added, "removed": removed }),
            ));
            let expected = current.as_ref().map(|(_, v)| *v);
            match &record {
                Some(r) => change.scim.groups.push(Versioned { expected_version: expected, value: r.clone() }),
                None => change.scim.deleted_groups.push(Versioned { expected_version: expected, value: scim_id.clone() }),
            }
            match self.commit(change).await {
                Ok(_) => {
                    let Some(r) = record else { return Ok(None) };
                    let version = expected.map_or(1, |v| v + 1);
                    let members: Vec<IdentityId> = wanted.into_iter().collect();
                    return Ok(Some(Resource { body: map::group_resource(&r, version, &members, base), version: version.to_string() }));
                }
                Err(e) if conflict(&e) => continue,
                Err(e) => return Err(store_failed(e)),
            }
        }
        Err(app_error(AppError::Conflict { what: "group", id: id.unwrap_or("(new)").to_owned() }))
    }

    /// The record and members a sanitized Group makes, checking that its
    /// name is not another group's.
    async fn group_from(
        &self,
        clean: &Value,
        current: Option<&ScimGroupRecord>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(ScimGroupRecord, BTreeSet<IdentityId>), ScimError> {
        let name = clean
            .get("displayName")
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| ScimError::invalid_value("`displayName` is required: the group's name"))?
            .to_owned();
        let group = match current {
            Some(c) => c.group.clone(),
            None => map::group_id_for(&name)?,
        };
        let same_name = self.store.scim_groups(&ScimGroupKey::DisplayName(name.clone())).await.map_err(store_failed)?;
        if let Some((other, _)) = same_name.iter().find(|(g, _)| current.is_none_or(|c| c.id != g.id)) {
            return Err(ScimError::uniqueness(format!("group `{}` is already named `{}`", other.id, other.display_name)));
        }
        if current.is_none() {
            let same_id = self.store.scim_groups(&ScimGroupKey::Groups(vec![group.clone()])).await.map_err(store_failed)?;
            if let Some((other, _)) = same_id.first() {
                return Err(ScimError::uniqueness(format!(
                    "`{name}` gives the Writ group id `{group}`, which group `{}` (`{}`) has: choose a name that differs in letters or digits",
                    other.id, other.display_name
                )));
            }
        }
        let record = ScimGroupRecord {
            id: current.map_or_else(|| uuid::Uuid::new_v4().to_string(), |c| c.id.clone()),
            group,
            display_name: name,
            external_id: clean.get("externalId").and_then(Value::as_str).map(str::to_owned),
            created_at: current.map_or(now, |c| c.created_at),
            updated_at: now,
            attributes: map::group_attributes(clean),
        };
        Ok((record, map::member_ids(clean)?))
    }
}

/// The audit event of a write of a user's SCIM record.
fn user_event(operation: &str, r: &ScimUserRecord, now: chrono::DateTime<chrono::Utc>) -> writ_core::audit::NewEvent {
    general(
        events::SCIM_USER_WRITTEN,
        ACTOR,
        now,
        json!({ "source": SOURCE, "operation": operation, "id": r.id, "external_id": r.external_id, "deleted": r.deleted, "attributes": r.attributes }),
    )
}
